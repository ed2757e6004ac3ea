// The shared memory between checkpointer.ts (main thread) and
// checkpoint-worker.ts (its thread): one Int32Array of these slots.

export const CONTROL = {
  /** Set to 1 by the main thread to ask the worker to close and exit. */
  stop: 0,
  /** One of STATE, set by the worker. */
  state: 1,
  /** Checkpoints run. */
  checkpoints: 2,
  /** Checkpoints (or the worker's start) that failed. */
  failures: 3,
} as const;
export const CONTROL_SLOTS = 4;

export const STATE = { starting: 0, running: 1, stopped: 2 } as const;

export interface CheckpointWorkerInit {
  readonly path: string;
  readonly control: SharedArrayBuffer;
  readonly intervalMs: number;
}
