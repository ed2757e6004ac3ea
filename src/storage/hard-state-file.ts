// The hard-state file: term, vote and the commit index known when they were
// written. Replaced atomically (temp, fsync, rename, fsync directory) on every
// term or vote change, so a crash leaves the old or the new state, never a
// mix. Format: "RLHARD01", u64 term, u64 commit, u32 vote length, vote UTF-8,
// u32 crc32c of everything before it.

import path from 'node:path';
import type { HardState } from '../raft/types.js';
import { EMPTY_HARD_STATE } from '../raft/types.js';
import { crc32c } from './crc32c.js';
import { StorageCorruptionError } from './errors.js';
import type { FileIo } from './io.js';
import { readAtSync, replaceFileAtomicallySync } from './io.js';
import { readU64, writeU64 } from './record.js';

export const HARD_STATE_FILE = 'hardstate';
const MAGIC = Buffer.from('RLHARD01', 'latin1');
const MAX_VOTE_BYTES = 1024;
const FIXED_BYTES = 8 + 8 + 8 + 4 + 4;

export function encodeHardState(hardState: HardState): Buffer {
  const vote = Buffer.from(hardState.vote, 'utf8');
  if (vote.length > MAX_VOTE_BYTES) throw new RangeError(`node id of ${vote.length} bytes exceeds ${MAX_VOTE_BYTES}`);
  const bytes = Buffer.alloc(FIXED_BYTES + vote.length);
  MAGIC.copy(bytes, 0);
  writeU64(bytes, 8, hardState.term);
  writeU64(bytes, 16, hardState.commit);
  bytes.writeUInt32LE(vote.length, 24);
  vote.copy(bytes, 28);
  bytes.writeUInt32LE(crc32c(bytes, 0, 0, 28 + vote.length), 28 + vote.length);
  return bytes;
}

/** Decodes the file's bytes; `file` only names the file in the error. */
export function decodeHardState(bytes: Buffer, file: string): HardState {
  const fail = (offsetBytes: number, reason: string): never => {
    throw new StorageCorruptionError(file, offsetBytes, reason);
  };
  if (bytes.length < FIXED_BYTES) fail(0, `hard state is ${bytes.length} bytes, too short`);
  if (!bytes.subarray(0, 8).equals(MAGIC)) fail(0, 'bad hard state magic');
  const voteLength = bytes.readUInt32LE(24);
  if (voteLength > MAX_VOTE_BYTES || bytes.length !== FIXED_BYTES + voteLength) fail(24, 'bad hard state length');
  if (bytes.readUInt32LE(28 + voteLength) !== crc32c(bytes, 0, 0, 28 + voteLength)) {
    fail(28 + voteLength, 'hard state checksum mismatch');
  }
  const term = readU64(bytes, 8);
  const commit = readU64(bytes, 16);
  if (term < 0 || commit < 0) fail(8, 'hard state term or commit out of range');
  return { term, commit, vote: bytes.toString('utf8', 28, 28 + voteLength) };
}

export function writeHardStateFileSync(io: FileIo, dir: string, hardState: HardState): void {
  replaceFileAtomicallySync(io, path.join(dir, HARD_STATE_FILE), encodeHardState(hardState));
}

/** The stored hard state, or the empty one when the file does not exist yet. */
export function readHardStateFileSync(io: FileIo, dir: string, existingFiles: readonly string[]): HardState {
  if (!existingFiles.includes(HARD_STATE_FILE)) return EMPTY_HARD_STATE;
  const file = path.join(dir, HARD_STATE_FILE);
  const fd = io.openSync(file, 'r');
  try {
    const size = io.fstatSizeSync(fd);
    if (size > FIXED_BYTES + MAX_VOTE_BYTES) throw new StorageCorruptionError(file, 0, `hard state file is ${size} bytes, too long`);
    return decodeHardState(readAtSync(io, fd, 0, size), file);
  } finally {
    io.closeSync(fd);
  }
}
