// The segmented write-ahead log of Raft entries. Owns the segment files
// (`<first index as 16 hex digits>.wal`), the in-memory index of where each
// entry lies on disk, group commit and
// the fail-stop state. Recovery scanning is in wal-recovery.ts, the entry
// cache and reads from disk in wal-reader.ts, the term runs in
// wal-term-index.ts, the Segment record and its offset helpers in
// wal-segment.ts, formats in record.ts; the facade the node uses is
// RaftStorage (raft-storage.ts).
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

import type { Entry } from '../raft/types.js';
import { assert } from '../lib/assert.js';
import { StorageClosedError, StorageFailedError } from './errors.js';
import type { FileIo } from './io.js';
import { fsyncDirSync, writeAllSync } from './io.js';
import { encodeCommitRecord, encodeEntryRecord, entryRecordBytes } from './record.js';
import { WalReader } from './wal-reader.js';
import { recoverSegments } from './wal-recovery.js';
import {
  createSegmentFile, cutSegmentAt, deleteSegmentsNewestFirst, entryRecordOffset, pushOffset, segmentEndIndex, segmentHoldsEntry,
  segmentLastIndex,
} from './wal-segment.js';
import type { Segment, WalLimits, WalRecoveryReport } from './wal-segment.js';
import type { TermIndex } from './wal-term-index.js';

export type { StorageLogEvent, WalLimits, WalRecoveryReport } from './wal-segment.js';

interface SyncWaiter {
  readonly targetSequence: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}


export class Wal {
  /** Index and term of the entry just before the log (the snapshot's). */
  private baseIndex: number;
  private baseTerm: number;
  private lastIndexValue: number;
  private readonly segments: Segment[];
  private activeFd: number;
  private readonly reader: WalReader;
  /** Incremented by every write; durableSequence says how far fdatasync has covered. */
  private writtenSequence = 0;
  private durableSequence = 0;
  private syncInFlight = false;
  private readonly waiters: SyncWaiter[] = [];
  private readonly retiredFds: number[] = [];
  private commitToRecord = 0;
  private commitRecorded = 0;
  private failure: StorageFailedError | undefined;
  private closed = false;

  private constructor(
    private readonly io: FileIo,
    private readonly dir: string,
    private readonly limits: WalLimits,
    segments: Segment[],
    private readonly terms: TermIndex,
    base: { index: number; term: number },
  ) {
    this.segments = segments;
    this.baseIndex = base.index;
    this.baseTerm = base.term;
    const last = segments[segments.length - 1];
    assert(last !== undefined, 'a WAL has at least one segment');
    this.lastIndexValue = segmentLastIndex(last);
    this.activeFd = io.openSync(last.file, 'r+');
    this.reader = new WalReader(io, limits, {
      segmentHolding: (index) => this.segmentHolding(index),
      activeSegment: () => this.activeSegment(),
      activeFd: () => this.activeFd,
    });
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
    return this.lastIndexValue;
  }

  term(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseTerm;
    if (index < this.baseIndex || index > this.lastIndexValue) return undefined;
    return this.terms.termAt(index);
  }

  /** Entries in [lo, hi) within maxBytes (at least one), from the cache or read back from disk. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    this.checkOpen();
    assert(lo >= this.firstIndex() && hi <= this.lastIndexValue + 1 && lo <= hi, `entries [${lo}, ${hi}) outside the log [${this.firstIndex()}, ${this.lastIndexValue}]`);
    return this.reader.entries(lo, hi, maxBytes);
  }

  /**
   * Writes entries after truncating any conflicting suffix from entries[0].index.
   * Durable only after the next sync. `commitIndex` guards against cutting
   * committed entries, which would be a bug in the caller.
   */
  append(entries: readonly Entry[], commitIndex: number): void {
    this.checkWritable();
    const first = entries[0];
    if (first === undefined) return;
    checkContiguous(entries, this.limits.maxEntryBytes);
    assert(first.index >= this.firstIndex() && first.index <= this.lastIndexValue + 1,
      `append at ${first.index} outside [${this.firstIndex()}, ${this.lastIndexValue + 1}]`);
    assert(first.index > commitIndex, `append at ${first.index} would cut committed entries (commit ${commitIndex})`);
    if (first.index <= this.lastIndexValue) this.guard('truncate', () => this.truncateFrom(first.index));
    assert(first.term >= (this.term(first.index - 1) as number), `entry ${first.index} has term ${first.term} below its predecessor's`);
    let next = 0;
    while (next < entries.length) {
      const count = this.entriesFittingActiveSegment(entries, next);
      if (count === 0) {
        this.guard('segment rollover', () => this.rollOver());
        continue;
      }
      this.writeEntries(entries.slice(next, next + count));
      next += count;
    }
  }

  /** Records the commit index in the WAL with the next sync (cheaper than a hard-state file write). */
  noteCommit(commitIndex: number): void {
    this.commitToRecord = Math.max(this.commitToRecord, commitIndex);
  }

  /**
   * Makes every write before this call durable with one fdatasync shared by
   * all callers waiting at the time (group commit). Runs on the thread pool.
   */
  sync(): Promise<void> {
    try {
      this.checkWritable();
      this.writeCommitRecordIfNeeded();
    } catch (error) {
      return Promise.reject(error);
    }
    const targetSequence = this.writtenSequence;
    if (this.durableSequence >= targetSequence) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ targetSequence, resolve, reject });
      if (!this.syncInFlight) this.startSync();
    });
  }

  /** The synchronous sync: blocks the event loop for one fdatasync. */
  syncNow(): void {
    this.checkWritable();
    this.writeCommitRecordIfNeeded();
    if (this.durableSequence >= this.writtenSequence) return;
    const target = this.writtenSequence;
    this.guard('fdatasync', () => this.io.fdatasyncSync(this.activeFd));
    this.markDurable(target);
  }

  /** Drops the log up to `index` (a snapshot now covers it), deleting whole segments that lie below it. */
  compact(index: number, term: number): void {
    this.checkWritable();
    assert(index >= this.baseIndex && index <= this.lastIndexValue && this.term(index) === term,
      `compaction to ${index}/${term} does not match the log`);
    this.baseIndex = index;
    this.baseTerm = term;
    this.terms.dropBelow(index + 1);
    this.reader.forgetBelow(index + 1);
    const doomed: Segment[] = [];
    while (this.segments.length > 1 && (this.segments[1] as Segment).firstIndex <= index + 1) {
      doomed.push(this.segments.shift() as Segment);
    }
    if (doomed.length === 0) return;
    this.guard('compaction', () => {
      for (const segment of doomed) {
        this.reader.closeFile(segment.file);
        this.io.unlinkSync(segment.file);
      }
      fsyncDirSync(this.io, this.dir);
    });
  }

  /** Discards the whole log: it restarts empty after (index, term), a snapshot installed from the leader. */
  reset(index: number, term: number): void {
    this.checkWritable();
    this.guard('log reset', () => {
      const old = this.segments.splice(0, this.segments.length);
      this.retireFd(this.activeFd);
      for (const segment of old) this.reader.closeFile(segment.file);
      deleteSegmentsNewestFirst(this.io, this.dir, old);
      const fresh = createSegmentFile(this.io, this.dir, index + 1);
      this.segments.push(fresh);
      this.activeFd = this.io.openSync(fresh.file, 'r+');
      // Everything written before is now either durable or deleted.
      this.markDurable(this.writtenSequence);
    });
    this.baseIndex = index;
    this.baseTerm = term;
    this.lastIndexValue = index;
    this.terms.clear();
    this.reader.forgetAll();
    this.commitRecorded = 0;
  }

  /** The failure that stopped writes, if any. */
  failed(): StorageFailedError | undefined {
    return this.failure;
  }

  /** Waits for an fdatasync in flight, then closes every file. Unsynced writes are not promised. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.syncInFlight) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new StorageClosedError());
    this.reader.close();
    this.closeRetiredFds();
    this.io.closeSync(this.activeFd);
  }

  // --- writing ---------------------------------------------------------

  private entriesFittingActiveSegment(entries: readonly Entry[], from: number): number {
    const active = this.activeSegment();
    let sizeBytes = active.sizeBytes;
    let count = 0;
    for (let i = from; i < entries.length; i++) {
      sizeBytes += entryRecordBytes(entries[i] as Entry);
      // An empty segment takes one entry whatever its size, so rollover never repeats a first index.
      if (sizeBytes > this.limits.segmentSizeBytes && (count > 0 || active.count > 0)) break;
      count++;
    }
    return count;
  }

  private writeEntries(entries: readonly Entry[]): void {
    const active = this.activeSegment();
    let totalBytes = 0;
    for (const entry of entries) totalBytes += entryRecordBytes(entry);
    const buffer = Buffer.allocUnsafe(totalBytes);
    const offsets: number[] = [];
    let offset = 0;
    for (const entry of entries) {
      offsets.push(active.sizeBytes + offset);
      offset = encodeEntryRecord(entry, buffer, offset);
    }
    this.guard('write', () => writeAllSync(this.io, this.activeFd, buffer, active.sizeBytes));
    this.writtenSequence++;
    active.sizeBytes += totalBytes;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as Entry;
      pushOffset(active, offsets[i] as number);
      this.terms.note(entry.index, entry.term);
      this.reader.remember(entry);
    }
    this.lastIndexValue = (entries[entries.length - 1] as Entry).index;
  }

  private writeCommitRecordIfNeeded(): void {
    const commit = Math.min(this.commitToRecord, this.lastIndexValue);
    if (commit <= this.commitRecorded) return;
    const active = this.activeSegment();
    const record = encodeCommitRecord(commit);
    this.guard('write', () => writeAllSync(this.io, this.activeFd, record, active.sizeBytes));
    this.writtenSequence++;
    active.sizeBytes += record.length;
    this.commitRecorded = commit;
  }

  private rollOver(): void {
    // The old segment must be complete on disk before a newer one exists.
    this.io.fdatasyncSync(this.activeFd);
    this.markDurable(this.writtenSequence);
    const fresh = createSegmentFile(this.io, this.dir, this.lastIndexValue + 1);
    this.retireFd(this.activeFd);
    this.segments.push(fresh);
    this.activeFd = this.io.openSync(fresh.file, 'r+');
    this.commitRecorded = 0;
  }

  private truncateFrom(index: number): void {
    if (this.writtenSequence > this.durableSequence) {
      this.io.fdatasyncSync(this.activeFd);
    }
    const keep = this.segments.findIndex((segment) => segmentEndIndex(segment) > index);
    const target = this.segments[keep];
    assert(target !== undefined && target.firstIndex <= index, `no segment holds entry ${index}`);
    const doomed = this.segments.splice(keep + 1);
    if (doomed.length > 0) {
      this.retireFd(this.activeFd);
      for (const segment of doomed) this.reader.closeFile(segment.file);
      deleteSegmentsNewestFirst(this.io, this.dir, doomed);
      this.reader.closeFile(target.file);
      this.activeFd = this.io.openSync(target.file, 'r+');
    }
    this.io.ftruncateSync(this.activeFd, entryRecordOffset(target, index));
    this.io.fsyncSync(this.activeFd);
    this.markDurable(this.writtenSequence);
    cutSegmentAt(target, index);
    this.lastIndexValue = index - 1;
    this.terms.truncateFrom(index);
    this.reader.forgetFrom(index);
    this.commitRecorded = 0;
  }

  // --- group commit ----------------------------------------------------

  private startSync(): void {
    const targetSequence = this.writtenSequence;
    this.syncInFlight = true;
    this.io.fdatasync(this.activeFd, (error) => {
      this.syncInFlight = false;
      this.closeRetiredFds();
      if (this.failure !== undefined || this.closed) return;
      if (error) {
        this.fail('fdatasync', error);
        return;
      }
      this.markDurable(targetSequence);
      if (this.waiters.length > 0) this.startSync();
    });
  }

  private markDurable(sequence: number): void {
    this.durableSequence = Math.max(this.durableSequence, sequence);
    while (this.waiters.length > 0 && (this.waiters[0] as SyncWaiter).targetSequence <= this.durableSequence) {
      (this.waiters.shift() as SyncWaiter).resolve();
    }
  }

  /** Runs a file operation; any error puts the log in the failed state for good. */
  private guard(operation: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      if (error instanceof StorageFailedError) throw error;
      throw this.fail(operation, error);
    }
  }

  /** Puts the log in the failed state for good (the first failure is kept) and rejects every waiting sync. */
  fail(operation: string, cause: unknown): StorageFailedError {
    this.failure ??= new StorageFailedError(operation, cause);
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
    return this.failure;
  }

  private checkOpen(): void {
    if (this.closed) throw new StorageClosedError();
  }

  /** Throws if the storage is closed or failed. */
  checkWritable(): void {
    this.checkOpen();
    if (this.failure !== undefined) throw this.failure;
  }

  /** A file descriptor an fdatasync may still be using is closed only once it returns. */
  private retireFd(fd: number): void {
    if (this.syncInFlight) this.retiredFds.push(fd);
    else this.io.closeSync(fd);
  }

  private closeRetiredFds(): void {
    for (const fd of this.retiredFds.splice(0)) this.io.closeSync(fd);
  }

  // --- reading ---------------------------------------------------------

  private activeSegment(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  private segmentHolding(index: number): Segment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.segments[mid] as Segment).firstIndex <= index) lo = mid;
      else hi = mid - 1;
    }
    const segment = this.segments[lo] as Segment;
    assert(segmentHoldsEntry(segment, index), `entry ${index} is in no segment`);
    return segment;
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
