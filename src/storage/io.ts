// The file operations storage performs, behind one small interface so tests
// can inject failures (an fsync returning EIO) that a real disk here cannot be
// made to produce. Production uses `nodeFileIo`, a thin pass-through to
// node:fs. Also the durable-file helpers every storage file shares: write all
// bytes, fsync a directory, replace a file atomically.

import fs from 'node:fs';
import path from 'node:path';

export interface FileIo {
  openSync(file: string, flags: string): number;
  closeSync(fd: number): void;
  readSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): number;
  fdatasyncSync(fd: number): void;
  fsyncSync(fd: number): void;
  /** Asynchronous fdatasync on the libuv thread pool, so the event loop keeps running. */
  fdatasync(fd: number, callback: (error: NodeJS.ErrnoException | null) => void): void;
  ftruncateSync(fd: number, lengthBytes: number): void;
  fstatSizeSync(fd: number): number;
  renameSync(from: string, to: string): void;
  unlinkSync(file: string): void;
  readdirSync(dir: string): string[];
  mkdirSync(dir: string): void;
  rmdirSync(dir: string): void;
}

export const nodeFileIo: FileIo = {
  openSync: (file, flags) => fs.openSync(file, flags),
  closeSync: (fd) => fs.closeSync(fd),
  readSync: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  writeSync: (fd, buffer, offset, length, position) => fs.writeSync(fd, buffer, offset, length, position),
  fdatasyncSync: (fd) => fs.fdatasyncSync(fd),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  fdatasync: (fd, callback) => fs.fdatasync(fd, callback),
  ftruncateSync: (fd, lengthBytes) => fs.ftruncateSync(fd, lengthBytes),
  fstatSizeSync: (fd) => fs.fstatSync(fd).size,
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (file) => fs.unlinkSync(file),
  readdirSync: (dir) => fs.readdirSync(dir),
  mkdirSync: (dir) => {
    fs.mkdirSync(dir, { recursive: true });
  },
  rmdirSync: (dir) => fs.rmdirSync(dir),
};

/** Writes every byte at `position`, looping over short writes. */
export function writeAllSync(io: FileIo, fd: number, bytes: Uint8Array, position: number): void {
  let written = 0;
  while (written < bytes.length) {
    written += io.writeSync(fd, bytes, written, bytes.length - written, position + written);
  }
}

/** Reads exactly `length` bytes at `position` into a new buffer, or fewer at end of file. */
export function readAtSync(io: FileIo, fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = io.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

/** Makes creations, renames and deletions in `dir` durable. */
export function fsyncDirSync(io: FileIo, dir: string): void {
  const fd = io.openSync(dir, 'r');
  try {
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
}

/**
 * Replaces `file` with `bytes` so that after a crash it holds either the old
 * or the new content, never a mix: write a temporary file, fsync it, rename it
 * over the target, fsync the directory.
 */
export function replaceFileAtomicallySync(io: FileIo, file: string, bytes: Uint8Array): void {
  const temporary = `${file}${TEMPORARY_SUFFIX}`;
  const fd = io.openSync(temporary, 'w');
  try {
    writeAllSync(io, fd, bytes, 0);
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
  io.renameSync(temporary, file);
  fsyncDirSync(io, path.dirname(file));
}

/** Files with this suffix are unfinished writes; recovery deletes them. */
export const TEMPORARY_SUFFIX = '.tmp';
