// The thread behind checkpointer.ts: a second SQLite connection to the ledger
// file that copies committed WAL pages into the main file (a PASSIVE
// checkpoint, which never waits for and never blocks the applying
// connection) every `intervalMs`, until the main thread asks it to stop. It
// runs as one synchronous loop on Atomics.wait, never on an event loop, so a
// stop request is seen at once and answered after the connection is closed.
//
// It must not write anything but checkpoints: the applying connection owns
// the ledger's content.

import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { CONTROL, STATE, type CheckpointWorkerInit } from './checkpoint-control.js';

const { path, control, intervalMs } = workerData as CheckpointWorkerInit;
const flags = new Int32Array(control);

function run(): void {
  // A stop that came before this thread got going has already marked it stopped.
  if (Atomics.compareExchange(flags, CONTROL.state, STATE.starting, STATE.running) !== STATE.starting) return;
  const db = new Database(path, { fileMustExist: true });
  try {
    while (Atomics.load(flags, CONTROL.stop) === 0) {
      Atomics.wait(flags, CONTROL.stop, 0, intervalMs);
      if (Atomics.load(flags, CONTROL.stop) !== 0) break;
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
        Atomics.add(flags, CONTROL.checkpoints, 1);
      } catch (error) {
        // A failed checkpoint loses nothing (the pages stay in the WAL and the
        // applying connection's own autocheckpoint is the backstop); report it.
        Atomics.add(flags, CONTROL.failures, 1);
        parentPort?.postMessage(String(error));
      }
    }
  } finally {
    db.close();
  }
}

try {
  run();
} catch (error) {
  Atomics.add(flags, CONTROL.failures, 1);
  parentPort?.postMessage(String(error));
} finally {
  Atomics.store(flags, CONTROL.state, STATE.stopped);
  Atomics.notify(flags, CONTROL.state);
}
