// The peer wire format: batches of Raft messages and snapshot chunks as
// compact binary frames. Entry data and snapshot data travel as raw bytes.
// Decoding checks every length, count, type code and integer before anything
// reaches the Raft core; any flaw is a PeerDecodeError, never another throw.
//
// Frame (little-endian):
//   "RLPB"  u8 version (1)  u8 kind (1 messages, 2 snapshot chunk)  u16 zero
//   payload
//   u32 CRC32C of every byte before it
// messages payload: u32 count, then each message:
//   u8 type  u8 flags (1 reject, 2 force, 4 has snapshot; others zero)
//   str from  str to
//   u64 term index logTerm commit rejectHint rejectHintTerm readRound
//   u32 readId count, str each
//   [has snapshot] u64 index  u64 term  u32 voter count, str each  u32 learner count, str each
//   u32 entry count, each entry: u64 term  u64 index  u8 type (0 normal, 1 conf)  u32 length  bytes
// snapshot-chunk payload:
//   u8 flags (1 first, 2 last, 4 abort; others zero)  str streamId
//   u64 offset  u64 totalBytes  u32 dataCrc32c
//   [first] one message as above (the `snap` message)
//   u32 length  bytes
// str is u16 byte length then UTF-8. u64 carries non-negative safe integers only.

import type { Entry, EntryType, Message, MessageType, SnapshotMeta } from '../raft/types.js';
import { assert } from '../lib/assert.js';
import { crc32c } from '../storage/crc32c.js';

export const PEER_WIRE_VERSION = 1;
const MAGIC = Buffer.from('RLPB', 'latin1');
const FRAME_HEADER_BYTES = 8;
const FRAME_TRAILER_BYTES = 4;
const KIND_MESSAGES = 1;
const KIND_SNAPSHOT_CHUNK = 2;

/** Node ids and snapshot stream ids on the wire. */
export const MAX_ID_BYTES = 256;
/** Read-request ids carried by readIndex messages. */
export const MAX_READ_ID_BYTES = 1024;

const MESSAGE_TYPES = [
  'preVote', 'preVoteResp', 'vote', 'voteResp', 'app', 'appResp', 'heartbeat',
  'heartbeatResp', 'snap', 'snapResp', 'timeoutNow', 'readIndex', 'readIndexResp',
] as const satisfies readonly MessageType[];
// Fails to compile when a MessageType is added without a wire code.
const everyTypeHasACode: Exclude<MessageType, (typeof MESSAGE_TYPES)[number]> extends never ? true : never = true;
void everyTypeHasACode;
const MESSAGE_TYPE_CODES = new Map<MessageType, number>(MESSAGE_TYPES.map((type, code) => [type, code]));
const ENTRY_TYPES = ['normal', 'conf'] as const satisfies readonly EntryType[];

const MESSAGE_FLAG_REJECT = 1;
const MESSAGE_FLAG_FORCE = 2;
const MESSAGE_FLAG_SNAPSHOT = 4;
// type, flags, two one-byte ids, seven u64, two empty lists.
const MIN_MESSAGE_BYTES = 2 + 3 + 3 + 7 * 8 + 4 + 4;
const CHUNK_FLAG_FIRST = 1;
const CHUNK_FLAG_LAST = 2;
const CHUNK_FLAG_ABORT = 4;

/** A body that is not a valid frame: answered with 400 and never given to the core. */
export class PeerDecodeError extends Error {
  override name = 'PeerDecodeError';
  readonly code = 'peer_bad_body';
  constructor(readonly offsetBytes: number, readonly reason: string) {
    super(`malformed peer frame at byte ${offsetBytes}: ${reason}`);
  }
}

export interface DecodeLimits {
  readonly maxBatchMessages: number;
  readonly maxEntriesPerMessage: number;
}

/** One piece of a snapshot stream. */
export interface SnapshotChunk {
  readonly streamId: string;
  readonly first: boolean;
  readonly last: boolean;
  /** The sender gave up: the receiver drops what it has. */
  readonly abort: boolean;
  readonly offsetBytes: number;
  readonly totalBytes: number;
  readonly dataCrc32c: number;
  /** The `snap` message, on the first chunk only. */
  readonly message: Message | undefined;
  readonly data: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function stringBytes(value: string): number {
  return 2 + Buffer.byteLength(value, 'utf8');
}

function stringListBytes(values: readonly string[]): number {
  let total = 4;
  for (const value of values) total += stringBytes(value);
  return total;
}

/** The exact number of bytes `message` takes inside a frame (used to bound queues and batches). */
export function encodedMessageBytes(message: Message): number {
  let total = 2 + stringBytes(message.from) + stringBytes(message.to) + 7 * 8 + stringListBytes(message.readIds) + 4;
  if (message.snapshot !== undefined) {
    total += 16 + stringListBytes(message.snapshot.conf.voters) + stringListBytes(message.snapshot.conf.learners);
  }
  for (const entry of message.entries) total += 21 + entry.data.byteLength;
  return total;
}

class FrameWriter {
  readonly buffer: Buffer;
  private position = 0;

  constructor(payloadBytes: number, kind: number) {
    this.buffer = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payloadBytes + FRAME_TRAILER_BYTES);
    this.bytes(MAGIC);
    this.u8(PEER_WIRE_VERSION);
    this.u8(kind);
    this.u16(0);
  }

  u8(value: number): void {
    this.position = this.buffer.writeUInt8(value, this.position);
  }

  u16(value: number): void {
    this.position = this.buffer.writeUInt16LE(value, this.position);
  }

  u32(value: number): void {
    this.position = this.buffer.writeUInt32LE(value, this.position);
  }

  u64(value: number): void {
    assert(Number.isSafeInteger(value) && value >= 0, `cannot encode ${value} as a non-negative safe integer`);
    this.u32(value % 0x1_0000_0000);
    this.u32(Math.floor(value / 0x1_0000_0000));
  }

  bytes(value: Uint8Array): void {
    this.buffer.set(value, this.position);
    this.position += value.byteLength;
  }

  string(value: string, maxBytes: number): void {
    const length = this.buffer.write(value, this.position + 2, 'utf8');
    assert(length <= maxBytes && length === Buffer.byteLength(value, 'utf8'), `string of ${length} bytes exceeds ${maxBytes} on the wire`);
    this.u16(length);
    this.position += length;
  }

  stringList(values: readonly string[], maxBytes: number): void {
    this.u32(values.length);
    for (const value of values) this.string(value, maxBytes);
  }

  message(message: Message): void {
    const typeCode = MESSAGE_TYPE_CODES.get(message.type);
    assert(typeCode !== undefined, `no wire code for message type ${message.type}`);
    this.u8(typeCode);
    this.u8((message.reject ? MESSAGE_FLAG_REJECT : 0) | (message.force ? MESSAGE_FLAG_FORCE : 0) |
      (message.snapshot !== undefined ? MESSAGE_FLAG_SNAPSHOT : 0));
    this.string(message.from, MAX_ID_BYTES);
    this.string(message.to, MAX_ID_BYTES);
    for (const value of [message.term, message.index, message.logTerm, message.commit, message.rejectHint,
      message.rejectHintTerm, message.readRound]) this.u64(value);
    this.stringList(message.readIds, MAX_READ_ID_BYTES);
    if (message.snapshot !== undefined) this.snapshotMeta(message.snapshot);
    this.u32(message.entries.length);
    for (const entry of message.entries) this.entry(entry);
  }

  private snapshotMeta(meta: SnapshotMeta): void {
    this.u64(meta.index);
    this.u64(meta.term);
    this.stringList(meta.conf.voters, MAX_ID_BYTES);
    this.stringList(meta.conf.learners, MAX_ID_BYTES);
  }

  private entry(entry: Entry): void {
    this.u64(entry.term);
    this.u64(entry.index);
    this.u8(ENTRY_TYPES.indexOf(entry.type));
    this.u32(entry.data.byteLength);
    this.bytes(entry.data);
  }

  /** Appends the checksum and returns the frame. */
  finish(): Buffer {
    this.u32(crc32c(this.buffer, 0, 0, this.position));
    assert(this.position === this.buffer.length, `frame size ${this.position} differs from the ${this.buffer.length} bytes computed`);
    return this.buffer;
  }
}

/** Encodes messages (any recipients; the sender groups them per peer) as one frame. */
export function encodeMessageBatch(messages: readonly Message[]): Buffer {
  assert(messages.length <= 0xffff_ffff, 'too many messages for one frame');
  let payloadBytes = 4;
  for (const message of messages) payloadBytes += encodedMessageBytes(message);
  const writer = new FrameWriter(payloadBytes, KIND_MESSAGES);
  writer.u32(messages.length);
  for (const message of messages) writer.message(message);
  return writer.finish();
}

export function encodeSnapshotChunk(chunk: SnapshotChunk): Buffer {
  assert(chunk.first === (chunk.message !== undefined), 'the snap message travels with the first chunk and only there');
  const payloadBytes = 1 + stringBytes(chunk.streamId) + 8 + 8 + 4 +
    (chunk.message === undefined ? 0 : encodedMessageBytes(chunk.message)) + 4 + chunk.data.byteLength;
  const writer = new FrameWriter(payloadBytes, KIND_SNAPSHOT_CHUNK);
  writer.u8((chunk.first ? CHUNK_FLAG_FIRST : 0) | (chunk.last ? CHUNK_FLAG_LAST : 0) | (chunk.abort ? CHUNK_FLAG_ABORT : 0));
  writer.string(chunk.streamId, MAX_ID_BYTES);
  writer.u64(chunk.offsetBytes);
  writer.u64(chunk.totalBytes);
  writer.u32(chunk.dataCrc32c >>> 0);
  if (chunk.message !== undefined) writer.message(chunk.message);
  writer.u32(chunk.data.byteLength);
  writer.bytes(chunk.data);
  return writer.finish();
}

class FrameReader {
  private position: number;
  private readonly end: number;

  /** Checks magic, version, kind and checksum; the reader then walks the payload. */
  constructor(private readonly buffer: Buffer, kind: number, private readonly limits: DecodeLimits) {
    if (buffer.length < FRAME_HEADER_BYTES + FRAME_TRAILER_BYTES) this.fail(0, `frame of ${buffer.length} bytes is shorter than its header and checksum`);
    if (!buffer.subarray(0, 4).equals(MAGIC)) this.fail(0, 'bad magic (expected "RLPB")');
    if (buffer[4] !== PEER_WIRE_VERSION) this.fail(4, `unsupported wire version ${String(buffer[4])} (this node speaks ${PEER_WIRE_VERSION})`);
    if (buffer[5] !== kind) this.fail(5, `frame kind ${String(buffer[5])} where ${kind} was expected`);
    if (buffer.readUInt16LE(6) !== 0) this.fail(6, 'reserved header bytes are not zero');
    this.end = buffer.length - FRAME_TRAILER_BYTES;
    if (buffer.readUInt32LE(this.end) !== crc32c(buffer, 0, 0, this.end)) this.fail(this.end, 'frame checksum mismatch');
    this.position = FRAME_HEADER_BYTES;
  }

  fail(offsetBytes: number, reason: string): never {
    throw new PeerDecodeError(offsetBytes, reason);
  }

  private take(bytes: number, field: string): number {
    const start = this.position;
    if (bytes > this.end - start) this.fail(start, `${field} needs ${bytes} bytes but ${this.end - start} remain`);
    this.position += bytes;
    return start;
  }

  u8(field: string): number {
    return this.buffer.readUInt8(this.take(1, field));
  }

  u32(field: string): number {
    return this.buffer.readUInt32LE(this.take(4, field));
  }

  u64(field: string): number {
    const at = this.take(8, field);
    const high = this.buffer.readUInt32LE(at + 4);
    if (high > 0x1f_ffff) this.fail(at, `${field} is not a safe integer`);
    return high * 0x1_0000_0000 + this.buffer.readUInt32LE(at);
  }

  bytes(length: number, field: string): Uint8Array {
    const at = this.take(length, field);
    return this.buffer.subarray(at, at + length);
  }

  string(field: string, maxBytes: number): string {
    const length = this.buffer.readUInt16LE(this.take(2, field));
    if (length > maxBytes) this.fail(this.position - 2, `${field} is ${length} bytes, more than ${maxBytes}`);
    const at = this.position;
    const bytes = this.bytes(length, field);
    try {
      return utf8.decode(bytes);
    } catch {
      return this.fail(at, `${field} is not valid UTF-8`);
    }
  }

  id(field: string): string {
    const id = this.string(field, MAX_ID_BYTES);
    if (id.length === 0) this.fail(this.position - 2, `${field} is empty`);
    return id;
  }

  count(field: string, max: number, minBytesEach: number): number {
    const at = this.position;
    const count = this.u32(field);
    if (count > max) this.fail(at, `${field} ${count} exceeds the limit ${max}`);
    // Refuse impossible counts before looping over them.
    if (count * minBytesEach > this.end - this.position) this.fail(at, `${field} ${count} cannot fit in the ${this.end - this.position} bytes left`);
    return count;
  }

  idList(field: string): string[] {
    const count = this.count(`${field} count`, Number.MAX_SAFE_INTEGER, 3);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(this.id(`${field}[${i}]`));
    return ids;
  }

  message(): Message {
    const at = this.position;
    const type = MESSAGE_TYPES[this.u8('message type')];
    if (type === undefined) this.fail(at, `unknown message type code ${String(this.buffer[at])}`);
    const flags = this.u8('message flags');
    if ((flags & ~(MESSAGE_FLAG_REJECT | MESSAGE_FLAG_FORCE | MESSAGE_FLAG_SNAPSHOT)) !== 0) this.fail(at + 1, `unknown message flags ${flags}`);
    const from = this.id('from');
    const to = this.id('to');
    const term = this.u64('term');
    const index = this.u64('index');
    const logTerm = this.u64('logTerm');
    const commit = this.u64('commit');
    const rejectHint = this.u64('rejectHint');
    const rejectHintTerm = this.u64('rejectHintTerm');
    const readRound = this.u64('readRound');
    const readIdCount = this.count('readIds count', Number.MAX_SAFE_INTEGER, 2);
    const readIds: string[] = [];
    for (let i = 0; i < readIdCount; i++) readIds.push(this.string(`readIds[${i}]`, MAX_READ_ID_BYTES));
    const snapshot = (flags & MESSAGE_FLAG_SNAPSHOT) !== 0 ? this.snapshotMeta() : undefined;
    const entryCount = this.count('entry count', this.limits.maxEntriesPerMessage, 21);
    const entries: Entry[] = [];
    for (let i = 0; i < entryCount; i++) entries.push(this.entry(i));
    const message: Message = {
      type, from, to, term, index, logTerm, entries, commit,
      reject: (flags & MESSAGE_FLAG_REJECT) !== 0,
      rejectHint, rejectHintTerm, readRound, readIds,
      force: (flags & MESSAGE_FLAG_FORCE) !== 0,
    };
    return snapshot === undefined ? message : { ...message, snapshot };
  }

  private snapshotMeta(): SnapshotMeta {
    const index = this.u64('snapshot index');
    const term = this.u64('snapshot term');
    const voters = this.idList('snapshot voters');
    const learners = this.idList('snapshot learners');
    return { index, term, conf: { voters, learners } };
  }

  private entry(position: number): Entry {
    const term = this.u64(`entries[${position}].term`);
    const index = this.u64(`entries[${position}].index`);
    const at = this.position;
    const type = ENTRY_TYPES[this.u8(`entries[${position}].type`)];
    if (type === undefined) this.fail(at, `entries[${position}] has unknown type code ${String(this.buffer[at])}`);
    const length = this.u32(`entries[${position}].length`);
    return { term, index, type, data: this.bytes(length, `entries[${position}].data`) };
  }

  /** Asserts the payload was consumed exactly. */
  done(): void {
    if (this.position !== this.end) this.fail(this.position, `${this.end - this.position} bytes follow the payload`);
  }
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * Decodes a message-batch frame. Entry data are views into `body`, which
 * must therefore not be reused by the caller.
 */
export function decodeMessageBatch(body: Uint8Array, limits: DecodeLimits): Message[] {
  const reader = new FrameReader(asBuffer(body), KIND_MESSAGES, limits);
  const count = reader.count('message count', limits.maxBatchMessages, MIN_MESSAGE_BYTES);
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) messages.push(reader.message());
  reader.done();
  return messages;
}

export function decodeSnapshotChunk(body: Uint8Array, limits: DecodeLimits): SnapshotChunk {
  const reader = new FrameReader(asBuffer(body), KIND_SNAPSHOT_CHUNK, limits);
  const flags = reader.u8('chunk flags');
  if ((flags & ~(CHUNK_FLAG_FIRST | CHUNK_FLAG_LAST | CHUNK_FLAG_ABORT)) !== 0) reader.fail(FRAME_HEADER_BYTES, `unknown chunk flags ${flags}`);
  const streamId = reader.id('streamId');
  const offsetBytes = reader.u64('offset');
  const totalBytes = reader.u64('totalBytes');
  const dataCrc32c = reader.u32('dataCrc32c');
  const first = (flags & CHUNK_FLAG_FIRST) !== 0;
  const message = first ? reader.message() : undefined;
  const length = reader.u32('chunk length');
  const data = reader.bytes(length, 'chunk data');
  reader.done();
  if (offsetBytes + data.byteLength > totalBytes) reader.fail(FRAME_HEADER_BYTES, `chunk ends at ${offsetBytes + data.byteLength}, past the ${totalBytes} bytes of the snapshot`);
  return { streamId, first, last: (flags & CHUNK_FLAG_LAST) !== 0, abort: (flags & CHUNK_FLAG_ABORT) !== 0, offsetBytes, totalBytes, dataCrc32c, message, data };
}
