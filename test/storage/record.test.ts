// CRC32C against known vectors and a bitwise reference; the record decoder
// fuzzed with fast-check: it never throws on arbitrary bytes, round-trips
// every entry, and catches every single-bit flip.

import fc from 'fast-check';
import t from 'tap';
import { crc32c } from '../../src/storage/crc32c.js';
import {
  RECORD_HEADER_BYTES,
  decodeEntryRecord,
  encodeCommitRecord,
  encodeEntryRecord,
  entryRecordBytes,
  frameRecord,
} from '../../src/storage/record.js';
import type { Entry } from '../../src/raft/types.js';
import { AssertionFailure } from '../../src/lib/assert.js';
import { decodeHardState, encodeHardState } from '../../src/storage/hard-state-file.js';
import { testSeed } from './fixtures/helpers.js';

const MAX_BODY = 64 * 1024;

function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

const entryArbitrary = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  type: fc.constantFrom<'normal' | 'conf'>('normal', 'conf'),
  data: fc.uint8Array({ maxLength: 600 }),
});

function encode(entry: Entry): Buffer {
  const buffer = Buffer.alloc(entryRecordBytes(entry));
  encodeEntryRecord(entry, buffer, 0);
  return buffer;
}

t.test('crc32c matches the published vectors', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  t.equal(crc32c(new Uint8Array(0)), 0);
  t.equal(crc32c(new Uint8Array(32)), 0x8a9136aa, '32 zero bytes (RFC 3720 B.4)');
  t.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43, '32 0xff bytes (RFC 3720 B.4)');
});

t.test('crc32c equals the bitwise reference and continues across pieces', async (t) => {
  const seed = testSeed();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (bytes, cutAt) => {
      const cut = bytes.length === 0 ? 0 : cutAt % bytes.length;
      const whole = crc32c(bytes);
      return whole === referenceCrc32c(bytes) && crc32c(bytes, crc32c(bytes, 0, 0, cut), cut) === whole;
    }),
    { seed, numRuns: 300 },
  );
  t.pass(`seed=${seed}`);
});

t.test('every entry round-trips through a record', async (t) => {
  const seed = testSeed();
  fc.assert(
    fc.property(entryArbitrary, (entry) => {
      const bytes = encode(entry);
      const frame = frameRecord(bytes, 0, bytes.length, MAX_BODY);
      if (frame.kind !== 'record' || frame.nextOffset !== bytes.length) return false;
      const decoded = decodeEntryRecord(bytes, frame);
      return !('invalid' in decoded) && decoded.index === entry.index && decoded.term === entry.term &&
        decoded.type === entry.type && Buffer.from(decoded.data).equals(Buffer.from(entry.data));
    }),
    { seed, numRuns: 500 },
  );
  t.pass(`seed=${seed}`);
});

t.test('the decoder never throws and never accepts garbage as a record', async (t) => {
  const seed = testSeed();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 300 }), (bytes, offsetSeed) => {
      const offset = bytes.length === 0 ? 0 : offsetSeed % bytes.length;
      const frame = frameRecord(bytes, offset, bytes.length, MAX_BODY);
      if (frame.kind !== 'record') return true;
      // Random bytes pass the checksum with probability 2^-32: when they do, the frame must be self-consistent.
      return frame.nextOffset <= bytes.length && frame.bodyStart === offset + RECORD_HEADER_BYTES;
    }),
    { seed, numRuns: 2000 },
  );
  t.pass(`seed=${seed}`);
});

t.test('any single bit flip or truncation of a record is detected', async (t) => {
  const seed = testSeed();
  fc.assert(
    fc.property(entryArbitrary, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.nat(), (entry, where, bit, cutAt) => {
      const bytes = encode(entry);
      const flipped = Buffer.from(bytes);
      const at = where % flipped.length;
      flipped[at] = (flipped[at] as number) ^ (1 << bit);
      const flippedFrame = frameRecord(flipped, 0, flipped.length, MAX_BODY);
      const cut = cutAt % bytes.length;
      const cutFrame = frameRecord(bytes, 0, cut, MAX_BODY);
      return flippedFrame.kind !== 'record' && cutFrame.kind === 'incomplete';
    }),
    { seed, numRuns: 1000 },
  );
  t.pass(`seed=${seed}`);
});

t.test('a record longer than the limit is refused before it is read', async (t) => {
  const entry: Entry = { index: 1, term: 1, type: 'normal', data: new Uint8Array(1000) };
  const bytes = encode(entry);
  const frame = frameRecord(bytes, 0, bytes.length, 100);
  t.equal(frame.kind, 'invalid');
});

t.test('a term, index or commit that could not be read back is never written', async (t) => {
  const largest = { term: Number.MAX_SAFE_INTEGER, vote: 'n1', commit: Number.MAX_SAFE_INTEGER };
  t.same(decodeHardState(encodeHardState(largest), 'hard-state'), largest, '2^53-1 round-trips');
  for (const term of [2 ** 53, -1, 1.5]) {
    t.throws(() => encodeHardState({ term, vote: '', commit: 0 }), AssertionFailure, `term ${term} is refused, not written as garbage`);
    t.throws(() => encodeCommitRecord(term), AssertionFailure, `commit ${term} is refused`);
  }
});
