// The thread behind LedgerStateMachine.snapshotInBackground: a read-only
// SQLite connection to the ledger file that takes one snapshot (the applied
// index and chain head, and the database image, read in ONE read transaction
// so they agree), encodes it (snapshot.ts: a copy of the image and its
// sha256) and hands the bytes back, transferred, not copied. Serializing,
// copying and hashing a database of many MiB took hundreds of milliseconds
// on the thread that applies entries and answers clients; here it takes
// none of that thread's time.
//
// It must not write: the applying connection owns the ledger. When it has
// closed its connection it says so in the shared state slot, so a restore
// (which needs the WAL to itself) can wait for it synchronously.

import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { encodeSnapshot } from './snapshot.js';
import { SNAPSHOT_WORKER_DONE, type SnapshotWorkerInit, type SnapshotWorkerResult } from './snapshot-control.js';

function take(path: string): SnapshotWorkerResult {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    return db.transaction(() => {
      const meta = db.prepare('SELECT applied_index, chain_head FROM meta').get() as { applied_index: bigint; chain_head: string };
      const header = { appliedIndex: Number(meta.applied_index), chainHead: meta.chain_head };
      return { ...header, bytes: encodeSnapshot(header, db.serialize()) };
    })();
  } finally {
    db.close();
  }
}

if (parentPort !== null) {
  const { path, state } = workerData as SnapshotWorkerInit;
  const slot = new Int32Array(state);
  try {
    const result = take(path);
    // A fresh buffer of exactly the snapshot (encodeSnapshot allocates one) moves without a copy.
    const whole = result.bytes.byteOffset === 0 && result.bytes.byteLength === result.bytes.buffer.byteLength;
    const bytes = whole ? result.bytes : result.bytes.slice();
    // The connection is closed already (take's finally); the answer is queued before the slot says done.
    parentPort.postMessage({ ...result, bytes }, [bytes.buffer as ArrayBuffer]);
    Atomics.store(slot, 0, SNAPSHOT_WORKER_DONE);
    Atomics.notify(slot, 0);
  } catch (error) {
    Atomics.store(slot, 0, SNAPSHOT_WORKER_DONE);
    Atomics.notify(slot, 0);
    throw error;
  }
}
