// The peer wire format: round trips of arbitrary messages and snapshot
// chunks, a canonical encoding, and a decoder that turns any damaged or
// hostile input into a PeerDecodeError and nothing else.

import t from 'tap';
import type { Test } from 'tap';
import fc from 'fast-check';
import type { Entry, Message, MessageType, SnapshotMeta } from '../../src/raft/types.js';
import {
  MAX_ID_BYTES, PeerDecodeError, decodeMessageBatch, decodeSnapshotChunk, encodeMessageBatch,
  encodeSnapshotChunk, encodedMessageBytes,
} from '../../src/node/peer-codec.js';
import type { DecodeLimits, SnapshotChunk } from '../../src/node/peer-codec.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { message } from './peer-harness.js';

const LIMITS: DecodeLimits = { maxBatchMessages: 1000, maxEntriesPerMessage: 1000 };
const RUNS = Number(process.env['PEER_FUZZ_RUNS'] ?? 4000);

const TYPES: MessageType[] = ['preVote', 'preVoteResp', 'vote', 'voteResp', 'app', 'appResp', 'heartbeat',
  'heartbeatResp', 'snap', 'snapResp', 'timeoutNow', 'readIndex', 'readIndexResp'];

const idArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const integerArb = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const entryArb: fc.Arbitrary<Entry> = fc.record({
  term: integerArb,
  index: integerArb,
  type: fc.constantFrom('normal' as const, 'conf' as const),
  data: fc.uint8Array({ maxLength: 80 }),
});
const metaArb: fc.Arbitrary<SnapshotMeta> = fc.record({
  index: integerArb,
  term: integerArb,
  conf: fc.record({ voters: fc.array(idArb, { maxLength: 5 }), learners: fc.array(idArb, { maxLength: 3 }) }),
});
const messageArb: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom(...TYPES),
  from: idArb,
  to: idArb,
  term: integerArb,
  index: integerArb,
  logTerm: integerArb,
  entries: fc.array(entryArb, { maxLength: 6 }),
  commit: integerArb,
  reject: fc.boolean(),
  rejectHint: integerArb,
  rejectHintTerm: integerArb,
  snapshot: metaArb,
  readRound: integerArb,
  readIds: fc.array(fc.string({ unit: 'grapheme', maxLength: 20 }), { maxLength: 4 }),
  force: fc.boolean(),
}, { requiredKeys: ['type', 'from', 'to', 'term', 'index', 'logTerm', 'entries', 'commit', 'reject', 'rejectHint', 'rejectHintTerm', 'readRound', 'readIds', 'force'] });
const batchArb = fc.array(messageArb, { maxLength: 8 });

/** A message as one string with a fixed field order and entry data in hex, for exact comparison. */
function plain(messages: readonly Message[]): string {
  return JSON.stringify(messages.map((m) => [
    m.type, m.from, m.to, m.term, m.index, m.logTerm, m.commit, m.reject, m.rejectHint, m.rejectHintTerm, m.readRound,
    m.readIds, m.force, m.snapshot === undefined ? null : [m.snapshot.index, m.snapshot.term, m.snapshot.conf.voters, m.snapshot.conf.learners],
    m.entries.map((e) => [e.term, e.index, e.type, Buffer.from(e.data).toString('hex')]),
  ]));
}

/** Rewrites the trailing checksum so that a mutation reaches the parser instead of failing the CRC. */
function reseal(frame: Buffer): Buffer {
  if (frame.length >= 4) frame.writeUInt32LE(crc32c(frame, 0, 0, frame.length - 4), frame.length - 4);
  return frame;
}

/** Runs `decode`; anything thrown other than a PeerDecodeError fails the property. */
function decodesOrRefuses<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    if (error instanceof PeerDecodeError) return undefined;
    throw error;
  }
}

const mutationArb = fc.array(fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
), { minLength: 1, maxLength: 4 });

function mutate(frame: Buffer, mutations: readonly { kind: 'flip' | 'truncate' | 'insert'; at: number; value?: number; bytes?: Uint8Array }[]): Buffer {
  let bytes = Buffer.from(frame);
  for (const mutation of mutations) {
    const at = mutation.at % Math.max(1, bytes.length);
    if (mutation.kind === 'flip') bytes[at] = ((bytes[at] ?? 0) ^ (mutation.value ?? 1)) & 0xff;
    else if (mutation.kind === 'truncate') bytes = bytes.subarray(0, at);
    else bytes = Buffer.concat([bytes.subarray(0, at), mutation.bytes ?? new Uint8Array(0), bytes.subarray(at)]);
  }
  return reseal(Buffer.from(bytes));
}

t.test('message batches round-trip, and the encoding is canonical', async (t) => {
  fc.assert(fc.property(batchArb, (messages) => {
    const frame = encodeMessageBatch(messages);
    const decoded = decodeMessageBatch(frame, LIMITS);
    let payloadBytes = 0;
    for (const m of messages) payloadBytes += encodedMessageBytes(m);
    return plain(decoded) === plain(messages) && frame.length === payloadBytes + 16 && encodeMessageBatch(decoded).equals(frame);
  }), { numRuns: RUNS });
  t.pass(`${RUNS} batches`);
});

t.test('random bytes are refused with a PeerDecodeError and nothing else', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, withHeader) => {
    // Half of the inputs carry a valid header and checksum, so the payload parser sees garbage.
    const frame = withHeader
      ? reseal(Buffer.concat([Buffer.from('RLPB\x01\x01\x00\x00', 'latin1'), bytes, Buffer.alloc(4)]))
      : Buffer.from(bytes);
    decodesOrRefuses(() => decodeMessageBatch(frame, LIMITS));
    decodesOrRefuses(() => decodeSnapshotChunk(frame, LIMITS));
  }), { numRuns: RUNS * 2 });
  t.pass('no other error escaped');
});

t.test('damaged valid frames decode canonically or are refused', async (t) => {
  fc.assert(fc.property(batchArb, mutationArb, (messages, mutations) => {
    const frame = mutate(encodeMessageBatch(messages), mutations);
    const decoded = decodesOrRefuses(() => decodeMessageBatch(frame, LIMITS));
    // Whatever decodes is a well-formed batch whose encoding is exactly the bytes received.
    return decoded === undefined || encodeMessageBatch(decoded).equals(frame);
  }), { numRuns: RUNS });
  t.pass('no other error escaped');
});

const chunkArb: fc.Arbitrary<SnapshotChunk> = fc.record({
  streamId: fc.stringMatching(/^[0-9a-f]{32}$/),
  first: fc.boolean(),
  last: fc.boolean(),
  abort: fc.boolean(),
  offsetBytes: fc.nat(1 << 30),
  data: fc.uint8Array({ maxLength: 200 }),
  extraBytes: fc.nat(1 << 20),
  dataCrc32c: fc.nat({ max: 0xffff_ffff }),
  message: messageArb,
}).map(({ extraBytes, message: m, ...chunk }) => ({
  ...chunk,
  totalBytes: chunk.offsetBytes + chunk.data.byteLength + extraBytes,
  message: chunk.first ? { ...m, type: 'snap' as const } : undefined,
}));

t.test('snapshot chunks round-trip; damaged ones decode canonically or are refused', async (t) => {
  fc.assert(fc.property(chunkArb, mutationArb, (chunk, mutations) => {
    const frame = encodeSnapshotChunk(chunk);
    const decoded = decodeSnapshotChunk(frame, LIMITS);
    const comparable = (c: SnapshotChunk) => JSON.stringify([c.streamId, c.first, c.last, c.abort, c.offsetBytes, c.totalBytes, c.dataCrc32c,
      c.message === undefined ? null : plain([c.message]), Buffer.from(c.data).toString('hex')]);
    const damaged = mutate(frame, mutations);
    const again = decodesOrRefuses(() => decodeSnapshotChunk(damaged, LIMITS));
    return comparable(decoded) === comparable(chunk) && (again === undefined || encodeSnapshotChunk(again).equals(damaged));
  }), { numRuns: RUNS });
  t.pass(`${RUNS} chunks`);
});

function refusal(t: Test, name: string, frame: Buffer, pattern: RegExp, limits: DecodeLimits = LIMITS): void {
  try {
    decodeMessageBatch(frame, limits);
    t.fail(`${name}: decoded`);
  } catch (error) {
    t.ok(error instanceof PeerDecodeError && pattern.test(error.message), `${name}: ${String(error)}`);
  }
}

t.test('each kind of flaw is named', async (t) => {
  const one = message({ type: 'app', from: 'n1', to: 'n2', entries: [{ term: 1, index: 1, type: 'normal', data: Buffer.from('hi') }] });
  const frame = encodeMessageBatch([one]);
  const at = (edit: (copy: Buffer) => void): Buffer => {
    const copy = Buffer.from(frame);
    edit(copy);
    return reseal(copy);
  };
  refusal(t, 'short', Buffer.alloc(5), /shorter than its header/);
  refusal(t, 'magic', at((b) => b.write('XXXX', 0, 'latin1')), /bad magic/);
  refusal(t, 'version', at((b) => (b[4] = 2)), /unsupported wire version 2/);
  refusal(t, 'kind', at((b) => (b[5] = 2)), /frame kind 2/);
  refusal(t, 'reserved', at((b) => (b[6] = 1)), /reserved header bytes/);
  const unsealed = Buffer.from(frame);
  unsealed[20] = (unsealed[20] ?? 0) ^ 1;
  refusal(t, 'checksum', unsealed, /checksum mismatch/);
  refusal(t, 'type code', at((b) => (b[12] = 13)), /unknown message type code 13/);
  refusal(t, 'flags', at((b) => (b[13] = 0x80)), /unknown message flags/);
  refusal(t, 'empty id', at((b) => b.writeUInt16LE(0, 14)), /./);
  // from is "n1" at 16..17: make it invalid UTF-8.
  refusal(t, 'utf-8', at((b) => (b[16] = 0xff)), /from is not valid UTF-8/);
  // term is the first u64, after from (2+2 bytes) and to (2+2 bytes) at 22.
  refusal(t, 'unsafe integer', at((b) => b.writeUInt32LE(0x20_0000, 26)), /term is not a safe integer/);
  refusal(t, 'trailing bytes', reseal(Buffer.concat([frame.subarray(0, frame.length - 4), Buffer.from([0, 0, 0, 0, 0, 0])])), /bytes follow the payload/);
  refusal(t, 'message limit', encodeMessageBatch([one, one]), /message count 2 exceeds the limit 1/, { maxBatchMessages: 1, maxEntriesPerMessage: 10 });
  const many = message({ type: 'app', from: 'n1', to: 'n2', entries: Array.from({ length: 3 }, (_, i) => ({ term: 1, index: i, type: 'normal' as const, data: new Uint8Array(0) })) });
  refusal(t, 'entry limit', encodeMessageBatch([many]), /entry count 3 exceeds the limit 2/, { maxBatchMessages: 10, maxEntriesPerMessage: 2 });
  refusal(t, 'impossible count', at((b) => b.writeUInt32LE(500, 8)), /cannot fit/);
  t.throws(() => encodeMessageBatch([message({ type: 'app', from: 'x'.repeat(MAX_ID_BYTES + 1), to: 'n2' })]), /exceeds 256/, 'the encoder refuses ids the decoder would');
  t.throws(() => encodeMessageBatch([message({ type: 'app', from: 'n1', to: 'n2', term: -1 })]), /non-negative safe integer/);
  const chunk = encodeSnapshotChunk({ streamId: 's', first: false, last: true, abort: false, offsetBytes: 10, totalBytes: 12, dataCrc32c: 0, message: undefined, data: new Uint8Array(5) });
  t.throws(() => decodeSnapshotChunk(chunk, LIMITS), /past the 12 bytes/, 'a chunk past the end of the snapshot');
});
