// What the main thread and snapshot-worker.ts share: the worker's input, its
// answer, and the one shared state slot a restore waits on.

export interface SnapshotWorkerInit {
  readonly path: string;
  /** One Int32 slot: SNAPSHOT_WORKER_DONE once the worker's connection is closed. */
  readonly state: SharedArrayBuffer;
}

export interface SnapshotWorkerResult {
  readonly appliedIndex: number;
  readonly chainHead: string;
  /** The encoded snapshot (snapshot.ts). */
  readonly bytes: Uint8Array;
}

export const SNAPSHOT_WORKER_DONE = 1;
