// One owner per data directory. A process that opens a node's data holds an
// exclusive lock on <data>/LOCK for as long as it runs; a second process on
// the same directory is refused at once, naming the holder.
//
// The lock is SQLite's: a database opened with locking_mode=EXCLUSIVE whose
// first write takes a POSIX fcntl write lock that the connection never gives
// back. The kernel drops such a lock when its process ends in any way,
// SIGKILL and power loss included, so there is no stale lock to clean up.
// A pid file cannot do that by itself: deciding that a recorded pid is dead
// (and is not a recycled pid, or a process in another pid namespace sharing
// the volume) and then taking the file over is a race between two starters
// that both find it stale. Node has no flock; better-sqlite3 is already a
// dependency, so this needs nothing native beyond it. LOCK.owner only says
// who holds the lock (pid, host, start time), for the refusal message; it
// proves nothing.

import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

export const LOCK_FILE = 'LOCK';
const OWNER_FILE = 'LOCK.owner';

/** Another live process holds the directory. */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

export class DataDirLock {
  private constructor(
    readonly dir: string,
    private db: Database.Database | undefined,
  ) {}

  /** Takes the lock on `dir` (created if missing) or throws DataDirInUseError. */
  static acquire(dir: string): DataDirLock {
    mkdirSync(dir, { recursive: true });
    const db = new Database(path.join(dir, LOCK_FILE), { timeout: 0 });
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // What the file holds does not matter; only its lock does. No journal file beside it.
      db.pragma('journal_mode = MEMORY');
      // The write inside BEGIN EXCLUSIVE takes the lock; in exclusive locking mode COMMIT keeps it.
      db.exec('BEGIN EXCLUSIVE');
      db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, started_at TEXT NOT NULL)');
      db.exec('DELETE FROM holder');
      db.prepare('INSERT INTO holder (pid, started_at) VALUES (?, ?)').run(process.pid, new Date().toISOString());
      db.exec('COMMIT');
    } catch (error) {
      db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') {
        throw new DataDirInUseError(`data directory ${dir} is in use by ${describeHolder(dir)}: stop that process first, or give this node its own --data`);
      }
      throw error;
    }
    writeFileSync(path.join(dir, OWNER_FILE), `${JSON.stringify({ pid: process.pid, host: hostname(), started_at: new Date().toISOString() })}\n`);
    return new DataDirLock(dir, db);
  }

  /** Gives the directory up (a clean stop; a crash gives it up by itself). */
  release(): void {
    this.db?.close();
    this.db = undefined;
  }
}

function describeHolder(dir: string): string {
  try {
    const owner = JSON.parse(readFileSync(path.join(dir, OWNER_FILE), 'utf8')) as { pid?: unknown; host?: unknown; started_at?: unknown };
    return `another process (pid ${String(owner.pid)} on ${String(owner.host)}, started ${String(owner.started_at)})`;
  } catch {
    return 'another process';
  }
}
