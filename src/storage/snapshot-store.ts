// Snapshot files: `snap-<index>-<term>.snap` (16 hex digits each). Owns their
// format, atomic creation (temp file, fsync, rename, directory fsync),
// verification, chunked reading for streaming to followers, and pruning.
//
// Header (48 bytes): "RLSNAP01", u32 version (1), u32 meta length, u64 data
// length, u32 crc32c of the meta, u32 crc32c of the data, u64 index, u32
// flags, u32 crc32c of header bytes [0..44). Then the metadata as UTF-8 JSON,
// then the state-machine image. The header is written last, so a file whose
// writer died part-way never verifies.
//
// Flags: 0, or DETACHED_FLAG: the image is not in the file, the state machine
// holds it (a received snapshot, written once, straight into the state
// machine's own file); the data is the state machine's small descriptor of it.

import path from 'node:path';
import type { ConfState, SnapshotMeta } from '../raft/types.js';
import { assert } from '../lib/assert.js';
import { crc32c } from './crc32c.js';
import { StorageCorruptionError } from './errors.js';
import type { FileIo } from './io.js';
import { TEMPORARY_SUFFIX, fsyncDirSync, readAtSync, writeAllSync } from './io.js';
import { readU64, writeU64 } from './record.js';

const MAGIC = Buffer.from('RLSNAP01', 'latin1');
const VERSION = 1;
export const SNAPSHOT_HEADER_BYTES = 48;
const MAX_META_BYTES = 1 << 20;
const VERIFY_CHUNK_BYTES = 1 << 20;
/** Header flag: the state machine holds the image; the data only describes it. */
const DETACHED_FLAG = 1;
const SNAPSHOT_NAME = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;

export interface SnapshotFile {
  readonly file: string;
  readonly index: number;
  readonly term: number;
}

/** A verified snapshot file, open for chunked reads (streaming to a follower). */
export interface SnapshotReader {
  readonly meta: SnapshotMeta;
  /** The image is the state machine's, not in this file: the data is its descriptor (nothing to stream). */
  readonly detached: boolean;
  readonly dataBytes: number;
  /** Send with the chunks: the receiver's writer checks the data against it. */
  readonly dataCrc32c: number;
  /** Up to maxBytes of the data from offsetBytes (fewer at the end). */
  read(offsetBytes: number, maxBytes: number): Uint8Array;
  close(): void;
}

export function snapshotFileName(index: number, term: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}-${term.toString(16).padStart(16, '0')}.snap`;
}

/** Snapshot files in `files`, oldest first. */
export function listSnapshotFiles(dir: string, files: readonly string[]): SnapshotFile[] {
  const found: SnapshotFile[] = [];
  for (const name of files) {
    const match = SNAPSHOT_NAME.exec(name);
    if (match === null) continue;
    found.push({ file: path.join(dir, name), index: parseInt(match[1] as string, 16), term: parseInt(match[2] as string, 16) });
  }
  return found.sort((a, b) => a.index - b.index || a.term - b.term);
}

/**
 * Writes one snapshot: metadata first, data in chunks, then the header and
 * the durable rename: this node's own snapshot, or the record of one
 * received whose image the state machine holds (detached).
 */
export class SnapshotWriter {
  private readonly fd: number;
  private readonly temporary: string;
  private readonly target: string;
  private readonly metaBytes: Buffer;
  private dataBytes = 0;
  private dataCrc = 0;
  private done = false;

  constructor(
    private readonly io: FileIo,
    private readonly dir: string,
    readonly meta: SnapshotMeta,
    /** The data describes an image the state machine holds (DETACHED_FLAG). */
    private readonly detached = false,
  ) {
    this.target = path.join(dir, snapshotFileName(meta.index, meta.term));
    this.temporary = `${this.target}${TEMPORARY_SUFFIX}`;
    this.metaBytes = Buffer.from(JSON.stringify({ index: meta.index, term: meta.term, conf: meta.conf }), 'utf8');
    assert(this.metaBytes.length <= MAX_META_BYTES, 'snapshot metadata too large');
    this.fd = io.openSync(this.temporary, 'w');
    writeAllSync(io, this.fd, this.metaBytes, SNAPSHOT_HEADER_BYTES);
  }

  write(chunk: Uint8Array): void {
    assert(!this.done, 'snapshot writer already finished');
    writeAllSync(this.io, this.fd, chunk, SNAPSHOT_HEADER_BYTES + this.metaBytes.length + this.dataBytes);
    this.dataCrc = crc32c(chunk, this.dataCrc);
    this.dataBytes += chunk.byteLength;
  }

  /** Makes the file durable under its final name. */
  finish(): SnapshotFile {
    assert(!this.done, 'snapshot writer already finished');
    this.done = true;
    const header = encodeHeader(this.meta.index, this.metaBytes, this.dataBytes, this.dataCrc, this.detached ? DETACHED_FLAG : 0);
    writeAllSync(this.io, this.fd, header, 0);
    this.io.fsyncSync(this.fd);
    this.io.closeSync(this.fd);
    this.io.renameSync(this.temporary, this.target);
    fsyncDirSync(this.io, this.dir);
    return { file: this.target, index: this.meta.index, term: this.meta.term };
  }

  /** Drops the unfinished file. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.io.closeSync(this.fd);
    this.io.unlinkSync(this.temporary);
  }
}

function encodeHeader(index: number, metaBytes: Buffer, dataBytes: number, dataCrc: number, flags: number): Buffer {
  const header = Buffer.alloc(SNAPSHOT_HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(metaBytes.length, 12);
  writeU64(header, 16, dataBytes);
  header.writeUInt32LE(crc32c(metaBytes), 24);
  header.writeUInt32LE(dataCrc, 28);
  writeU64(header, 32, index);
  header.writeUInt32LE(flags, 40);
  header.writeUInt32LE(crc32c(header, 0, 0, 44), 44);
  return header;
}

interface VerifiedSnapshot {
  readonly meta: SnapshotMeta;
  readonly dataOffsetBytes: number;
  readonly dataBytes: number;
  readonly dataCrc32c: number;
  readonly detached: boolean;
}

/** Checks header, metadata and data checksum of an open snapshot file, reading the data in bounded chunks. */
function verifySnapshot(io: FileIo, fd: number, snapshot: SnapshotFile): VerifiedSnapshot {
  const fail = (offsetBytes: number, reason: string): never => {
    throw new StorageCorruptionError(snapshot.file, offsetBytes, reason);
  };
  const fileBytes = io.fstatSizeSync(fd);
  const header = readAtSync(io, fd, 0, SNAPSHOT_HEADER_BYTES);
  if (header.length < SNAPSHOT_HEADER_BYTES) fail(0, 'snapshot header cut short');
  if (!header.subarray(0, 8).equals(MAGIC)) fail(0, 'bad snapshot magic');
  if (header.readUInt32LE(44) !== crc32c(header, 0, 0, 44)) fail(44, 'snapshot header checksum mismatch');
  if (header.readUInt32LE(8) !== VERSION) fail(8, 'unsupported snapshot version');
  const flags = header.readUInt32LE(40);
  if ((flags & ~DETACHED_FLAG) !== 0) fail(40, `unknown snapshot flags ${flags}`);
  const metaLength = header.readUInt32LE(12);
  const dataBytes = readU64(header, 16);
  if (metaLength > MAX_META_BYTES || dataBytes < 0 || SNAPSHOT_HEADER_BYTES + metaLength + dataBytes !== fileBytes) {
    fail(12, `snapshot lengths do not add up to the file size ${fileBytes}`);
  }
  const metaBytes = readAtSync(io, fd, SNAPSHOT_HEADER_BYTES, metaLength);
  if (crc32c(metaBytes) !== header.readUInt32LE(24)) fail(SNAPSHOT_HEADER_BYTES, 'snapshot metadata checksum mismatch');
  const meta = parseMeta(metaBytes.toString('utf8'));
  if (meta === undefined || meta.index !== snapshot.index || meta.term !== snapshot.term || readU64(header, 32) !== meta.index) {
    fail(SNAPSHOT_HEADER_BYTES, 'snapshot metadata does not match the file name');
  }
  const dataOffsetBytes = SNAPSHOT_HEADER_BYTES + metaLength;
  let crc = 0;
  for (let done = 0; done < dataBytes; done += VERIFY_CHUNK_BYTES) {
    crc = crc32c(readAtSync(io, fd, dataOffsetBytes + done, Math.min(VERIFY_CHUNK_BYTES, dataBytes - done)), crc);
  }
  if (crc !== header.readUInt32LE(28)) fail(dataOffsetBytes, 'snapshot data checksum mismatch');
  return { meta: meta as SnapshotMeta, dataOffsetBytes, dataBytes, dataCrc32c: crc, detached: flags === DETACHED_FLAG };
}

function parseMeta(text: string): SnapshotMeta | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { index, term, conf } = value as { index?: unknown; term?: unknown; conf?: unknown };
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term) || !isConfState(conf)) return undefined;
  return { index: index as number, term: term as number, conf };
}

function isConfState(value: unknown): value is ConfState {
  if (typeof value !== 'object' || value === null) return false;
  const { voters, learners } = value as { voters?: unknown; learners?: unknown };
  const isIdList = (list: unknown): boolean => Array.isArray(list) && list.every((id) => typeof id === 'string');
  return isIdList(voters) && isIdList(learners);
}

/** Verifies a snapshot file and opens it for chunked reads. */
export function openSnapshotFile(io: FileIo, snapshot: SnapshotFile): SnapshotReader {
  const fd = io.openSync(snapshot.file, 'r');
  let verified: VerifiedSnapshot;
  try {
    verified = verifySnapshot(io, fd, snapshot);
  } catch (error) {
    io.closeSync(fd);
    throw error;
  }
  let open = true;
  return {
    meta: verified.meta,
    detached: verified.detached,
    dataBytes: verified.dataBytes,
    dataCrc32c: verified.dataCrc32c,
    read(offsetBytes: number, maxBytes: number): Uint8Array {
      assert(open, 'snapshot reader is closed');
      assert(offsetBytes >= 0 && offsetBytes <= verified.dataBytes && maxBytes > 0, 'snapshot read outside the data');
      const length = Math.min(maxBytes, verified.dataBytes - offsetBytes);
      return readAtSync(io, fd, verified.dataOffsetBytes + offsetBytes, length);
    },
    close(): void {
      if (!open) return;
      open = false;
      io.closeSync(fd);
    },
  };
}

/** Deletes all but the newest `retained` snapshot files. */
export function pruneSnapshotFiles(io: FileIo, dir: string, files: readonly SnapshotFile[], retained: number): SnapshotFile[] {
  const doomed = files.slice(0, Math.max(0, files.length - retained));
  if (doomed.length === 0) return [...files];
  for (const snapshot of doomed) io.unlinkSync(snapshot.file);
  fsyncDirSync(io, dir);
  return files.slice(doomed.length);
}
