// Mutual TLS between peers: a cluster certificate made with openssl serves as
// CA, server and client certificate; the receiver's https server demands a
// client certificate. A transport that presents it gets through; one that
// does not is refused in the TLS handshake and reports the peer unreachable.

import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import type { Message, NodeId } from '../../src/raft/types.js';
import { PeerTransport } from '../../src/node/peer-transport.js';
import type { PeerTlsOptions } from '../../src/node/peer-transport.js';
import { registerPeerRoutes } from '../../src/node/peer-routes.js';
import { SECRET, message } from './peer-harness.js';
import { temporaryDirectory, waitFor } from '../support/helpers.js';

function makeCertificate(dir: string): { key: Buffer; cert: Buffer } | undefined {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=raft-ledger-test',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

const dir = temporaryDirectory(t, 'peer-tls');
const certificate = makeCertificate(dir);

t.test('mutual TLS', { skip: certificate === undefined ? 'openssl could not make a certificate' : false }, async (t) => {
  const pem = certificate as { key: Buffer; cert: Buffer };
  const received: Message[] = [];
  const app = Fastify({ logger: false, https: { key: pem.key, cert: pem.cert, ca: pem.cert, requestCert: true, rejectUnauthorized: true } });
  registerPeerRoutes(app, { nodeId: 'n2', secret: SECRET, handlers: { onMessages: (m) => received.push(...m), onSnapshotStart: () => undefined } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const transport = (tls: PeerTlsOptions, unreachable: NodeId[]) => {
    const sender = new PeerTransport({
      nodeId: 'n1', secret: SECRET, tls, limits: { backoffBaseMs: 1000 },
      handlers: { onMessages: () => undefined, onSnapshotStart: () => undefined, onUnreachable: (peer) => unreachable.push(peer), onSnapshotSent: () => undefined },
    });
    sender.setPeers(new Map([['n2', url]]));
    t.teardown(() => sender.close());
    return sender;
  };

  const withCertificate = transport({ ca: pem.cert, cert: pem.cert, key: pem.key }, []);
  withCertificate.send([message({ type: 'heartbeat', from: 'n1', to: 'n2', commit: 1 })]);
  await waitFor('delivery over mutual TLS', () => received.length === 1);
  t.equal(received[0]?.commit, 1, 'a peer with the cluster certificate gets through');

  const unreachable: NodeId[] = [];
  const withoutCertificate = transport({ ca: pem.cert }, unreachable);
  withoutCertificate.send([message({ type: 'heartbeat', from: 'n1', to: 'n2', commit: 2 })]);
  await waitFor('handshake refused', () => unreachable.length === 1);
  t.equal(received.length, 1, 'a peer without a client certificate does not');
});
