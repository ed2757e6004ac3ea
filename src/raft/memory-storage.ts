// An in-memory LogStorage with the write side a driver needs: used by the
// simulator and by unit tests, never by a real node (see src/storage/).

import { assert } from '../lib/assert.js';
import { bootstrapLog } from './membership.js';
import { limitSize, type LogStorage } from './storage.js';
import { EMPTY_HARD_STATE, type ConfState, type Entry, type HardState, type SnapshotMeta } from './types.js';

export class MemoryStorage implements LogStorage {
  hardState: HardState = EMPTY_HARD_STATE;
  private meta: SnapshotMeta;
  snapshotData: Uint8Array = new Uint8Array(0);
  /**
   * The entry before the first one kept: the snapshot's own index, or lower
   * when compaction keeps a catch-up tail below the snapshot (as etcd does).
   */
  private floor: { index: number; term: number } = { index: 0, term: 0 };
  /** entries[i] has index floor.index + 1 + i. */
  private log: Entry[] = [];

  constructor(initialConf: ConfState = { voters: [], learners: [] }) {
    this.meta = { index: 0, term: 0, conf: initialConf };
  }

  /** A founding member's storage: the bootstrap entries that name the initial voters. */
  static bootstrap(voters: readonly string[]): MemoryStorage {
    const storage = new MemoryStorage();
    const { entries, hardState } = bootstrapLog(voters);
    storage.append(entries);
    storage.hardState = hardState;
    return storage;
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hardState, conf: this.meta.conf };
  }

  firstIndex(): number {
    return this.floor.index + 1;
  }

  lastIndex(): number {
    return this.floor.index + this.log.length;
  }

  term(index: number): number | undefined {
    if (index === this.floor.index) return this.floor.term;
    if (index < this.floor.index || index > this.lastIndex()) return undefined;
    return this.log[index - this.floor.index - 1]?.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `entries [${lo},${hi}) outside the log`);
    const base = this.floor.index + 1;
    return limitSize(this.log.slice(lo - base, hi - base), maxBytes);
  }

  snapshotMeta(): SnapshotMeta {
    return this.meta;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** Appends entries, replacing any suffix they overlap. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (!first) return;
    assert(first.index > this.meta.index, `append at ${first.index} below snapshot ${this.meta.index}`);
    assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    this.log.length = first.index - this.floor.index - 1;
    this.log.push(...entries);
  }

  /** Replaces everything with a received snapshot. */
  installSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    this.meta = meta;
    this.floor = { index: meta.index, term: meta.term };
    this.snapshotData = data;
    this.log = [];
  }

  /**
   * Records a snapshot taken at an applied index and drops the log up to it,
   * except for the last `keepEntries` entries at or below it: a follower that
   * is only that far behind catches up from the log, not from a snapshot.
   */
  compact(meta: SnapshotMeta, data: Uint8Array, keepEntries = 0): void {
    assert(meta.index >= this.meta.index && meta.index <= this.lastIndex(), `compact to ${meta.index} outside the log`);
    assert(this.term(meta.index) === meta.term, `snapshot term ${meta.term} differs from log at ${meta.index}`);
    assert(Number.isSafeInteger(keepEntries) && keepEntries >= 0, `keepEntries ${keepEntries} must be a count`);
    const floorIndex = Math.max(this.floor.index, meta.index - keepEntries);
    const floorTerm = this.term(floorIndex) as number;
    this.log = this.log.slice(floorIndex - this.floor.index);
    this.floor = { index: floorIndex, term: floorTerm };
    this.meta = meta;
    this.snapshotData = data;
  }

  /** A deep copy: what survives a crash is exactly what was persisted. */
  clone(): MemoryStorage {
    const copy = new MemoryStorage(this.meta.conf);
    copy.hardState = this.hardState;
    copy.meta = this.meta;
    copy.floor = this.floor;
    copy.snapshotData = this.snapshotData;
    copy.log = [...this.log];
    return copy;
  }
}
