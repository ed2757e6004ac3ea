// The Raft log as the core sees it: the durable part (read through the
// LogStorage interface) followed by the unstable tail that the driver has not
// persisted yet, plus the commit and applied indexes (Raft §5.3, §5.4, §7).
// Entries move from the tail to storage when the driver reports them stable.

import { assert, AssertionFailure } from '../lib/assert.js';
import { limitSize, type LogStorage } from './storage.js';
import type { Entry, SnapshotMeta } from './types.js';
import { UnstableTail } from './unstable.js';

export class RaftLog {
  readonly unstable: UnstableTail;
  /** Highest index known to be committed. */
  committed: number;
  /** Highest index handed to the application (and applied once it calls advance). */
  applied: number;

  constructor(
    readonly storage: LogStorage,
    committed: number,
    applied: number,
    private readonly maxCommittedBytesPerReady: number,
  ) {
    this.unstable = new UnstableTail(storage.lastIndex() + 1);
    // The state machine holds at least the snapshot (the log may keep a tail below it).
    const snapshotIndex = storage.snapshotMeta().index;
    this.applied = Math.max(applied, snapshotIndex);
    // The state machine may have applied past the last commit index persisted
    // with the hard state: whatever it applied was committed.
    this.committed = Math.max(committed, this.applied);
    assert(this.committed <= this.lastIndex(), `commit ${this.committed} beyond last index ${this.lastIndex()}`);
    assert(this.applied <= this.committed, `applied ${this.applied} beyond commit ${this.committed}`);
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, 'last term unavailable');
    return term;
  }

  /** The term at index, or undefined when it is compacted or beyond the log. */
  term(index: number): number | undefined {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: the candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Index of the last entry persisted and still part of the log. */
  stableLastIndex(): number {
    if (this.unstable.snapshot) return 0;
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex());
  }

  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = (entries[0] as Entry).index - 1;
    assert(after >= this.committed, `append after ${after} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * The follower's side of AppendEntries (§5.3): if our log holds prevIndex at
   * prevTerm, append the entries (cutting any conflicting suffix) and return the
   * index of the last new entry; otherwise undefined.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    entries.forEach((entry, i) => {
      assert(entry.index === prevIndex + 1 + i, `appended entry ${entry.index} does not follow ${prevIndex + i}`);
      assert(entry.term >= prevTerm && entry.term >= (entries[i - 1]?.term ?? 0), `appended entry ${entry.index} has a term below the one before it`);
    });
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed ${this.committed}`);
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** The index of the first entry that is new or differs from ours; 0 if none. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= index whose term is <= term (or the first index - 1).
   * Used to skip whole terms of conflicting entries in one round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    const floor = this.firstIndex() - 1;
    for (; i > floor; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) return { index: i, term: t ?? 0 };
    }
    return { index: floor, term: this.term(floor) ?? 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Commits up to maxIndex only if that entry is from `term` (§5.4.2). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Entries in [lo, hi) with at most maxBytes (at least one); undefined if compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, `slice [${lo},${hi}) beyond last index ${this.lastIndex()}`);
    const out: Entry[] = [];
    const unstableStart = this.unstable.offset;
    if (lo < unstableStart) {
      const stored = this.storage.entries(lo, Math.min(hi, unstableStart), maxBytes);
      out.push(...stored);
      // Storage stopped early for size: that is the whole answer.
      if (stored.length < Math.min(hi, unstableStart) - lo) return out;
    }
    if (hi > unstableStart) {
      out.push(...this.unstable.slice(Math.max(lo, unstableStart), hi));
    }
    return limitSize(out, maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    return this.committed >= lo;
  }

  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed < lo) return [];
    const entries = this.slice(lo, this.committed + 1, this.maxCommittedBytesPerReady);
    if (entries === undefined) throw new AssertionFailure(`committed entries from ${lo} were compacted`);
    return entries;
  }

  appliedTo(index: number): void {
    // A snapshot restored meanwhile may already have moved applied past index.
    if (index <= this.applied) return;
    assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    this.applied = index;
  }

  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  restore(meta: SnapshotMeta): void {
    this.committed = meta.index;
    this.applied = meta.index;
    this.unstable.restore(meta);
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }
}
