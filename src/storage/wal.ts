// The segmented write-ahead log of Raft entries: the facade RaftStorage
// (raft-storage.ts) uses. It holds the snapshot base and puts together the
// parts that own the rest, each in its own module:
//   wal-segment.ts     shared limits, the Segment record and its offset helpers
//   wal-recovery.ts    scanning and repairing the segments at start-up
//   wal-writer.ts      appends, rollover, truncation, compaction, group commit,
//                      the fail-stop state
//   wal-reader.ts      the entry cache, read-only descriptors, reads from disk
//   wal-term-index.ts  the term of every entry, as runs
// Formats are in record.ts.
//
// Durability rules, each of which recovery relies on:
// - A segment file appears under its final name only after its header is
//   fsynced (temp file, rename, directory fsync), so a bad header is damage.
// - Before the log rolls over to a new segment the old one is fdatasynced, so
//   only the last segment can have a torn tail after a crash.
// - A conflicting suffix is cut durably (later segments unlinked newest first,
//   directory fsynced, then ftruncate and fsync) before any new record is
//   written, so stale records can never reappear behind new ones.
// - sync() resolves only after an fdatasync that started after every write it
//   covers; after any failed write or fsync the log refuses everything.
//
// Owns: the snapshot base (index and term just before the log) and the checks
// that what is appended continues the log. Must not touch files itself: every
// file operation goes through the writer, the reader or recovery.

import type { Entry } from '../raft/types.js';
import { assert } from '../lib/assert.js';
import type { StorageFailedError } from './errors.js';
import type { FileIo } from './io.js';
import { WalReader } from './wal-reader.js';
import { recoverSegments } from './wal-recovery.js';
import type { Segment, WalLimits, WalRecoveryReport } from './wal-segment.js';
import { SegmentWriter } from './wal-writer.js';
import type { TermIndex } from './wal-term-index.js';

export type { StorageLogEvent, WalLimits, WalRecoveryReport } from './wal-segment.js';

export class Wal {
  /** Index and term of the entry just before the log (the snapshot's). */
  private baseIndex: number;
  private baseTerm: number;
  private readonly writer: SegmentWriter;
  private readonly reader: WalReader;

  private constructor(
    io: FileIo,
    dir: string,
    private readonly limits: WalLimits,
    segments: Segment[],
    private readonly terms: TermIndex,
    base: { index: number; term: number },
  ) {
    this.baseIndex = base.index;
    this.baseTerm = base.term;
    this.writer = new SegmentWriter(io, dir, limits, segments, {
      closeFile: (file) => this.reader.closeFile(file),
      closeAll: () => this.reader.close(),
    });
    this.reader = new WalReader(io, limits, this.writer);
  }

  /** Recovers the log in `dir` so that it continues the snapshot `base`: see recoverSegments (wal-recovery.ts). */
  static recover(...args: Parameters<typeof recoverSegments>): { wal: Wal; commitIndex: number; report: WalRecoveryReport } {
    const [io, dir, , limits, base] = args;
    const recovered = recoverSegments(...args);
    const wal = new Wal(io, dir, limits, recovered.segments, recovered.terms, base);
    return { wal, commitIndex: recovered.commitIndex, report: recovered.report };
  }

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.writer.lastIndex();
  }

  term(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseTerm;
    if (index < this.baseIndex || index > this.lastIndex()) return undefined;
    return this.terms.termAt(index);
  }

  /** Entries in [lo, hi) within maxBytes (at least one), from the cache or read back from disk. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.writer.checkOpen();
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi, `entries [${lo}, ${hi}) outside the log [${this.firstIndex()}, ${this.lastIndex()}]`);
    return this.reader.entries(lo, hi, maxBytes);
  }

  /**
   * Writes entries after truncating any conflicting suffix from entries[0].index.
   * Durable only after the next sync. `commitIndex` guards against cutting
   * committed entries, which would be a bug in the caller.
   */
  append(entries: readonly Entry[], commitIndex: number): void {
    this.writer.checkWritable();
    const first = entries[0];
    if (first === undefined) return;
    checkContiguous(entries, this.limits.maxEntryBytes);
    assert(first.index >= this.firstIndex() && first.index <= this.lastIndex() + 1,
      `append at ${first.index} outside [${this.firstIndex()}, ${this.lastIndex() + 1}]`);
    assert(first.index > commitIndex, `append at ${first.index} would cut committed entries (commit ${commitIndex})`);
    if (first.index <= this.lastIndex()) {
      this.writer.truncateFrom(first.index);
      this.terms.truncateFrom(first.index);
      this.reader.forgetFrom(first.index);
    }
    assert(first.term >= (this.term(first.index - 1) as number), `entry ${first.index} has term ${first.term} below its predecessor's`);
    this.writer.append(entries, (written) => {
      for (const entry of written) {
        this.terms.note(entry.index, entry.term);
        this.reader.remember(entry);
      }
    });
  }

  /** Records the commit index in the WAL with the next sync (cheaper than a hard-state file write). */
  noteCommit(commitIndex: number): void {
    this.writer.noteCommit(commitIndex);
  }

  /**
   * Makes every write before this call durable with one fdatasync shared by
   * all callers waiting at the time (group commit). Runs on the thread pool.
   */
  sync(): Promise<void> {
    return this.writer.sync();
  }

  /** The synchronous sync: blocks the event loop for one fdatasync. */
  syncNow(): void {
    this.writer.syncNow();
  }

  /** Drops the log up to `index` (a snapshot now covers it), deleting whole segments that lie below it. */
  compact(index: number, term: number): void {
    this.writer.checkWritable();
    assert(index >= this.baseIndex && index <= this.lastIndex() && this.term(index) === term,
      `compaction to ${index}/${term} does not match the log`);
    this.baseIndex = index;
    this.baseTerm = term;
    this.terms.dropBelow(index + 1);
    this.reader.forgetBelow(index + 1);
    this.writer.removeSegmentsThrough(index);
  }

  /** Discards the whole log: it restarts empty after (index, term), a snapshot installed from the leader. */
  reset(index: number, term: number): void {
    this.writer.checkWritable();
    this.writer.reset(index);
    this.baseIndex = index;
    this.baseTerm = term;
    this.terms.clear();
    this.reader.forgetAll();
  }

  /** The failure that stopped writes, if any. */
  failed(): StorageFailedError | undefined {
    return this.writer.failed();
  }

  /** Puts the log in the failed state for good (the first failure is kept) and rejects every waiting sync. */
  fail(operation: string, cause: unknown): StorageFailedError {
    return this.writer.fail(operation, cause);
  }

  /** Throws if the storage is closed or failed. */
  checkWritable(): void {
    this.writer.checkWritable();
  }

  /** Waits for an fdatasync in flight, then closes every file. Unsynced writes are not promised. */
  close(): Promise<void> {
    return this.writer.close();
  }
}

function checkContiguous(entries: readonly Entry[], maxEntryBytes: number): void {
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as Entry;
    assert(Number.isSafeInteger(entry.index) && entry.index >= 1 && Number.isSafeInteger(entry.term) && entry.term >= 1,
      `entry index ${entry.index} / term ${entry.term} must be positive safe integers`);
    assert(entry.data.byteLength <= maxEntryBytes, `entry ${entry.index} has ${entry.data.byteLength} data bytes, above the limit ${maxEntryBytes}`);
    const previous = entries[i - 1];
    if (previous !== undefined) {
      assert(entry.index === previous.index + 1, `entries not contiguous at ${entry.index}`);
      assert(entry.term >= previous.term, `entry ${entry.index} has a lower term than its predecessor`);
    }
  }
}
