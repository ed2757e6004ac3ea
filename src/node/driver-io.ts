// The driver's I/O as small interfaces, so that the simulator can run the
// same LedgerNode with a virtual clock and timers, in-memory storage and a
// simulated network: Scheduler (timers), DriverStorage (the Raft log, hard
// state and snapshot files), plus Clock and Transport defined beside the node. The real
// implementations are here too.

import path from 'node:path';
import type { LogStorage } from '../raft/storage.js';
import type { Entry, HardState, SnapshotMeta } from '../raft/types.js';
import { RaftStorage, type RaftStorageOptions } from '../storage/raft-storage.js';
import type { SnapshotSource } from './transport.js';

/** Timers. `defer` runs a function after the current turn (group commit). */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  defer(fn: () => void): void;
}

export const systemScheduler: Scheduler = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
  defer: (fn) => setImmediate(fn),
};

export function sleep(scheduler: Scheduler, ms: number): Promise<void> {
  return new Promise((resolve) => scheduler.setTimeout(resolve, ms));
}

/** A stored snapshot, verified, open for chunked reads. */
export interface StoredSnapshot extends SnapshotSource {
  /** Received: the ledger holds its image, and the data is only the image's descriptor (nothing to stream). */
  readonly detached: boolean;
}

/** What the driver reads and writes of the durable Raft state. */
export interface DriverStorage extends LogStorage {
  hardState(): HardState;
  /** Recovery cut a damaged tail: acknowledged entries may be gone. */
  readonly recoveredWithLoss: boolean;
  append(entries: readonly Entry[]): void;
  setHardState(hardState: HardState): void;
  /** One fsync for everything written before the call. */
  sync(): Promise<void>;
  syncNow(): void;
  /**
   * Our own snapshot at an applied index; compacts the log below it but for
   * `keepEntries` entries (a catch-up tail). At the index of a detached
   * snapshot it gives that snapshot an image.
   */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array, keepEntries?: number): void;
  /** Whether the newest snapshot is detached (received: its image is the ledger's). */
  snapshotIsDetached(): boolean;
  /** The snapshot at `index`, verified, for chunked reads: streamed to a follower, or restored into the ledger at start-up. */
  openSnapshotReader(index: number): StoredSnapshot;
  /**
   * A leader's snapshot the core accepted, whose image the ledger received
   * itself: records its metadata and the image's `descriptor` durably (a
   * detached snapshot) and discards the log, which restarts after meta.index.
   */
  installSnapshot(meta: SnapshotMeta, descriptor: Uint8Array): void;
  close(): Promise<void>;
}

/** DriverStorage on real files: the WAL, hard state and snapshot files of src/storage. */
export class FileDriverStorage implements DriverStorage {
  private constructor(private readonly raft: RaftStorage) {}

  static open(dataDir: string, options: RaftStorageOptions): FileDriverStorage {
    return new FileDriverStorage(RaftStorage.open(path.join(dataDir, 'raft'), options));
  }

  get recoveredWithLoss(): boolean {
    return this.raft.recovery.tailCut !== undefined;
  }

  initialState(): ReturnType<LogStorage['initialState']> {
    return this.raft.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.raft.entries(lo, hi, maxBytes);
  }
  term(index: number): number | undefined {
    return this.raft.term(index);
  }
  firstIndex(): number {
    return this.raft.firstIndex();
  }
  lastIndex(): number {
    return this.raft.lastIndex();
  }
  snapshotMeta(): SnapshotMeta {
    return this.raft.snapshotMeta();
  }
  hardState(): HardState {
    return this.raft.hardState();
  }
  append(entries: readonly Entry[]): void {
    this.raft.append(entries);
  }
  setHardState(hardState: HardState): void {
    this.raft.setHardState(hardState);
  }
  sync(): Promise<void> {
    return this.raft.sync();
  }
  syncNow(): void {
    this.raft.syncNow();
  }
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array, keepEntries = 0): void {
    this.raft.saveSnapshot(meta, data, keepEntries);
  }
  snapshotIsDetached(): boolean {
    return this.raft.snapshotIsDetached();
  }
  openSnapshotReader(index: number): StoredSnapshot {
    return this.raft.openSnapshotReader(index);
  }
  installSnapshot(meta: SnapshotMeta, descriptor: Uint8Array): void {
    this.raft.installSnapshot(meta, descriptor);
  }

  close(): Promise<void> {
    return this.raft.close();
  }
}
