// DriverStorage in memory for the driver simulation, with crash semantics: a
// sync makes what was written before it durable after a simulated fsync
// delay, and `durableCopy()` is exactly what a crash at this instant keeps.

import { assert } from '../../src/lib/assert.js';
import type { DriverStorage, StoredSnapshot } from '../../src/node/driver-io.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { ConfState, Entry, HardState, SnapshotMeta } from '../../src/raft/types.js';
import { crc32c } from '../../src/storage/crc32c.js';

export class MemoryDriverStorage implements DriverStorage {
  readonly recoveredWithLoss = false;

  constructor(
    private current: MemoryStorage,
    private durable: MemoryStorage,
    /** Schedules the completion of an fsync (the simulation picks the delay). */
    private readonly fsync: (done: () => void) => void,
    /** The newest snapshot is a received one: its data is the ledger's descriptor, the image is the ledger's. */
    private detached = false,
    private durableDetached = detached,
  ) {}

  static fresh(fsync: (done: () => void) => void, bootstrap?: readonly string[]): MemoryDriverStorage {
    const storage = bootstrap ? MemoryStorage.bootstrap(bootstrap) : new MemoryStorage();
    return new MemoryDriverStorage(storage, storage.clone(), fsync);
  }

  /** What survives a crash now, as the storage a restarted node opens. */
  durableCopy(fsync: (done: () => void) => void): MemoryDriverStorage {
    return new MemoryDriverStorage(this.durable.clone(), this.durable.clone(), fsync, this.durableDetached);
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return this.current.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.current.entries(lo, hi, maxBytes);
  }
  term(index: number): number | undefined {
    return this.current.term(index);
  }
  firstIndex(): number {
    return this.current.firstIndex();
  }
  lastIndex(): number {
    return this.current.lastIndex();
  }
  snapshotMeta(): SnapshotMeta {
    return this.current.snapshotMeta();
  }
  hardState(): HardState {
    return this.current.hardState;
  }
  append(entries: readonly Entry[]): void {
    this.current.append(entries);
  }
  setHardState(hardState: HardState): void {
    this.current.setHardState(hardState);
  }

  sync(): Promise<void> {
    const image = this.current.clone();
    return new Promise((resolve) =>
      this.fsync(() => {
        this.durable = image;
        resolve();
      }),
    );
  }

  syncNow(): void {
    this.durable = this.current.clone();
  }

  saveSnapshot(meta: SnapshotMeta, data: Uint8Array, keepEntries = 0): void {
    // Written and synced before it returns, like the snapshot file.
    assert(meta.index > this.current.snapshotMeta().index || this.detached, `snapshot at ${meta.index} is not newer`);
    this.current.compact(meta, data, keepEntries);
    if (this.durable.lastIndex() >= meta.index && this.durable.term(meta.index) === meta.term) {
      this.durable.compact(meta, data);
      this.durableDetached = false;
    }
    this.detached = false;
  }

  snapshotIsDetached(): boolean {
    return this.detached;
  }

  openSnapshotReader(index: number): StoredSnapshot {
    const meta = this.current.snapshotMeta();
    if (meta.index !== index) throw new Error(`snapshot ${index} is gone (latest ${meta.index})`);
    return sourceOf(meta, this.current.snapshotData, this.detached);
  }

  installSnapshot(meta: SnapshotMeta, descriptor: Uint8Array): void {
    assert(meta.index > this.current.snapshotMeta().index, `snapshot at ${meta.index} is not newer`);
    this.current.installSnapshot(meta, descriptor);
    this.durable.installSnapshot(meta, descriptor);
    this.detached = true;
    this.durableDetached = true;
  }

  async close(): Promise<void> {}
}

/** Snapshot data held in memory, read in chunks like a snapshot file. */
function sourceOf(meta: SnapshotMeta, data: Uint8Array, detached: boolean): StoredSnapshot {
  return {
    meta,
    detached,
    dataBytes: data.byteLength,
    dataCrc32c: crc32c(data),
    read: (offset, length) => data.subarray(offset, offset + length),
    close: () => {},
  };
}
