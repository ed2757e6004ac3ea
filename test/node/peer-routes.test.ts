// The receiving routes as an outsider meets them: without the cluster secret,
// with a wrong one, with a tampered body, stale or replayed requests, a forged
// `from`, a wrong recipient, malformed or oversized bodies and the wrong
// content type, none of which ever reaches onMessages. Also that the routes
// share an app with a JSON API without changing it.

import t from 'tap';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { encodeMessageBatch } from '../../src/node/peer-codec.js';
import { newEpoch, peerRequestHeaders, secretBytes } from '../../src/node/peer-auth.js';
import { registerPeerRoutes } from '../../src/node/peer-routes.js';
import type { Message } from '../../src/raft/types.js';
import { SECRET, message, postRaw, startNode } from './peer-harness.js';
import type { TestNode } from './peer-harness.js';

const heartbeat = (fields: Partial<Message> = {}): Message => message({ type: 'heartbeat', from: 'n1', to: 'n2', ...fields });
const batch = (fields: Partial<Message> = {}): Buffer => encodeMessageBatch([heartbeat(fields)]);

function errorCode(body: string): unknown {
  return (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
}

t.test('with a cluster secret', async (t) => {
  const n2 = await startNode('n2', { secret: SECRET, limits: { maxRequestBytes: 64 * 1024, maxBatchBytes: 32 * 1024 } });
  t.teardown(() => n2.close());
  const refused = async (name: string, status: number, code: string, response: Promise<{ status: number; body: string }>) => {
    const { status: got, body } = await response;
    t.equal(got, status, `${name}: ${status}`);
    t.equal(errorCode(body), code, `${name}: ${code}`);
  };

  await refused('no signature', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', batch()));
  await refused('wrong secret', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', batch(), { secret: 'not the cluster secret at all' }));
  await refused('tampered signature', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', batch(), { secret: SECRET, headers: { 'x-raft-signature': 'ab'.repeat(32) } }));
  await refused('signed for another body', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', batch(), {
    secret: SECRET, headers: { 'x-raft-body-sha256': 'cd'.repeat(32) },
  }));
  await refused('signed as another sender', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', batch(), { secret: SECRET, headers: { 'x-raft-from': 'n3' } }));
  await refused('ten minutes old', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', batch(), { secret: SECRET, nowMs: Date.now() - 600_000 }));
  await refused('unauthenticated and too large', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', Buffer.alloc(1024 * 1024)));
  t.equal(n2.received.length, 0, 'nothing unauthenticated reached onMessages');

  await refused('forged from', 403, 'peer_sender_mismatch', postRaw(n2.url, 'messages', batch({ from: 'n3' }), { secret: SECRET, from: 'n1' }));
  await refused('wrong recipient', 421, 'peer_wrong_recipient', postRaw(n2.url, 'messages', batch(), { secret: SECRET, to: 'n9' }));
  await refused('message for another node', 421, 'peer_wrong_recipient', postRaw(n2.url, 'messages', batch({ to: 'n3' }), { secret: SECRET }));
  await refused('garbage body', 400, 'peer_bad_body', postRaw(n2.url, 'messages', Buffer.from('{"type":"app"}'), { secret: SECRET }));
  const truncated = batch().subarray(0, 30);
  await refused('truncated body', 400, 'peer_bad_body', postRaw(n2.url, 'messages', truncated, { secret: SECRET }));
  await refused('snap without its data', 400, 'peer_bad_body', postRaw(n2.url, 'messages',
    batch({ type: 'snap', snapshot: { index: 1, term: 1, conf: { voters: ['n1'], learners: [] } } }), { secret: SECRET }));
  await refused('json content type', 415, 'peer_unsupported_media_type', postRaw(n2.url, 'messages', Buffer.from('{}'), { secret: SECRET, contentType: 'application/json' }));
  await refused('too large', 413, 'peer_body_too_large', postRaw(n2.url, 'messages', Buffer.alloc(128 * 1024), { secret: SECRET }));
  await refused('bad identity headers', 401, 'peer_unauthenticated', postRaw(n2.url, 'messages', batch(), { secret: SECRET, headers: { 'x-raft-epoch': 'zz' } }));
  t.equal(n2.received.length, 0, 'nothing refused reached onMessages');

  const ok = await postRaw(n2.url, 'messages', batch({ commit: 1 }), { secret: SECRET });
  t.equal(ok.status, 204, 'a correctly signed batch is taken');
  t.equal(n2.received.length, 1);
});

t.test('replayed and stale requests are answered but not delivered again', async (t) => {
  const n2 = await startNode('n2', { secret: SECRET });
  t.teardown(() => n2.close());
  const epoch = newEpoch();
  const body = batch({ commit: 5 });
  const signed = peerRequestHeaders(secretBytes(SECRET), { operation: 'messages', from: 'n1', to: 'n2', epoch, seq: 5, body, nowMs: Date.now() });
  const first = await postRaw(n2.url, 'messages', body, { secret: SECRET, headers: signed });
  const replay = await postRaw(n2.url, 'messages', body, { secret: SECRET, headers: signed });
  t.equal(first.status, 204);
  t.equal(replay.status, 204, 'the replay is answered as done');
  t.equal(n2.received.length, 1, 'and delivered once');

  const older = await postRaw(n2.url, 'messages', batch({ commit: 3 }), { secret: SECRET, epoch, seq: 3 });
  t.equal(older.status, 204);
  t.equal(n2.received.length, 1, 'a batch older than a delivered one is dropped, so delivery never goes backwards');
  await postRaw(n2.url, 'messages', batch({ commit: 6 }), { secret: SECRET, epoch, seq: 6 });
  await postRaw(n2.url, 'messages', batch({ commit: 1 }), { secret: SECRET, epoch: newEpoch(), seq: 1 });
  t.same(n2.received.map((m) => m.commit), [5, 6, 1], 'a new sender incarnation starts its own sequence');
});

t.test('without a secret: unsigned requests pass, forged senders still do not', async (t) => {
  const n2: TestNode = await startNode('n2');
  t.teardown(() => n2.close());
  t.equal((await postRaw(n2.url, 'messages', batch())).status, 204);
  t.equal((await postRaw(n2.url, 'messages', batch({ from: 'n7' }), { seq: 2 })).status, 403);
  const missing = await postRaw(n2.url, 'messages', batch(), { headers: { 'x-raft-from': undefined } });
  t.equal(missing.status, 400);
  t.equal(errorCode(missing.body), 'peer_bad_headers');
  t.equal(n2.received.length, 1);
});

t.test('the peer routes share an app with a JSON API without changing it', async (t) => {
  const app = Fastify({ logger: false });
  const delivered: Message[] = [];
  app.post('/v1/echo', async (req) => ({ got: req.body }));
  registerPeerRoutes(app, {
    nodeId: 'n2', secret: SECRET,
    handlers: { onMessages: (messages) => delivered.push(...messages), onSnapshotStart: () => undefined },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const echo = await request(`${url}/v1/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
  t.same(await echo.body.json(), { got: { a: 1 } }, 'JSON still parsed outside /raft');
  const binary = await request(`${url}/v1/echo`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: 'x' });
  t.equal(binary.statusCode, 415, 'the octet-stream parser does not leak into the API');
  await binary.body.dump();
  t.equal((await postRaw(url, 'messages', batch(), { secret: SECRET })).status, 204);
  t.equal(delivered.length, 1);
});
