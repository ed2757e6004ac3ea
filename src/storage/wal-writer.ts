// The segment writer: the list of segment files and the one open for
// appending, writing entry and commit records, rolling over to a new segment,
// cutting a conflicting suffix durably, removing segments below a snapshot,
// and group commit (one fdatasync shared by every sync() waiting at the
// time). It also holds the fail-stop state: after any failed write or fsync
// it refuses everything.
//
// Owns: the segments, the active segment's descriptor, the write and
// durability sequence numbers, the sync waiters, the failure and closed
// flags. Must not touch: the entry cache and the read-only descriptors (the
// reader's; it only asks the reader, through ReadFileRelease, to close a
// segment's descriptor before the file goes away or becomes the active one),
// term runs, the snapshot base. It does not check that entries follow the
// log (the Wal does, before it calls append).

import type { Entry } from '../raft/types.js';
import { assert } from '../lib/assert.js';
import { StorageClosedError, StorageFailedError } from './errors.js';
import type { FileIo } from './io.js';
import { fsyncDirSync, writeAllSync } from './io.js';
import { encodeCommitRecord, encodeEntryRecord, entryRecordBytes } from './record.js';
import {
  createSegmentFile, cutSegmentAt, deleteSegmentsNewestFirst, entryRecordOffset, pushOffset, segmentEndIndex, segmentHoldsEntry,
  segmentLastIndex,
} from './wal-segment.js';
import type { Segment, WalLimits } from './wal-segment.js';
import type { SegmentLookup } from './wal-reader.js';

/** What the writer may ask of the reader: to let go of segment files. */
export interface ReadFileRelease {
  closeFile(file: string): void;
  closeAll(): void;
}

interface SyncWaiter {
  readonly targetSequence: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class SegmentWriter implements SegmentLookup {
  private readonly segments: Segment[];
  private activeFdValue: number;
  private lastIndexValue: number;
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

  constructor(
    private readonly io: FileIo,
    private readonly dir: string,
    private readonly limits: WalLimits,
    segments: Segment[],
    private readonly readFiles: ReadFileRelease,
  ) {
    this.segments = segments;
    const last = segments[segments.length - 1];
    assert(last !== undefined, 'a WAL has at least one segment');
    this.lastIndexValue = segmentLastIndex(last);
    this.activeFdValue = io.openSync(last.file, 'r+');
  }

  lastIndex(): number {
    return this.lastIndexValue;
  }

  activeSegment(): Segment {
    return this.segments[this.segments.length - 1] as Segment;
  }

  activeFd(): number {
    return this.activeFdValue;
  }

  segmentHolding(index: number): Segment {
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

  // --- writing ---------------------------------------------------------

  /**
   * Writes entries that continue the log, rolling over to new segments as
   * they fill; `onWritten` hears of each run written, once its offsets are
   * recorded. Durable only after the next sync.
   */
  append(entries: readonly Entry[], onWritten: (written: readonly Entry[]) => void): void {
    let next = 0;
    while (next < entries.length) {
      const count = this.entriesFittingActiveSegment(entries, next);
      if (count === 0) {
        this.guard('segment rollover', () => this.rollOver());
        continue;
      }
      const run = entries.slice(next, next + count);
      this.writeEntries(run);
      onWritten(run);
      next += count;
    }
  }

  /** Records the commit index in the WAL with the next sync (cheaper than a hard-state file write). */
  noteCommit(commitIndex: number): void {
    this.commitToRecord = Math.max(this.commitToRecord, commitIndex);
  }

  /** Cuts the log durably from `index` on (it then ends at index - 1) before anything new is written. */
  truncateFrom(index: number): void {
    this.guard('truncate', () => this.cutDurably(index));
  }

  /** Deletes the segments whose entries all lie at or below `index` (a snapshot covers them). */
  removeSegmentsThrough(index: number): void {
    const doomed: Segment[] = [];
    while (this.segments.length > 1 && (this.segments[1] as Segment).firstIndex <= index + 1) {
      doomed.push(this.segments.shift() as Segment);
    }
    if (doomed.length === 0) return;
    this.guard('compaction', () => {
      for (const segment of doomed) {
        this.readFiles.closeFile(segment.file);
        this.io.unlinkSync(segment.file);
      }
      fsyncDirSync(this.io, this.dir);
    });
  }

  /** Deletes every segment and starts an empty one after `index`. */
  reset(index: number): void {
    this.guard('log reset', () => {
      const old = this.segments.splice(0, this.segments.length);
      this.retireFd(this.activeFdValue);
      for (const segment of old) this.readFiles.closeFile(segment.file);
      deleteSegmentsNewestFirst(this.io, this.dir, old);
      const fresh = createSegmentFile(this.io, this.dir, index + 1);
      this.segments.push(fresh);
      this.activeFdValue = this.io.openSync(fresh.file, 'r+');
      // Everything written before is now either durable or deleted.
      this.markDurable(this.writtenSequence);
    });
    this.lastIndexValue = index;
    this.commitRecorded = 0;
  }

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
    this.guard('write', () => writeAllSync(this.io, this.activeFdValue, buffer, active.sizeBytes));
    this.writtenSequence++;
    active.sizeBytes += totalBytes;
    for (const recordOffset of offsets) pushOffset(active, recordOffset);
    this.lastIndexValue = (entries[entries.length - 1] as Entry).index;
  }

  private writeCommitRecordIfNeeded(): void {
    const commit = Math.min(this.commitToRecord, this.lastIndexValue);
    if (commit <= this.commitRecorded) return;
    const active = this.activeSegment();
    const record = encodeCommitRecord(commit);
    this.guard('write', () => writeAllSync(this.io, this.activeFdValue, record, active.sizeBytes));
    this.writtenSequence++;
    active.sizeBytes += record.length;
    this.commitRecorded = commit;
  }

  private rollOver(): void {
    // The old segment must be complete on disk before a newer one exists.
    this.io.fdatasyncSync(this.activeFdValue);
    this.markDurable(this.writtenSequence);
    const fresh = createSegmentFile(this.io, this.dir, this.lastIndexValue + 1);
    this.retireFd(this.activeFdValue);
    this.segments.push(fresh);
    this.activeFdValue = this.io.openSync(fresh.file, 'r+');
    this.commitRecorded = 0;
  }

  private cutDurably(index: number): void {
    if (this.writtenSequence > this.durableSequence) {
      this.io.fdatasyncSync(this.activeFdValue);
    }
    const keep = this.segments.findIndex((segment) => segmentEndIndex(segment) > index);
    const target = this.segments[keep];
    assert(target !== undefined && target.firstIndex <= index, `no segment holds entry ${index}`);
    const doomed = this.segments.splice(keep + 1);
    if (doomed.length > 0) {
      this.retireFd(this.activeFdValue);
      for (const segment of doomed) this.readFiles.closeFile(segment.file);
      deleteSegmentsNewestFirst(this.io, this.dir, doomed);
      this.readFiles.closeFile(target.file);
      this.activeFdValue = this.io.openSync(target.file, 'r+');
    }
    this.io.ftruncateSync(this.activeFdValue, entryRecordOffset(target, index));
    this.io.fsyncSync(this.activeFdValue);
    this.markDurable(this.writtenSequence);
    cutSegmentAt(target, index);
    this.lastIndexValue = index - 1;
    this.commitRecorded = 0;
  }

  // --- group commit ----------------------------------------------------

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
    this.guard('fdatasync', () => this.io.fdatasyncSync(this.activeFdValue));
    this.markDurable(target);
  }

  private startSync(): void {
    const targetSequence = this.writtenSequence;
    this.syncInFlight = true;
    this.io.fdatasync(this.activeFdValue, (error) => {
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

  // --- fail-stop and closing ---------------------------------------------

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

  failed(): StorageFailedError | undefined {
    return this.failure;
  }

  checkOpen(): void {
    if (this.closed) throw new StorageClosedError();
  }

  /** Throws if the log is closed or failed. */
  checkWritable(): void {
    this.checkOpen();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits for an fdatasync in flight, then closes every file, the reader's too. Unsynced writes are not promised. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.syncInFlight) {
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new StorageClosedError());
    this.readFiles.closeAll();
    this.closeRetiredFds();
    this.io.closeSync(this.activeFdValue);
  }

  /** A file descriptor an fdatasync may still be using is closed only once it returns. */
  private retireFd(fd: number): void {
    if (this.syncInFlight) this.retiredFds.push(fd);
    else this.io.closeSync(fd);
  }

  private closeRetiredFds(): void {
    for (const fd of this.retiredFds.splice(0)) this.io.closeSync(fd);
  }
}
