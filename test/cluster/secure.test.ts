// Security by default, with real processes: a cluster with client tokens, a
// cluster secret and TLS serves HTTPS only, refuses requests without the
// right scope, and its peers talk to each other over TLS with the secret;
// requests forged without the secret never reach Raft.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { call, ProcessCluster, setDefaultHeaders } from './harness.js';

const ADMIN = 'admin-token-0123456789abcdef';
const READER = 'read-token-0123456789abcdef';
const SECRET = 'cluster-secret-0123456789abcdef';

t.test('a cluster with tokens, a cluster secret and TLS', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(async () => {
    setDefaultHeaders({});
    await cluster.close();
  });
  const cert = path.join(cluster.root, 'cert.pem');
  const key = path.join(cluster.root, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=raft-ledger-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(cert) } }));
  setDefaultHeaders({ authorization: `Bearer ${ADMIN}` });
  cluster.scheme = 'https';
  await cluster.start(['n1', 'n2', 'n3'], ['--tls-cert', cert, '--tls-key', key, '--tls-ca', cert, '--cluster-secret', SECRET, '--tokens', `${ADMIN}=admin,${READER}=read`]);
  const leader = await cluster.waitForLeader();
  t.match(leader.url, /^https:/, 'the nodes elected a leader talking over TLS with the cluster secret');

  const follower = [...cluster.nodes.values()].find((n) => n.id !== leader.id);
  if (!follower) throw new Error('no follower');
  const created = await call(follower.url, 'POST', '/v1/accounts', { accounts: [{ id: 's1', ledger: 'USD' }] });
  t.equal(created.status, 200, `a write with an admin token, forwarded over TLS: ${JSON.stringify(created.body)}`);

  setDefaultHeaders({});
  const anonymous = await call(leader.url, 'GET', '/v1/accounts/s1');
  t.equal(anonymous.status, 401, 'no token: 401');
  t.equal(anonymous.body.error?.code, 'unauthorized');
  setDefaultHeaders({ authorization: `Bearer ${READER}` });
  t.equal((await call(leader.url, 'GET', '/v1/accounts/s1')).status, 200, 'a read token reads');
  const refused = await call(leader.url, 'POST', '/v1/accounts', { accounts: [{ id: 's2', ledger: 'USD' }] });
  t.equal(refused.status, 403, 'a read token cannot write');
  setDefaultHeaders({ authorization: `Bearer ${ADMIN}` });
  t.equal((await call(leader.url, 'GET', '/v1/accounts/s2')).status, 404, 'nothing was applied');

  const plain = await request(`http://127.0.0.1:${leader.port}/healthz`).then(
    (r) => r.statusCode,
    () => 'refused',
  );
  t.not(plain, 200, `plain HTTP is not served (${plain})`);

  const forged = await request(`${leader.url}/raft/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: Buffer.from('RLPB not really'),
  });
  await forged.body.dump();
  t.equal(forged.statusCode, 401, 'a peer request without the cluster secret is refused');
});
