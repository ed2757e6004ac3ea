// Peer messages that are well-formed frames but insane messages: each is
// refused with 400 peer_bad_body naming the field, and none reaches the core
// (onMessages) or the snapshot sink. Issue 13.2: a 100-byte heartbeat with
// term 2^53-1 once crashed a leader and, persisted, every restart after it.

import t from 'tap';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { encodeMessageBatch, encodeSnapshotChunk } from '../../src/node/peer-codec.js';
import { registerPeerRoutes } from '../../src/node/peer-routes.js';
import { MAX_WIRE_TERM_OR_INDEX, messageFlaw } from '../../src/node/peer-validate.js';
import { encodeConfChange } from '../../src/raft/membership.js';
import type { Entry, Message } from '../../src/raft/types.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { SECRET, entry, message, postRaw, startNode } from './peer-harness.js';

const BOUND = MAX_WIRE_TERM_OR_INDEX;
const heartbeat = (fields: Partial<Message> = {}): Message => message({ type: 'heartbeat', from: 'n1', to: 'n2', ...fields });
const append = (entries: Entry[], fields: Partial<Message> = {}): Message =>
  message({ type: 'app', from: 'n1', to: 'n2', term: 3, index: 4, logTerm: 2, entries, ...fields });
const conf = (index: number, data: Uint8Array): Entry => ({ term: 3, index, type: 'conf', data });
const snapMeta = { index: 10, term: 2, conf: { voters: ['n1', 'n2', 'n3'], learners: [] } };

const refusedMessages: [string, Message, RegExp][] = [
  ['the reported heartbeat: term 2^53-1', heartbeat({ term: Number.MAX_SAFE_INTEGER }), /term 9007199254740991 exceeds the bound 2\^48/],
  ['term one above the bound', heartbeat({ term: BOUND + 1 }), /term .* exceeds/],
  ['commit beyond the bound', heartbeat({ commit: BOUND + 1 }), /commit .* exceeds/],
  ['index beyond the bound', message({ type: 'appResp', from: 'n1', to: 'n2', index: BOUND + 7 }), /index .* exceeds/],
  ['logTerm beyond the bound', message({ type: 'vote', from: 'n1', to: 'n2', logTerm: 2 ** 52 }), /logTerm .* exceeds/],
  ['rejectHint beyond the bound', message({ type: 'appResp', from: 'n1', to: 'n2', reject: true, rejectHint: 2 ** 50 }), /rejectHint/],
  ['rejectHintTerm beyond the bound', message({ type: 'appResp', from: 'n1', to: 'n2', reject: true, rejectHintTerm: 2 ** 50 }), /rejectHintTerm/],
  ['readRound beyond the bound', message({ type: 'heartbeatResp', from: 'n1', to: 'n2', readRound: 2 ** 53 - 2 }), /readRound/],
  ['an entry term beyond the bound', append([entry(5, new Uint8Array(1), BOUND + 1)], { term: BOUND + 1 }), /term .* exceeds/],
  ['entries on a heartbeat', heartbeat({ entries: [entry(1, new Uint8Array(1))] }), /heartbeat message carries no entries/],
  ['entries with a gap', append([entry(5, new Uint8Array(1), 3), entry(7, new Uint8Array(1), 3)]), /entries\[1\]\.index is 7, expected 6/],
  ['entries not after index', append([entry(1, new Uint8Array(1), 3)]), /entries\[0\]\.index is 1, expected 5/],
  ['an entry term above the message term', append([entry(5, new Uint8Array(1), 4)]), /entries\[0\]\.term 4/],
  ['an entry term below logTerm', append([entry(5, new Uint8Array(1), 1)]), /entries\[0\]\.term 1/],
  ['entry terms falling', append([entry(5, new Uint8Array(1), 3), entry(6, new Uint8Array(1), 2)]), /entries\[1\]\.term 2/],
  ['a conf entry that is not JSON', append([conf(5, Buffer.from('not json'))]), /entries\[0\] is not a configuration change/],
  ['a conf entry of the wrong shape', append([conf(5, Buffer.from('{"type":"explode","nodeId":"n4","context":""}'))]), /not a configuration change/],
  ['a conf entry for a bad node id', append([conf(5, encodeConfChange({ type: 'addVoter', nodeId: 'n 4/..', context: '' }))]), /not a node id/],
  ['a huge conf entry', append([conf(5, encodeConfChange({ type: 'addVoter', nodeId: 'n4', context: 'x'.repeat(5000) }))]), /more than 4096 bytes/],
  ['a message to itself', message({ type: 'heartbeat', from: 'n2', to: 'n2' }), /to itself/],
  ['snapshot metadata on a heartbeat', heartbeat({ snapshot: snapMeta }), /snapshot metadata travels with snap messages/],
];

t.test('messageFlaw: sane messages pass, the bound itself included', async (t) => {
  t.equal(messageFlaw(heartbeat({ term: BOUND, commit: BOUND })), undefined, 'term and commit at 2^48');
  t.equal(messageFlaw(append([entry(5, new Uint8Array(3), 2), entry(6, new Uint8Array(0), 3),
    conf(7, encodeConfChange({ type: 'addLearner', nodeId: 'n4', context: 'http://127.0.0.1:7004' }))])), undefined,
  'contiguous entries, terms rising from logTerm to term, a decodable conf entry');
  t.match(messageFlaw(message({ type: 'heartbeat', from: 'n 1', to: 'n2' })), /from "n 1" is not a node id/, 'a sender id with a space');
  t.match(messageFlaw(message({ type: 'heartbeat', from: 'n1', to: 'x'.repeat(65) })), /to .* is not a node id/, 'a recipient id of 65 chars');
  t.equal(messageFlaw(message({ type: 'readIndex', from: 'n1', to: 'n2', readIds: ['r1', 'r2'] })), undefined, 'read ids');
  t.equal(messageFlaw(message({ type: 'snap', from: 'n1', to: 'n2', term: 3, snapshot: snapMeta })), undefined, 'snap with metadata');
  t.match(messageFlaw(message({ type: 'snap', from: 'n1', to: 'n2', term: 3 })), /travels with snap messages/, 'snap without metadata');
  for (const [name, meta, reason] of [
    ['no voter', { ...snapMeta, conf: { voters: [], learners: ['n3'] } }, /no voter/],
    ['a member twice', { ...snapMeta, conf: { voters: ['n1', 'n2'], learners: ['n2'] } }, /twice/],
    ['a bad member id', { ...snapMeta, conf: { voters: ['n1', ''], learners: [] } }, /not a node id/],
    ['index 0', { ...snapMeta, index: 0 }, /at least 1/],
    ['index beyond the bound', { ...snapMeta, index: BOUND + 1 }, /snapshot index .* exceeds/],
    ['term above the message', { ...snapMeta, term: 9 }, /snapshot term 9 is above the message term 3/],
  ] as const) {
    t.match(messageFlaw(message({ type: 'snap', from: 'n1', to: 'n2', term: 3, snapshot: meta })), reason, `snapshot: ${name}`);
  }
});

for (const secret of [SECRET, undefined]) {
  t.test(`refused on the wire ${secret === undefined ? 'without' : 'with'} a cluster secret, never stepped`, async (t) => {
    const n2 = await startNode('n2', { secret });
    t.teardown(() => n2.close());
    for (const [name, bad, reason] of refusedMessages) {
      // The bad message rides behind a good one: the whole batch is refused, the good one with it.
      const body = encodeMessageBatch([heartbeat({ commit: 1, from: bad.from }), bad]);
      const answer = await postRaw(n2.url, 'messages', body, { secret, from: bad.from });
      t.equal(answer.status, 400, `${name}: 400`);
      const error = (JSON.parse(answer.body) as { error: { code: string; message: string } }).error;
      t.equal(error.code, 'peer_bad_body', `${name}: peer_bad_body`);
      t.match(error.message, reason, `${name}: the message names the field`);
    }
    t.equal(n2.received.length, 0, 'nothing refused reached onMessages');
    const fine = await postRaw(n2.url, 'messages', encodeMessageBatch([heartbeat({ term: BOUND, commit: 2 })]), { secret });
    t.equal(fine.status, 204, 'a heartbeat at the bound is taken');
    t.equal(n2.received.length, 1);
  });
}

t.test('a snapshot whose snap message is insane opens no sink', async (t) => {
  const n2 = await startNode('n2', { secret: SECRET });
  t.teardown(() => n2.close());
  const data = Buffer.from('image');
  for (const [name, snap] of [
    ['term 2^53-1', message({ type: 'snap', from: 'n1', to: 'n2', term: Number.MAX_SAFE_INTEGER, snapshot: snapMeta })],
    ['no voters', message({ type: 'snap', from: 'n1', to: 'n2', term: 3, snapshot: { ...snapMeta, conf: { voters: [], learners: [] } } })],
  ] as const) {
    const frame = encodeSnapshotChunk({
      streamId: 'ab12', first: true, last: true, abort: false, offsetBytes: 0, totalBytes: data.length,
      dataCrc32c: crc32c(data), message: snap, data,
    });
    const answer = await postRaw(n2.url, 'snapshot', frame, { secret: SECRET });
    t.equal(answer.status, 400, `${name}: 400`);
  }
  for (const [name, streamId, totalBytes] of [['a stream id with a slash', '../x', data.length], ['totalBytes beyond 2^48', 'ab12', 2 ** 50]] as const) {
    const frame = encodeSnapshotChunk({
      streamId, first: true, last: true, abort: false, offsetBytes: 0, totalBytes, dataCrc32c: crc32c(data),
      message: message({ type: 'snap', from: 'n1', to: 'n2', term: 3, snapshot: snapMeta }), data,
    });
    const answer = await postRaw(n2.url, 'snapshot', frame, { secret: SECRET });
    t.equal(answer.status, 400, `${name}: 400`);
  }
  t.equal(n2.sinks.length, 0, 'no sink was opened');
  t.equal(n2.received.length, 0, 'no snap message was delivered');
});

t.test('a refused peer request is logged at warn with its sender and reason', async (t) => {
  const lines: string[] = [];
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void lines.push(line) } } });
  const received: Message[] = [];
  registerPeerRoutes(app, { nodeId: 'n2', handlers: { onMessages: (messages) => received.push(...messages), onSnapshotStart: () => undefined } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const answer = await postRaw(url, 'messages', encodeMessageBatch([heartbeat({ term: Number.MAX_SAFE_INTEGER })]));
  t.equal(answer.status, 400);
  const warning = lines.map((line) => JSON.parse(line) as { level: number; msg: string; from?: string; body?: string }).find((line) => line.msg === 'refused a peer request');
  t.equal(warning?.level, 40, 'at warn');
  t.equal(warning?.from, 'n1', 'naming the sender');
  t.match(warning?.body, /term 9007199254740991 exceeds the bound/, 'and the reason');
  t.equal(received.length, 0);
});
