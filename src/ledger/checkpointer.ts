// Background WAL checkpoints for a file-backed ledger. SQLite in WAL mode
// appends each commit to the -wal file and, by default, the committing call
// itself copies the WAL back into the main file every 1000 pages, with two
// fsyncs: on the applying thread, so every few hundred entries an apply batch
// (and the event loop that acknowledges writes) stalls behind the disk. Here a
// worker thread with its own connection runs those checkpoints instead, and
// the applying connection's autocheckpoint is raised to a backstop that only
// fires if the worker falls far behind (WAL above BACKSTOP_PAGES).
//
// Durability does not change: commits reach the WAL exactly as before, and a
// checkpoint is SQLite's own (fsync the WAL, copy, fsync the file).
// stop() is synchronous: the worker closes its connection before it returns,
// so a restore can then checkpoint-truncate and replace the file alone.

import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { CONTROL, CONTROL_SLOTS, STATE, type CheckpointWorkerInit } from './checkpoint-control.js';

/** How often the worker checkpoints. */
export const CHECKPOINT_INTERVAL_MS = 100;
/** The applying connection's own autocheckpoint, reached only if the worker stalls (about 32 MiB of WAL). */
export const BACKSTOP_PAGES = 8192;
/** How long stop() waits for the worker to close its connection. */
const STOP_TIMEOUT_MS = 10_000;

export interface CheckpointerStatus {
  readonly checkpoints: number;
  readonly failures: number;
  readonly lastError: string | undefined;
}

export class WalCheckpointer {
  private readonly flags: Int32Array;
  private readonly worker: Worker;
  private lastError: string | undefined;

  /** Starts checkpointing `path`, whose applying connection is `db`. */
  constructor(db: Database.Database, path: string, intervalMs = CHECKPOINT_INTERVAL_MS) {
    db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
    const control = new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    this.flags = new Int32Array(control);
    const init: CheckpointWorkerInit = { path, control, intervalMs };
    this.worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: init });
    this.worker.on('message', (message: unknown) => {
      this.lastError = String(message);
    });
    this.worker.on('error', (error: Error) => {
      this.lastError = String(error);
    });
    this.worker.unref();
  }

  status(): CheckpointerStatus {
    return {
      checkpoints: Atomics.load(this.flags, CONTROL.checkpoints),
      failures: Atomics.load(this.flags, CONTROL.failures),
      lastError: this.lastError,
    };
  }

  /**
   * Asks the worker to stop and waits until its connection is closed; a
   * worker that has not opened one yet never will. Bounded, idempotent.
   */
  stop(): void {
    Atomics.store(this.flags, CONTROL.stop, 1);
    Atomics.notify(this.flags, CONTROL.stop);
    Atomics.compareExchange(this.flags, CONTROL.state, STATE.starting, STATE.stopped);
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    for (;;) {
      const state = Atomics.load(this.flags, CONTROL.state);
      const left = deadline - Date.now();
      if (state === STATE.stopped || left <= 0) break;
      Atomics.wait(this.flags, CONTROL.state, state, left);
    }
    void this.worker.terminate();
  }
}
