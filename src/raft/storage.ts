// The read-only view of durable Raft state that the core needs: the log after
// the last snapshot, the snapshot's metadata and the hard state. The driver
// owns the writing side (WAL, snapshot files); the core only reads. Modelled on
// etcd/raft's Storage interface.

import type { ConfState, Entry, HardState, SnapshotMeta } from './types.js';

export interface LogStorage {
  /** The hard state and the membership as of the latest snapshot, at start-up. */
  initialState(): { hardState: HardState; conf: ConfState };
  /**
   * Entries in [lo, hi), at least one if lo < hi, stopping early once their
   * data adds up to more than maxBytes. lo must be >= firstIndex() and
   * hi <= lastIndex() + 1.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /**
   * The term of the entry at index, for firstIndex()-1 <= index <= lastIndex();
   * undefined outside that range.
   */
  term(index: number): number | undefined;
  /**
   * The first index still in the log: snapshot index + 1, or lower when
   * compaction keeps a catch-up tail of entries the snapshot already covers.
   */
  firstIndex(): number;
  /** The last index in the log; snapshot index when the log is empty. */
  lastIndex(): number;
  /** Metadata of the latest snapshot (index 0 and term 0 before the first one). */
  snapshotMeta(): SnapshotMeta;
}

/** What an entry costs beyond its data: term, index and type as they travel (an estimate, the same everywhere). */
const ENTRY_HEADER_BYTES = 24;

/** The bytes an entry counts for in every size limit: batches, messages, the uncommitted budget. */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_HEADER_BYTES;
}

export function entriesSizeBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += entrySizeBytes(entry);
  return total;
}

/** Cuts a list of entries so that its size stays within maxBytes, keeping at least one. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    total += entrySizeBytes(entries[i] as Entry);
    if (total > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}
