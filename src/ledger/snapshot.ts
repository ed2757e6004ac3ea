// The snapshot format: the whole SQLite database image (sqlite3_serialize)
// behind a small header that repeats the applied index and chain head and
// carries the image's sha256, so a damaged or mismatched snapshot is refused
// before it replaces any state. A snapshot is read back in bounded chunks
// (SnapshotImageSource), or taken as it streams in (SnapshotStream): neither
// holds the whole image at once. The header alone is the image's descriptor:
// an image already written elsewhere is checked against it.
//
//   bytes 0..7    magic "RLSNAP01"
//   bytes 8..15   applied index, unsigned 64-bit big-endian
//   bytes 16..47  chain head (32 bytes)
//   bytes 48..79  sha256 of the image
//   bytes 80..    SQLite database image, rollback-journal header (see below)

import { createHash } from 'node:crypto';

const MAGIC = Buffer.from('RLSNAP01', 'ascii');
/** The header: the descriptor of the image that follows. */
export const SNAPSHOT_DESCRIPTOR_BYTES = 80;
const HEADER_BYTES = SNAPSHOT_DESCRIPTOR_BYTES;
/** The most a restore reads of a snapshot at once. */
export const RESTORE_CHUNK_BYTES = 1 << 20;

export interface SnapshotHeader {
  appliedIndex: number;
  chainHead: string;
}

/** A snapshot readable in chunks (the storage layer's snapshot reader is one). */
export interface SnapshotImageSource {
  readonly dataBytes: number;
  /** Up to maxBytes from offsetBytes. */
  read(offsetBytes: number, maxBytes: number): Uint8Array;
}

export type ParsedSnapshot = { ok: true; header: SnapshotHeader; image: Buffer } | { ok: false; reason: string };
export type CheckedImage =
  | { ok: true; header: SnapshotHeader; imageBytes: number; /** the snapshot's header bytes */ descriptor: Uint8Array }
  | { ok: false; reason: string };

export function encodeSnapshot(header: SnapshotHeader, image: Buffer): Uint8Array {
  // A WAL-mode image says so in header bytes 18 and 19; SQLite refuses to open
  // such an image in memory, so the snapshot stores it as a rollback-journal
  // database. A file-backed restore switches it back to WAL when opening.
  const legacy = Buffer.from(image);
  legacy[18] = 1;
  legacy[19] = 1;
  const out = Buffer.alloc(HEADER_BYTES + legacy.length);
  MAGIC.copy(out, 0);
  out.writeBigUInt64BE(BigInt(header.appliedIndex), 8);
  Buffer.from(header.chainHead, 'hex').copy(out, 16);
  createHash('sha256').update(legacy).digest().copy(out, 48);
  legacy.copy(out, HEADER_BYTES);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** A snapshot held in memory as a chunked source. */
export function snapshotBytesSource(bytes: Uint8Array): SnapshotImageSource {
  return { dataBytes: bytes.byteLength, read: (offsetBytes, maxBytes) => bytes.subarray(offsetBytes, offsetBytes + maxBytes) };
}

/**
 * A snapshot taken in order, in chunks of any size (as a peer streams it):
 * the header is kept, the image is hashed and handed to `visit` with its
 * offset in the image. The visitor must not trust what it was given before
 * finish() returns ok.
 */
export class SnapshotStream {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private receivedBytes = 0;
  private readonly hash = createHash('sha256');

  constructor(private readonly visit: (chunk: Uint8Array, offsetBytes: number) => void) {}

  push(chunk: Uint8Array): void {
    let rest = chunk;
    if (this.receivedBytes < HEADER_BYTES) {
      const take = Math.min(HEADER_BYTES - this.receivedBytes, rest.byteLength);
      this.header.set(rest.subarray(0, take), this.receivedBytes);
      this.receivedBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.byteLength === 0) return;
    this.hash.update(rest);
    this.visit(rest, this.receivedBytes - HEADER_BYTES);
    this.receivedBytes += rest.byteLength;
  }

  /** Why the header is refused, once it is complete (a stream can stop early). */
  headerProblem(): string | undefined {
    if (!this.header.subarray(0, 8).equals(MAGIC)) return 'not a ledger snapshot';
    if (this.header.readBigUInt64BE(8) > BigInt(Number.MAX_SAFE_INTEGER)) return 'snapshot applied index out of range';
    return undefined;
  }

  /** The whole snapshot checked: a header, an image, and the image's sha256 as the header says. */
  finish(): CheckedImage {
    if (this.receivedBytes <= HEADER_BYTES) return { ok: false, reason: 'not a ledger snapshot' };
    const problem = this.headerProblem();
    if (problem !== undefined) return { ok: false, reason: problem };
    if (!this.hash.digest().equals(this.header.subarray(48, 80))) return { ok: false, reason: 'snapshot image checksum mismatch' };
    const header = { appliedIndex: Number(this.header.readBigUInt64BE(8)), chainHead: this.header.subarray(16, 48).toString('hex') };
    return { ok: true, header, imageBytes: this.receivedBytes - HEADER_BYTES, descriptor: Uint8Array.from(this.header) };
  }
}

/**
 * Reads the image of `source` in chunks of at most RESTORE_CHUNK_BYTES and
 * hands each to `visit` with its offset in the image, then checks the whole
 * against the header's sha256. The visitor must not trust what it was given
 * before this returns ok.
 */
export function readSnapshotImage(source: SnapshotImageSource, visit: (chunk: Uint8Array, offsetBytes: number) => void): CheckedImage {
  if (source.dataBytes <= HEADER_BYTES) return { ok: false, reason: 'not a ledger snapshot' };
  const stream = new SnapshotStream(visit);
  stream.push(readExactly(source, 0, HEADER_BYTES));
  const problem = stream.headerProblem();
  if (problem !== undefined) return { ok: false, reason: problem };
  for (let offsetBytes = HEADER_BYTES; offsetBytes < source.dataBytes; offsetBytes += RESTORE_CHUNK_BYTES) {
    stream.push(readExactly(source, offsetBytes, Math.min(RESTORE_CHUNK_BYTES, source.dataBytes - offsetBytes)));
  }
  return stream.finish();
}

/** Checks an image already written elsewhere, read back in chunks, against its descriptor (the snapshot's header). */
export function checkImage(descriptor: Uint8Array, chunks: Iterable<Uint8Array>): CheckedImage {
  const stream = new SnapshotStream(() => undefined);
  stream.push(descriptor.subarray(0, HEADER_BYTES));
  for (const chunk of chunks) stream.push(chunk);
  return stream.finish();
}

/** The header and the whole image, checked: for an in-memory database, which holds the image anyway. */
export function loadSnapshotImage(source: SnapshotImageSource): ParsedSnapshot {
  const image = Buffer.alloc(Math.max(0, source.dataBytes - HEADER_BYTES));
  const checked = readSnapshotImage(source, (chunk, offsetBytes) => image.set(chunk, offsetBytes));
  return checked.ok ? { ok: true, header: checked.header, image } : checked;
}

export function decodeSnapshot(bytes: Uint8Array): ParsedSnapshot {
  return loadSnapshotImage(snapshotBytesSource(bytes));
}

function readExactly(source: SnapshotImageSource, offsetBytes: number, length: number): Uint8Array {
  const chunk = source.read(offsetBytes, length);
  if (chunk.byteLength !== length) throw new Error(`snapshot source gave ${chunk.byteLength} bytes at ${offsetBytes}, not ${length}`);
  return chunk;
}
