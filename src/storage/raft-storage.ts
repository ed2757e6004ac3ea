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
//   stageSnapshot(meta) -> write / commit / abort   receive a leader's snapshot (streamed to disk)
//   installStagedSnapshot(meta)   the core accepted it: it becomes the snapshot; discards the log
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
import { SnapshotWriter, listSnapshotFiles, openSnapshotFile, pruneSnapshotFiles, snapshotFileName } from './snapshot-store.js';
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

/**
 * Received snapshots kept until the core accepts one (as many as the receiver
 * takes streams at once, maxSnapshotStreams): a later stream never removes an
 * earlier one, which the core may already have accepted.
 */
export const MAX_STAGED_SNAPSHOTS = 8;
/** Subdirectory of received, not yet installed snapshots; emptied at open (the core forgot them). */
const STAGING_DIR = 'staging';
const MIN_SEGMENT_BYTES = 64 * 1024;
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
const EMPTY_CONF: ConfState = Object.freeze({ voters: [], learners: [] });

/** What a streamed snapshot's receiver writes chunks into; `commit` stages it for installStagedSnapshot. */
export interface SnapshotStagingWriter {
  readonly meta: SnapshotMeta;
  write(chunk: Uint8Array): void;
  /** Verifies the data against the sender's checksum (SnapshotChecksumError), then keeps the file staged. */
  commit(expectedDataCrc32c: number): void;
  abort(): void;
}

interface StagedSnapshot {
  readonly meta: SnapshotMeta;
  readonly file: string;
}

export class RaftStorage implements LogStorage {
  private hardStateValue: HardState;
  private snapshot: SnapshotMeta;
  private snapshotFiles: SnapshotFile[];
  /** Received snapshots by file, oldest first. */
  private readonly staged = new Map<string, StagedSnapshot>();
  private stagedSequence = 0;

  private constructor(
    private readonly io: FileIo,
    readonly dir: string,
    private readonly wal: Wal,
    private readonly snapshotsRetained: number,
    hardState: HardState,
    snapshot: SnapshotMeta,
    snapshotFiles: SnapshotFile[],
    /** What recovery found; the driver may refuse to vote until it has caught up after a cut tail. */
    readonly recovery: RecoveryReport,
  ) {
    this.hardStateValue = hardState;
    this.snapshot = snapshot;
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
    const stagingDir = path.join(dir, STAGING_DIR);
    io.mkdirSync(stagingDir);
    for (const name of io.readdirSync(stagingDir)) io.unlinkSync(path.join(stagingDir, name));
    const files = io.readdirSync(dir);
    const snapshotFiles = listSnapshotFiles(dir, files);
    const newest = snapshotFiles[snapshotFiles.length - 1];
    // A corrupt newest snapshot stops the node: it was renamed into place only
    // after its fsync, and the log below it may already be gone.
    const snapshot = newest === undefined ? { index: 0, term: 0, conf: EMPTY_CONF } : verifiedMeta(io, newest);
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
    return new RaftStorage(io, dir, wal, snapshotsRetained, hardState, snapshot, snapshotFiles, recovery);
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

  /**
   * Saves this node's own snapshot at meta.index (which must be committed and
   * in the log with meta.term), then compacts the log below it, keeping the
   * last `keepEntries` entries at or below it as a catch-up tail (a follower
   * that far behind is sent entries, not the snapshot; a restart drops the
   * tail), and prunes old snapshot files.
   */
  saveSnapshot(meta: SnapshotMeta, data: Uint8Array, keepEntries = 0): void {
    this.checkWritable();
    assert(meta.index > this.snapshot.index, `snapshot at ${meta.index} is not newer than ${this.snapshot.index}`);
    assert(meta.index <= this.hardStateValue.commit, `snapshot at ${meta.index} is above the commit index ${this.hardStateValue.commit}`);
    assert(this.wal.term(meta.index) === meta.term, `snapshot ${meta.index}/${meta.term} does not match the log`);
    assert(Number.isSafeInteger(keepEntries) && keepEntries >= 0, `keepEntries ${keepEntries} must be a count`);
    this.writeSnapshotFile(meta, data);
    const floor = Math.max(this.wal.firstIndex() - 1, meta.index - keepEntries);
    this.wal.compact(floor, this.wal.term(floor) as number);
    this.snapshot = meta;
    this.pruneSnapshots();
    this.pruneStagedSnapshots();
  }

  /**
   * Receives a leader's snapshot in chunks, straight into a file of the
   * snapshot format under staging/ (written once, never held in memory).
   * Nothing changes until installStagedSnapshot picks it. Several may be
   * staged at once (streams from would-be leaders of different terms); at
   * most MAX_STAGED_SNAPSHOTS, beyond which a new stream is refused: evicting
   * one could remove the file the core just accepted.
   */
  stageSnapshot(meta: SnapshotMeta): SnapshotStagingWriter {
    this.checkWritable();
    this.pruneStagedSnapshots();
    if (this.staged.size >= MAX_STAGED_SNAPSHOTS) {
      throw new Error(`${this.staged.size} received snapshots await installation, the most kept (MAX_STAGED_SNAPSHOTS); try again later`);
    }
    const name = `staged-${snapshotFileName(meta.index, meta.term).slice('snap-'.length, -'.snap'.length)}-${++this.stagedSequence}.snap`;
    let writer: SnapshotWriter | undefined;
    this.guard('snapshot write', () => {
      writer = new SnapshotWriter(this.io, path.join(this.dir, STAGING_DIR), meta, name);
    });
    const open = writer as SnapshotWriter;
    return {
      meta,
      write: (chunk) => {
        this.checkWritable();
        this.guard('snapshot write', () => open.write(chunk));
      },
      commit: (expectedDataCrc32c) => {
        this.checkWritable();
        let file = '';
        this.guard('snapshot write', () => {
          file = open.finish(expectedDataCrc32c).file;
        }, true);
        this.staged.set(file, { meta, file });
      },
      abort: () => this.guard('snapshot abort', () => open.abort()),
    };
  }

  /**
   * Installs the staged snapshot the core accepted (any one with its index and
   * term: the state machine is deterministic, so they hold the same state): it
   * is renamed into place as the latest snapshot and the whole log is
   * discarded, so the log restarts after meta.index. Returns it verified and
   * open for chunked reads, for the state machine's restore; the caller closes
   * it. A crash before that restore finishes leaves the state machine behind
   * this snapshot, and the driver restores it from here at start-up.
   */
  installStagedSnapshot(meta: SnapshotMeta): SnapshotReader {
    this.checkWritable();
    assert(meta.index > this.snapshot.index, `snapshot at ${meta.index} is not newer than ${this.snapshot.index}`);
    const staged = [...this.staged.values()].find((s) => s.meta.index === meta.index && s.meta.term === meta.term);
    assert(staged !== undefined, `snapshot ${meta.index} (term ${meta.term}) was not received`);
    const target = path.join(this.dir, snapshotFileName(meta.index, meta.term));
    this.guard('snapshot install', () => {
      this.io.renameSync(staged.file, target);
      fsyncDirSync(this.io, this.dir);
    });
    this.staged.delete(staged.file);
    this.adoptInstalledSnapshot(meta);
    this.pruneStagedSnapshots();
    return this.openSnapshotReader(meta.index);
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

  private writeSnapshotFile(meta: SnapshotMeta, data: Uint8Array): void {
    this.guard('snapshot write', () => {
      const writer = new SnapshotWriter(this.io, this.dir, meta);
      try {
        writer.write(data);
      } catch (error) {
        writer.abort();
        throw error;
      }
      writer.finish();
    });
  }

  private adoptInstalledSnapshot(meta: SnapshotMeta): void {
    this.wal.reset(meta.index, meta.term);
    this.snapshot = meta;
    this.hardStateValue = { ...this.hardStateValue, commit: Math.max(this.hardStateValue.commit, meta.index) };
    this.pruneSnapshots();
  }

  /** Removes staged snapshots the latest snapshot covers: the core can no longer want them. */
  private pruneStagedSnapshots(): void {
    for (const staged of [...this.staged.values()]) {
      if (staged.meta.index > this.snapshot.index) continue;
      this.staged.delete(staged.file);
      this.guard('snapshot prune', () => this.io.unlinkSync(staged.file));
    }
  }

  private pruneSnapshots(): void {
    const files = listSnapshotFiles(this.dir, this.io.readdirSync(this.dir));
    this.guard('snapshot prune', () => {
      this.snapshotFiles = pruneSnapshotFiles(this.io, this.dir, files, this.snapshotsRetained);
    });
  }

  /** Runs a file operation; an error stops all writes for good (a checksum mismatch is passed through). */
  private guard(operation: string, run: () => void, passThroughChecksum = false): void {
    try {
      run();
    } catch (error) {
      if (passThroughChecksum && error instanceof Error && 'code' in error && error.code === 'SNAPSHOT_CHECKSUM_MISMATCH') throw error;
      throw this.wal.fail(operation, error);
    }
  }

  private checkWritable(): void {
    this.wal.checkWritable();
  }
}

function verifiedMeta(io: FileIo, snapshot: SnapshotFile): SnapshotMeta {
  const reader = openSnapshotFile(io, snapshot);
  reader.close();
  return reader.meta;
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
