// Fail-stop: a failed fsync or write stops every later write with
// StorageFailedError carrying the OS error code, never retries an fsync, and
// keeps every acknowledged entry. EIO is injected (no faulty disk here);
// ENOSPC is real on a small tmpfs when this runs as root, and EFBIG is real
// through a file-size limit (ulimit -f) on a child process.

import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { RaftStorage } from '../../src/storage/raft-storage.js';
import { StorageFailedError } from '../../src/storage/errors.js';
import type { FileIo } from '../../src/storage/io.js';
import { nodeFileIo } from '../../src/storage/io.js';
import { entryIsGenuine, makeEntries, catchError } from './fixtures/helpers.js';
import { temporaryDirectory } from '../support/helpers.js';
import { FILL_STORAGE_OPTIONS } from './fixtures/storage-child.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'storage-child.js');

function ioError(code: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: injected`);
  error.code = code;
  return error;
}

t.test('a failed fdatasync rejects waiters, stops writes and is never retried', async (t) => {
  const dir = temporaryDirectory(t, 'fail-eio');
  let failSyncs = false;
  let syncCallsAfterFailure = 0;
  const io: FileIo = {
    ...nodeFileIo,
    fdatasync: (fd, callback) => {
      if (!failSyncs) return nodeFileIo.fdatasync(fd, callback);
      syncCallsAfterFailure++;
      setImmediate(() => callback(ioError('EIO')));
    },
    fdatasyncSync: (fd) => {
      if (failSyncs) throw ioError('EIO');
      nodeFileIo.fdatasyncSync(fd);
    },
  };
  const storage = RaftStorage.open(dir, { segmentSizeBytes: 64 * 1024, io });
  storage.append(makeEntries(1, 100, 1));
  await storage.sync();
  failSyncs = true;
  storage.append(makeEntries(101, 200, 1));
  const waiting = [storage.sync(), storage.sync()];
  for (const sync of waiting) await t.rejects(sync, { code: 'STORAGE_FAILED', causeCode: 'EIO' });
  t.equal(syncCallsAfterFailure, 1, 'one fdatasync, shared, not retried');
  t.throws(() => storage.append(makeEntries(201, 201, 1)), StorageFailedError);
  await t.rejects(storage.sync(), StorageFailedError);
  t.match(catchError(() => storage.syncNow()), { causeCode: 'EIO' });
  t.throws(() => storage.setHardState({ term: 2, vote: '', commit: 0 }), StorageFailedError);
  t.equal(syncCallsAfterFailure, 1, 'still no retry');
  await storage.close();
  const reopened = RaftStorage.open(dir);
  t.ok(reopened.lastIndex() >= 100, 'acknowledged entries are kept');
  await reopened.close();
});

t.test('a failed write (ENOSPC) stops writes and keeps what was acknowledged', async (t) => {
  const dir = temporaryDirectory(t, 'fail-enospc');
  let full = false;
  const io: FileIo = {
    ...nodeFileIo,
    writeSync: (fd, buffer, offset, length, position) => {
      if (full) throw ioError('ENOSPC');
      return nodeFileIo.writeSync(fd, buffer, offset, length, position);
    },
  };
  const storage = RaftStorage.open(dir, { io });
  storage.append(makeEntries(1, 50, 1));
  await storage.sync();
  full = true;
  t.match(catchError(() => storage.append(makeEntries(51, 60, 1))), { code: 'STORAGE_FAILED', causeCode: 'ENOSPC' });
  t.equal(storage.lastIndex(), 50, 'the failed entries are not visible');
  t.match(await storage.sync().catch((error: unknown) => error), { causeCode: 'ENOSPC' });
  await storage.close();
  const reopened = RaftStorage.open(dir);
  t.equal(reopened.lastIndex(), 50);
  await reopened.close();
});

const TMPFS_UNAVAILABLE = tmpfsUnavailableReason();

t.test('a really full disk (tmpfs): ENOSPC stops writes, acknowledged entries survive', { skip: TMPFS_UNAVAILABLE }, async (t) => {
  const mountPoint = temporaryDirectory(t, 'fail-tmpfs');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
  t.teardown(() => {
    execFileSync('umount', [mountPoint]);
  });
  const storage = RaftStorage.open(mountPoint, { segmentSizeBytes: 256 * 1024 });
  let acknowledged = 0;
  let failure: unknown;
  try {
    for (;;) {
      storage.append(makeEntries(acknowledged + 1, acknowledged + 8, 1, 3000));
      await storage.sync();
      acknowledged += 8;
    }
  } catch (error) {
    failure = error;
  }
  t.match(failure, { code: 'STORAGE_FAILED', causeCode: 'ENOSPC' });
  t.ok(acknowledged > 100, `${acknowledged} entries acknowledged before the disk filled`);
  await storage.close();
  for (const name of fs.readdirSync(mountPoint)) if (name.endsWith('.tmp')) fs.unlinkSync(path.join(mountPoint, name));
  const reopened = RaftStorage.open(mountPoint, { segmentSizeBytes: 256 * 1024 });
  t.ok(reopened.lastIndex() >= acknowledged, 'every acknowledged entry is there');
  t.ok(reopened.entries(1, acknowledged + 1, Number.MAX_SAFE_INTEGER).every(entryIsGenuine));
  await reopened.close();
});

t.test('a file-size limit (EFBIG) in a real process stops writes, acknowledged entries survive', async (t) => {
  const dir = temporaryDirectory(t, 'fail-efbig');
  // ulimit -f counts 1024-byte blocks in bash: 1 MiB per file.
  const result = spawnSync('bash', ['-c', `ulimit -f 1024 && exec "${process.execPath}" "${CHILD}" fill "${dir}"`], { encoding: 'utf8' });
  const lines = result.stdout.split('\n').filter((line) => line.length > 0);
  const acknowledged = Math.max(0, ...lines.filter((line) => line.startsWith('A ')).map((line) => Number(line.split(' ')[2])));
  t.equal(lines.at(-1), 'E EFBIG', `the child stopped on EFBIG (stderr: ${result.stderr})`);
  t.ok(acknowledged > 100, `${acknowledged} entries acknowledged before the limit`);
  const reopened = RaftStorage.open(dir, FILL_STORAGE_OPTIONS);
  t.ok(reopened.lastIndex() >= acknowledged, 'every acknowledged entry is there');
  t.ok(reopened.entries(1, acknowledged + 1, Number.MAX_SAFE_INTEGER).every(entryIsGenuine));
  await reopened.close();
});

/** Why a small tmpfs cannot be mounted here (not root, no mount), or false when it can. */
function tmpfsUnavailableReason(): string | false {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-ledger-tmpfs-probe-'));
  try {
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { encoding: 'utf8' });
    if (mount.status !== 0) return `cannot mount a tmpfs here (${(mount.stderr || mount.error?.message || 'not permitted').trim()}); the injected ENOSPC test covers the logic`;
    execFileSync('umount', [probe]);
    return false;
  } finally {
    fs.rmdirSync(probe);
  }
}
