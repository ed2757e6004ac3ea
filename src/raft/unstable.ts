// The unstable tail of the Raft log: entries appended (by this leader or
// from an AppendEntries) and a snapshot received, that the driver has not
// persisted yet. It owns only that tail and its offset; RaftLog puts it after
// the durable log in storage, and the driver's advance() moves entries out of
// it once they are on disk (etcd/raft's log_unstable.go).

import { assert } from '../lib/assert.js';
import type { Entry, SnapshotMeta } from './types.js';

/** Entries and an incoming snapshot that the driver has not persisted yet. */
export class UnstableTail {
  snapshot: SnapshotMeta | undefined = undefined;
  entries: Entry[] = [];
  /** The index of entries[0] (or where it would be). */
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.index === index) return this.snapshot.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]?.term;
  }

  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined) return;
    // Only if the entry persisted is still the one at that index: a later
    // append may have replaced it while the driver was writing.
    if (t === term && index >= this.offset) {
      this.entries = this.entries.slice(index + 1 - this.offset);
      this.offset = index + 1;
    }
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.index === index) this.snapshot = undefined;
  }

  restore(meta: SnapshotMeta): void {
    this.offset = meta.index + 1;
    this.entries = [];
    this.snapshot = meta;
  }

  truncateAndAppend(entries: readonly Entry[]): void {
    const first = (entries[0] as Entry).index;
    if (first === this.offset + this.entries.length) {
      this.entries.push(...entries);
    } else if (first <= this.offset) {
      // Replaces the whole tail (and some stable entries, which the driver truncates).
      this.offset = first;
      this.entries = [...entries];
    } else {
      this.entries = this.entries.slice(0, first - this.offset);
      this.entries.push(...entries);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length, `unstable slice [${lo},${hi}) out of bounds`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
