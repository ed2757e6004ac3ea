// The byte formats of the write-ahead log: segment headers and records. Pure
// functions over buffers, no I/O, so the decoder can be fuzzed directly.
//
// Segment header (32 bytes):
//   [0..8)   magic "RLWALSEG"   [8..12) u32 version (1)   [12..16) u32 zero
//   [16..24) u64 first index    [24..28) u32 zero         [28..32) u32 crc32c of [0..28)
// Record:
//   [0..4) u32 body length N (1 + payload)   [4..8) u32 crc32c of bytes [0..4) then the body
//   [8..8+N) body: u8 record type, then the payload
// Entry payload: u64 index, u64 term, u8 entry type (0 normal, 1 conf), data.
// Commit payload: u64 commit index.
// All integers little-endian; u64 fields hold JS safe integers (< 2^53). The
// checksum covers the length too, so a flipped length bit is caught at that
// record rather than by whatever the wrong length happens to point at.

import type { Entry, EntryType } from '../raft/types.js';
import { assert, unreachable } from '../lib/assert.js';
import { crc32c } from './crc32c.js';

export const SEGMENT_MAGIC = Buffer.from('RLWALSEG', 'latin1');
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 32;
export const RECORD_HEADER_BYTES = 8;
/** Bytes an entry record adds to its data: record header, record type, index, term, entry type. */
export const ENTRY_RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + 1 + 8 + 8 + 1;
const ENTRY_PAYLOAD_FIXED_BYTES = 8 + 8 + 1;
const COMMIT_BODY_BYTES = 1 + 8;

export const RecordType = { entry: 1, commit: 2 } as const;
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

const MAX_SAFE_HIGH_WORD = 0x1fffff;

/**
 * Writes a safe integer as u64. The last line of defence: a value readU64
 * could not read back would poison the disk for every restart, so it is a
 * programmer error here (peer input is bounded far below, in peer-validate.ts).
 */
export function writeU64(buffer: Buffer, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, `cannot store ${value} as a u64: not a non-negative safe integer`);
  buffer.writeUInt32LE(value >>> 0, offset);
  buffer.writeUInt32LE(Math.floor(value / 0x1_0000_0000), offset + 4);
}

/** The u64 at offset, or -1 when it does not fit a JS safe integer. */
export function readU64(buffer: Uint8Array, offset: number): number {
  const view = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const high = view.readUInt32LE(offset + 4);
  if (high > MAX_SAFE_HIGH_WORD) return -1;
  return high * 0x1_0000_0000 + view.readUInt32LE(offset);
}

export function encodeSegmentHeader(firstIndex: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(header, 0);
  header.writeUInt32LE(SEGMENT_VERSION, 8);
  writeU64(header, 16, firstIndex);
  header.writeUInt32LE(crc32c(header, 0, 0, 28), 28);
  return header;
}

/** The first index a segment header declares, or a reason it is not a valid header. */
export function decodeSegmentHeader(header: Uint8Array): { firstIndex: number } | { invalid: string } {
  if (header.length < SEGMENT_HEADER_BYTES) return { invalid: `header is ${header.length} bytes, expected ${SEGMENT_HEADER_BYTES}` };
  const view = Buffer.from(header.buffer, header.byteOffset, SEGMENT_HEADER_BYTES);
  if (!view.subarray(0, 8).equals(SEGMENT_MAGIC)) return { invalid: 'bad segment magic' };
  if (view.readUInt32LE(28) !== crc32c(view, 0, 0, 28)) return { invalid: 'segment header checksum mismatch' };
  const version = view.readUInt32LE(8);
  if (version !== SEGMENT_VERSION) return { invalid: `unsupported segment version ${version}` };
  const firstIndex = readU64(view, 16);
  if (firstIndex < 1) return { invalid: 'segment first index out of range' };
  return { firstIndex };
}

export function entryRecordBytes(entry: Entry): number {
  return ENTRY_RECORD_OVERHEAD_BYTES + entry.data.byteLength;
}

function entryTypeCode(type: EntryType): number {
  switch (type) {
    case 'normal':
      return 0;
    case 'conf':
      return 1;
    default:
      return unreachable(type, 'entry type');
  }
}

/** Encodes `entry` as one record into `target` at `offset`; returns the offset after it. */
export function encodeEntryRecord(entry: Entry, target: Buffer, offset: number): number {
  const bodyLength = 1 + ENTRY_PAYLOAD_FIXED_BYTES + entry.data.byteLength;
  const body = offset + RECORD_HEADER_BYTES;
  target.writeUInt32LE(bodyLength, offset);
  target[body] = RecordType.entry;
  writeU64(target, body + 1, entry.index);
  writeU64(target, body + 9, entry.term);
  target[body + 17] = entryTypeCode(entry.type);
  target.set(entry.data, body + 18);
  sealRecord(target, offset, bodyLength);
  return body + bodyLength;
}

export function encodeCommitRecord(commit: number): Buffer {
  const record = Buffer.alloc(RECORD_HEADER_BYTES + COMMIT_BODY_BYTES);
  record.writeUInt32LE(COMMIT_BODY_BYTES, 0);
  record[RECORD_HEADER_BYTES] = RecordType.commit;
  writeU64(record, RECORD_HEADER_BYTES + 1, commit);
  sealRecord(record, 0, COMMIT_BODY_BYTES);
  return record;
}

function sealRecord(target: Buffer, offset: number, bodyLength: number): void {
  const body = offset + RECORD_HEADER_BYTES;
  const lengthCrc = crc32c(target, 0, offset, offset + 4);
  target.writeUInt32LE(crc32c(target, lengthCrc, body, body + bodyLength), offset + 4);
}

/** One record found in a buffer: where its body lies and where the next record starts. */
export interface RecordFrame {
  readonly kind: 'record';
  readonly type: RecordTypeCode;
  readonly bodyStart: number;
  readonly bodyLength: number;
  readonly nextOffset: number;
}

export type FrameResult =
  | RecordFrame
  /** The buffer ends inside the record: read more, or at end of file it is a torn write. */
  | { readonly kind: 'incomplete'; readonly neededBytes: number }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Checks the record starting at `offset` in buffer[.., end): its length is
 * within `maxBodyBytes`, its checksum matches and its type is known. The
 * payload is not copied.
 */
export function frameRecord(buffer: Uint8Array, offset: number, end: number, maxBodyBytes: number): FrameResult {
  if (end - offset < RECORD_HEADER_BYTES) return { kind: 'incomplete', neededBytes: RECORD_HEADER_BYTES };
  const view = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const bodyLength = view.readUInt32LE(offset);
  if (bodyLength === 0) return { kind: 'invalid', reason: 'zero record length' };
  if (bodyLength > maxBodyBytes) return { kind: 'invalid', reason: `record length ${bodyLength} exceeds the limit ${maxBodyBytes}` };
  const bodyStart = offset + RECORD_HEADER_BYTES;
  if (end - bodyStart < bodyLength) return { kind: 'incomplete', neededBytes: RECORD_HEADER_BYTES + bodyLength };
  const expected = view.readUInt32LE(offset + 4);
  const actual = crc32c(view, crc32c(view, 0, offset, offset + 4), bodyStart, bodyStart + bodyLength);
  if (expected !== actual) return { kind: 'invalid', reason: 'record checksum mismatch' };
  const type = view[bodyStart] as number;
  if (type === RecordType.entry) {
    if (bodyLength < 1 + ENTRY_PAYLOAD_FIXED_BYTES) return { kind: 'invalid', reason: 'entry record too short' };
  } else if (type === RecordType.commit) {
    if (bodyLength !== COMMIT_BODY_BYTES) return { kind: 'invalid', reason: 'commit record has the wrong length' };
  } else {
    return { kind: 'invalid', reason: `unknown record type ${type}` };
  }
  return { kind: 'record', type, bodyStart, bodyLength, nextOffset: bodyStart + bodyLength };
}

/** Index and term of an entry record, read without touching its data. */
export function entryPosition(buffer: Uint8Array, frame: RecordFrame): { index: number; term: number } {
  return { index: readU64(buffer, frame.bodyStart + 1), term: readU64(buffer, frame.bodyStart + 9) };
}

/** The Raft entry in a framed WAL entry record; its data is copied out of `buffer`. (The ledger command inside the data is ledger/entry.ts's decodeEntry.) */
export function decodeEntryRecord(buffer: Uint8Array, frame: RecordFrame): Entry | { invalid: string } {
  const { index, term } = entryPosition(buffer, frame);
  if (index < 1 || term < 0) return { invalid: 'entry index or term out of range' };
  const typeCode = buffer[frame.bodyStart + 17];
  const type: EntryType | undefined = typeCode === 0 ? 'normal' : typeCode === 1 ? 'conf' : undefined;
  if (type === undefined) return { invalid: `unknown entry type ${typeCode}` };
  const data = Uint8Array.prototype.slice.call(buffer, frame.bodyStart + 18, frame.nextOffset);
  return { index, term, type, data };
}

export function decodeCommit(buffer: Uint8Array, frame: RecordFrame): number {
  return readU64(buffer, frame.bodyStart + 1);
}
