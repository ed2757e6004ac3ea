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
  /** entries[i] has index meta.index + 1 + i. */
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
    return this.meta.index + 1;
  }

  lastIndex(): number {
    return this.meta.index + this.log.length;
  }

  term(index: number): number | undefined {
    if (index === this.meta.index) return this.meta.term;
    if (index < this.meta.index || index > this.lastIndex()) return undefined;
    return this.log[index - this.meta.index - 1]?.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `entries [${lo},${hi}) outside the log`);
    const base = this.meta.index + 1;
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
    this.log.length = first.index - this.meta.index - 1;
    this.log.push(...entries);
  }

  /** Replaces everything with a received snapshot. */
  installSnapshot(meta: SnapshotMeta, data: Uint8Array): void {
    this.meta = meta;
    this.snapshotData = data;
    this.log = [];
  }

  /** Records a snapshot taken at an applied index and drops the log up to it. */
  compact(meta: SnapshotMeta, data: Uint8Array): void {
    assert(meta.index >= this.meta.index && meta.index <= this.lastIndex(), `compact to ${meta.index} outside the log`);
    assert(this.term(meta.index) === meta.term, `snapshot term ${meta.term} differs from log at ${meta.index}`);
    this.log = this.log.slice(meta.index - this.meta.index);
    this.meta = meta;
    this.snapshotData = data;
  }

  /** A deep copy: what survives a crash is exactly what was persisted. */
  clone(): MemoryStorage {
    const copy = new MemoryStorage(this.meta.conf);
    copy.hardState = this.hardState;
    copy.meta = this.meta;
    copy.snapshotData = this.snapshotData;
    copy.log = [...this.log];
    return copy;
  }
}
