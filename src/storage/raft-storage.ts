// RaftStorage: one node's durable Raft state in one directory — the WAL
// segments (`*.wal`), the hard-state file (`hardstate`) and snapshot files
// (`snap-*.snap`). It implements the core's read-only LogStorage and gives the
// node driver the writing side. See docs/storage.md for formats and proofs.
//
// API, in the order the driver uses it:
//   RaftStorage.open(dir, options)  create or recover; throws StorageCorruptionError
//   initialState / entries / term / firstIndex / lastIndex / snapshotMeta   (LogStorage, synchronous)
//   append(entries)       buffered write; truncates a conflicting suffix first
//   setHardState(hs)      term/vote: durable before it returns; commit: with the next sync
//   sync() / syncNow()    one fdatasync for everything written before the call
//   saveSnapshot(meta, data)      own snapshot; compacts the log below it
//   installSnapshot(meta, descriptor)   a leader's snapshot the core accepted, whose image the
//                                 state machine received itself: records it (detached); discards the log
//   openSnapshotReader(index)    a snapshot verified, then read in chunks (to a follower, into the ledger)
//   close()
// After any failed write or fsync every write throws StorageFailedError.

import path from 'node:path';
import type { LogStorage } from '../raft/storage.js';
import type { ConfState, Entry, HardState, SnapshotMeta } from '../raft/types.js';
import { assert } from '../lib/assert.js';
import { StorageFailedError } from './errors.js';
import { readHardStateFileSync, writeHardStateFileSync } from './hard-state-file.js';
import type { FileIo } from './io.js';
import { TEMPORARY_SUFFIX, fsyncDirSync, nodeFileIo } from './io.js';
import { SEGMENT_HEADER_BYTES, ENTRY_RECORD_OVERHEAD_BYTES } from './record.js';
import type { SnapshotFile, SnapshotReader } from './snapshot-store.js';
import { SnapshotWriter, listSnapshotFiles, openSnapshotFile, pruneSnapshotFiles } from './snapshot-store.js';
import type { StorageLogEvent, WalLimits, WalRecoveryReport } from './wal.js';
import { Wal } from './wal.js';

export interface RaftStorageOptions {
  /** Segment size before rolling over; 64 KiB to 1 GiB. Default 64 MiB. */
  readonly segmentSizeBytes?: number;
  /** Largest entry data; default 4 MiB, at most a quarter of the segment size. */
  readonly maxEntryBytes?: number;
  /** Memory for recent entries; default 32 MiB. Older entries are read from disk. */
  readonly cacheMaxBytes?: number;
  /** Snapshot files kept; default 2, at least 1. */
  readonly snapshotsRetained?: number;
  /** Receives recovery reports (a cut tail, a discarded log). Default: none. */
  readonly onLog?: (event: StorageLogEvent) => void;
  /** File operations; tests inject failures here. Default: node:fs. */
  readonly io?: FileIo;
}

export interface RecoveryReport extends WalRecoveryReport {
  readonly snapshotIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly hardState: HardState;
}

/** Where received snapshots were staged before the state machine took them over; emptied and removed at open. */
const OLD_STAGING_DIR = 'staging';
const MIN_SEGMENT_BYTES = 64 * 1024;
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
const EMPTY_CONF: ConfState = Object.freeze({ voters: [], learners: [] });

export class RaftStorage implements LogStorage {
  private hardStateValue: HardState;
  private snapshot: SnapshotMeta;
  private snapshotFiles: SnapshotFile[];
  /** The newest snapshot's image is the state machine's (a received one), not in its file. */
  private snapshotDetached: boolean;

  private constructor(
    private readonly io: FileIo,
    readonly dir: string,
    private readonly wal: Wal,
    private readonly snapshotsRetained: number,
    hardState: HardState,
    snapshot: SnapshotMeta,
    snapshotDetached: boolean,
    snapshotFiles: SnapshotFile[],
    /** What recovery found; the driver may refuse to vote until it has caught up after a cut tail. */
    readonly recovery: RecoveryReport,
  ) {
    this.hardStateValue = hardState;
    this.snapshot = snapshot;
    this.snapshotDetached = snapshotDetached;
    this.snapshotFiles = snapshotFiles;
  }

  /**
   * Opens `dir`, creating it if needed, and recovers: verifies the newest
   * snapshot, reads the hard state, scans the WAL, cuts a torn tail (reported
   * through onLog), and throws StorageCorruptionError naming file and offset
   * for any other damage.
   */
  static open(dir: string, options: RaftStorageOptions = {}): RaftStorage {
    const io = options.io ?? nodeFileIo;
    const limits = validateLimits(options);
    const snapshotsRetained = options.snapshotsRetained ?? 2;
    assert(Number.isSafeInteger(snapshotsRetained) && snapshotsRetained >= 1, 'snapshotsRetained must be at least 1');
    const log = options.onLog ?? ((): void => undefined);
    io.mkdirSync(dir);
    removeTemporaryFiles(io, dir, io.readdirSync(dir));
    removeOldStaging(io, dir);
    const files = io.readdirSync(dir);
    const snapshotFiles = listSnapshotFiles(dir, files);
    const newest = snapshotFiles[snapshotFiles.length - 1];
    // A corrupt newest snapshot stops the node: it was renamed into place only
    // after its fsync, and the log below it may already be gone.
    const verified = newest === undefined ? { meta: { index: 0, term: 0, conf: EMPTY_CONF }, detached: false } : verifiedMeta(io, newest);
    const snapshot = verified.meta;
    const storedHardState = readHardStateFileSync(io, dir, files);
    const { wal, commitIndex, report } = Wal.recover(io, dir, files, limits, snapshot, log);
    const commit = Math.min(Math.max(storedHardState.commit, commitIndex, snapshot.index), wal.lastIndex());
    const hardState: HardState = { ...storedHardState, commit };
    const recovery: RecoveryReport = {
      ...report, snapshotIndex: snapshot.index, firstIndex: wal.firstIndex(), lastIndex: wal.lastIndex(), hardState,
    };
    log({ level: 'info', message: 'storage recovered', details: {
      dir, snapshotIndex: snapshot.index, firstIndex: wal.firstIndex(), lastIndex: wal.lastIndex(), term: hardState.term, commit,
    } });
    return new RaftStorage(io, dir, wal, snapshotsRetained, hardState, snapshot, verified.detached, snapshotFiles, recovery);
  }

  // --- LogStorage ------------------------------------------------------

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: this.hardStateValue, conf: this.snapshot.conf };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.wal.entries(lo, hi, maxBytes);
  }

  term(index: number): number | undefined {
    return this.wal.term(index);
  }

  firstIndex(): number {
    return this.wal.firstIndex();
  }

  lastIndex(): number {
    return this.wal.lastIndex();
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  // --- writing ---------------------------------------------------------

  /** The hard state as last set (durable for term and vote, commit after the next sync). */
  hardState(): HardState {
    return this.hardStateValue;
  }

  /**
   * Writes entries; entries[0].index may be at or below lastIndex()+1, and
   * everything from there on is replaced. Nothing is durable before sync().
   */
  append(entries: readonly Entry[]): void {
    this.wal.append(entries, this.hardStateValue.commit);
  }

  /**
   * A new term or vote is written to the hard-state file and fsynced (with
   * its directory) before this returns. A commit-only change is recorded in
   * the WAL and becomes durable with the next sync; recovery never returns a
   * commit above the recovered last index.
   */
  setHardState(hardState: HardState): void {
    this.checkWritable();
    const current = this.hardStateValue;
    assert(hardState.term >= current.term, `term went back from ${current.term} to ${hardState.term}`);
    assert(hardState.term > current.term || current.vote === '' || hardState.vote === current.vote,
      `vote changed within term ${hardState.term}`);
    const commit = Math.max(hardState.commit, current.commit);
    if (hardState.term !== current.term || hardState.vote !== current.vote) {
      this.guard('hard state write', () => writeHardStateFileSync(this.io, this.dir, { ...hardState, commit }));
    }
    this.wal.noteCommit(commit);
    this.hardStateValue = { ...hardState, commit };
  }

  /** One fdatasync for all writes before this call, off the event loop; concurrent calls share it. */
  sync(): Promise<void> {
    return this.wal.sync();
  }

  /** sync(), blocking the event loop. */
  syncNow(): void {
    this.wal.syncNow();
  }

  /** The failure that stopped writes, if any. */
  failed(): StorageFailedError | undefined {
    return this.wal.failed();
  }

  // --- snapshots -------------------------------------------------------

  /** Whether the newest snapshot's image is the state machine's (received), so its file holds no image to stream. */
  snapshotIsDetached(): boolean {
    return this.snapshotDetached;
  }

  /**
   * Saves this node's own snapshot at meta.index (which must be committed and
   * in the log with meta.term), then compacts the log below it, keeping the
   * last `keepEntries` entries at or below it as a catch-up tail (a follower
   * that far behind is sent entries, not the snapshot; a restart drops the
   * tail), and prunes old snapshot files. At the index of a detached
   * snapshot it gives that snapshot an image (one to stream to followers).
   */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array, keepEntries = 0): void {
    this.checkWritable();
    const attachesImage = this.snapshotDetached && meta.index === this.snapshot.index && meta.term === this.snapshot.term;
    assert(meta.index > this.snapshot.index || attachesImage, `snapshot at ${meta.index} is not newer than ${this.snapshot.index}`);
    assert(meta.index <= this.hardStateValue.commit, `snapshot at ${meta.index} is above the commit index ${this.hardStateValue.commit}`);
    assert(this.wal.term(meta.index) === meta.term, `snapshot ${meta.index}/${meta.term} does not match the log`);
    assert(Number.isSafeInteger(keepEntries) && keepEntries >= 0, `keepEntries ${keepEntries} must be a count`);
    this.writeSnapshotFile(meta, data, false);
    const floor = Math.max(this.wal.firstIndex() - 1, meta.index - keepEntries);
    this.wal.compact(floor, this.wal.term(floor) as number);
    this.snapshot = meta;
    this.snapshotDetached = false;
    this.pruneSnapshots();
  }

  /**
   * Installs a leader's snapshot that the core accepted and whose image the
   * state machine received itself (written once, into its own file): records
   * the metadata and the state machine's `descriptor` of the image durably
   * (a detached snapshot file), then discards the whole log, which restarts
   * after meta.index. The caller then has the state machine take the image;
   * a crash before it did leaves the state machine behind this snapshot, and
   * the driver finishes the install at start-up with the descriptor.
   */
  installSnapshot(meta: SnapshotMeta, descriptor: Uint8Array): void {
    this.checkWritable();
    assert(meta.index > this.snapshot.index, `snapshot at ${meta.index} is not newer than ${this.snapshot.index}`);
    this.writeSnapshotFile(meta, descriptor, true);
    this.wal.reset(meta.index, meta.term);
    this.snapshot = meta;
    this.snapshotDetached = true;
    this.hardStateValue = { ...this.hardStateValue, commit: Math.max(this.hardStateValue.commit, meta.index) };
    this.pruneSnapshots();
  }

  /** Opens the snapshot at `index` (default: the newest) for chunked reads, verifying it first. */
  openSnapshotReader(index = this.snapshot.index): SnapshotReader {
    const file = [...this.snapshotFiles].reverse().find((snapshot) => snapshot.index === index);
    assert(file !== undefined, `no snapshot file at index ${index}`);
    return openSnapshotFile(this.io, file);
  }

  /** Waits for an fdatasync in flight and closes every file; unsynced writes are not promised. */
  close(): Promise<void> {
    return this.wal.close();
  }

  // --- internals -------------------------------------------------------

  private writeSnapshotFile(meta: SnapshotMeta, data: Uint8Array, detached: boolean): void {
    this.guard('snapshot write', () => {
      const writer = new SnapshotWriter(this.io, this.dir, meta, detached);
      try {
        writer.write(data);
      } catch (error) {
        writer.abort();
        throw error;
      }
      writer.finish();
    });
  }

  private pruneSnapshots(): void {
    const files = listSnapshotFiles(this.dir, this.io.readdirSync(this.dir));
    this.guard('snapshot prune', () => {
      this.snapshotFiles = pruneSnapshotFiles(this.io, this.dir, files, this.snapshotsRetained);
    });
  }

  /** Runs a file operation; an error stops all writes for good. */
  private guard(operation: string, run: () => void): void {
    try {
      run();
    } catch (error) {
      throw this.wal.fail(operation, error);
    }
  }

  private checkWritable(): void {
    this.wal.checkWritable();
  }
}

function verifiedMeta(io: FileIo, snapshot: SnapshotFile): { meta: SnapshotMeta; detached: boolean } {
  const reader = openSnapshotFile(io, snapshot);
  reader.close();
  return { meta: reader.meta, detached: reader.detached };
}

/** A directory from a version that staged received snapshots here: they are forgotten at restart anyway. */
function removeOldStaging(io: FileIo, dir: string): void {
  const staging = path.join(dir, OLD_STAGING_DIR);
  if (!io.readdirSync(dir).includes(OLD_STAGING_DIR)) return;
  for (const name of io.readdirSync(staging)) io.unlinkSync(path.join(staging, name));
  io.rmdirSync(staging);
  fsyncDirSync(io, dir);
}

function removeTemporaryFiles(io: FileIo, dir: string, files: readonly string[]): void {
  for (const name of files) {
    if (name.endsWith(TEMPORARY_SUFFIX)) io.unlinkSync(path.join(dir, name));
  }
}

function validateLimits(options: RaftStorageOptions): WalLimits {
  const segmentSizeBytes = options.segmentSizeBytes ?? 64 * 1024 * 1024;
  assert(Number.isSafeInteger(segmentSizeBytes) && segmentSizeBytes >= MIN_SEGMENT_BYTES && segmentSizeBytes <= MAX_SEGMENT_BYTES,
    `segmentSizeBytes ${segmentSizeBytes} must be between ${MIN_SEGMENT_BYTES} and ${MAX_SEGMENT_BYTES}`);
  const maxEntryBytes = options.maxEntryBytes ?? Math.min(4 * 1024 * 1024, Math.floor(segmentSizeBytes / 4));
  assert(Number.isSafeInteger(maxEntryBytes) && maxEntryBytes >= 0 &&
    SEGMENT_HEADER_BYTES + ENTRY_RECORD_OVERHEAD_BYTES + maxEntryBytes <= segmentSizeBytes,
  `maxEntryBytes ${maxEntryBytes} must leave room for one record in a segment`);
  const cacheMaxBytes = options.cacheMaxBytes ?? 32 * 1024 * 1024;
  assert(Number.isSafeInteger(cacheMaxBytes) && cacheMaxBytes >= 0, 'cacheMaxBytes must be a non-negative integer');
  return { segmentSizeBytes, maxEntryBytes, cacheMaxBytes };
}
