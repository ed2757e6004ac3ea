// The snapshot format: the whole SQLite database image (sqlite3_serialize)
// behind a small header that repeats the applied index and chain head and
// carries the image's sha256, so a damaged or mismatched snapshot is refused
// before it replaces any state. A snapshot is read back in bounded chunks
// (SnapshotImageSource): restoring one never holds the whole image at once.
//
//   bytes 0..7    magic "RLSNAP01"
//   bytes 8..15   applied index, unsigned 64-bit big-endian
//   bytes 16..47  chain head (32 bytes)
//   bytes 48..79  sha256 of the image
//   bytes 80..    SQLite database image, rollback-journal header (see below)

import { createHash } from 'node:crypto';

const MAGIC = Buffer.from('RLSNAP01', 'ascii');
const HEADER_BYTES = 80;
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
export type CheckedImage = { ok: true; header: SnapshotHeader; imageBytes: number } | { ok: false; reason: string };

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
 * Reads the image of `source` in chunks of at most RESTORE_CHUNK_BYTES and
 * hands each to `visit` with its offset in the image, then checks the whole
 * against the header's sha256. The visitor must not trust what it was given
 * before this returns ok.
 */
export function readSnapshotImage(source: SnapshotImageSource, visit: (chunk: Uint8Array, offsetBytes: number) => void): CheckedImage {
  if (source.dataBytes <= HEADER_BYTES) return { ok: false, reason: 'not a ledger snapshot' };
  const header = Buffer.from(readExactly(source, 0, HEADER_BYTES));
  if (!header.subarray(0, 8).equals(MAGIC)) return { ok: false, reason: 'not a ledger snapshot' };
  const appliedIndex = header.readBigUInt64BE(8);
  if (appliedIndex > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'snapshot applied index out of range' };
  const imageBytes = source.dataBytes - HEADER_BYTES;
  const hash = createHash('sha256');
  for (let offsetBytes = 0; offsetBytes < imageBytes; offsetBytes += RESTORE_CHUNK_BYTES) {
    const chunk = readExactly(source, HEADER_BYTES + offsetBytes, Math.min(RESTORE_CHUNK_BYTES, imageBytes - offsetBytes));
    hash.update(chunk);
    visit(chunk, offsetBytes);
  }
  if (!hash.digest().equals(header.subarray(48, 80))) return { ok: false, reason: 'snapshot image checksum mismatch' };
  return { ok: true, header: { appliedIndex: Number(appliedIndex), chainHead: header.subarray(16, 48).toString('hex') }, imageBytes };
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
