// DriverStorage in memory for the driver simulation, with crash semantics: a
// sync makes what was written before it durable after a simulated fsync
// delay, and `durableCopy()` is exactly what a crash at this instant keeps.

import { assert } from '../../src/lib/assert.js';
import type { DriverStorage } from '../../src/node/driver-io.js';
import type { SnapshotSink, SnapshotSource } from '../../src/node/transport.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import type { ConfState, Entry, HardState, NodeId, SnapshotMeta } from '../../src/raft/types.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { MAX_STAGED_SNAPSHOTS } from '../../src/storage/raft-storage.js';

export class MemoryDriverStorage implements DriverStorage {
  readonly recoveredWithLoss = false;
  /** Received snapshots by `index/term`, as the file storage keeps them: a later one never removes an earlier one. */
  private readonly staged = new Map<string, { meta: SnapshotMeta; data: Uint8Array }>();

  constructor(
    private current: MemoryStorage,
    private durable: MemoryStorage,
    /** Schedules the completion of an fsync (the simulation picks the delay). */
    private readonly fsync: (done: () => void) => void,
  ) {}

  static fresh(fsync: (done: () => void) => void, bootstrap?: readonly string[]): MemoryDriverStorage {
    const storage = bootstrap ? MemoryStorage.bootstrap(bootstrap) : new MemoryStorage();
    return new MemoryDriverStorage(storage, storage.clone(), fsync);
  }

  /** What survives a crash now, as the storage a restarted node opens. */
  durableCopy(fsync: (done: () => void) => void): MemoryDriverStorage {
    return new MemoryDriverStorage(this.durable.clone(), this.durable.clone(), fsync);
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
    this.current.compact(meta, data, keepEntries);
    for (const [key, staged] of this.staged) if (staged.meta.index <= meta.index) this.staged.delete(key);
    if (this.durable.lastIndex() >= meta.index && this.durable.term(meta.index) === meta.term) this.durable.compact(meta, data);
  }

  openSnapshotReader(index: number): SnapshotSource {
    const meta = this.current.snapshotMeta();
    if (meta.index !== index) throw new Error(`snapshot ${index} is gone (latest ${meta.index})`);
    return sourceOf(meta, this.current.snapshotData);
  }

  stageSnapshot(_from: NodeId, meta: SnapshotMeta): SnapshotSink {
    const chunks: Uint8Array[] = [];
    return {
      write: (chunk) => {
        chunks.push(Uint8Array.from(chunk));
      },
      commit: (expected) => {
        const data = Buffer.concat(chunks);
        if (crc32c(data) !== expected) throw new Error('snapshot checksum mismatch');
        if (this.staged.size >= MAX_STAGED_SNAPSHOTS) throw new Error('too many received snapshots await installation');
        this.staged.set(`${meta.index}/${meta.term}`, { meta, data });
      },
      abort: () => {
        chunks.length = 0;
      },
    };
  }

  installStagedSnapshot(meta: SnapshotMeta): SnapshotSource {
    const staged = this.staged.get(`${meta.index}/${meta.term}`);
    assert(staged !== undefined, `snapshot ${meta.index} was not received`);
    for (const [key, other] of this.staged) if (other.meta.index <= meta.index) this.staged.delete(key);
    this.current.installSnapshot(meta, staged.data);
    this.durable.installSnapshot(meta, staged.data);
    return sourceOf(meta, staged.data);
  }

  async close(): Promise<void> {}
}

/** Snapshot data held in memory, read in chunks like a snapshot file. */
function sourceOf(meta: SnapshotMeta, data: Uint8Array): SnapshotSource {
  return {
    meta,
    dataBytes: data.byteLength,
    dataCrc32c: crc32c(data),
    read: (offset, length) => data.subarray(offset, offset + length),
    close: () => {},
  };
}
