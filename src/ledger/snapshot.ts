// The snapshot format: the whole SQLite database image (sqlite3_serialize)
// behind a small header that repeats the applied index and chain head and
// carries the image's sha256, so a damaged or mismatched snapshot is refused
// before it replaces any state.
//
//   bytes 0..7    magic "RLSNAP01"
//   bytes 8..15   applied index, unsigned 64-bit big-endian
//   bytes 16..47  chain head (32 bytes)
//   bytes 48..79  sha256 of the image
//   bytes 80..    SQLite database image, rollback-journal header (see below)

import { createHash } from 'node:crypto';

const MAGIC = Buffer.from('RLSNAP01', 'ascii');
const HEADER_BYTES = 80;

export interface SnapshotHeader {
  appliedIndex: number;
  chainHead: string;
}

export type ParsedSnapshot = { ok: true; header: SnapshotHeader; image: Buffer } | { ok: false; reason: string };

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

export function decodeSnapshot(bytes: Uint8Array): ParsedSnapshot {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length <= HEADER_BYTES || !buffer.subarray(0, 8).equals(MAGIC)) return { ok: false, reason: 'not a ledger snapshot' };
  const image = Buffer.from(buffer.subarray(HEADER_BYTES));
  const digest = createHash('sha256').update(image).digest();
  if (!digest.equals(buffer.subarray(48, 80))) return { ok: false, reason: 'snapshot image checksum mismatch' };
  const appliedIndex = buffer.readBigUInt64BE(8);
  if (appliedIndex > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'snapshot applied index out of range' };
  return {
    ok: true,
    header: { appliedIndex: Number(appliedIndex), chainHead: buffer.subarray(16, 48).toString('hex') },
    image,
  };
}
