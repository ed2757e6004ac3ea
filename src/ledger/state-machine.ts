// The ledger state machine: applies Raft entries N = 1, 2, ... exactly once and
// in order, one SQLite transaction per entry that also stores the applied
// index, the entry time and the chain head. It knows nothing of Raft beyond
// "apply entry N at time T": entries without a ledger command are recorded
// with skip(N) or applyEntry(N, empty bytes).
//
// Determinism: the only inputs are the entry bytes and the stored state. Time
// is max(entry time, last applied time); no clock, no randomness; every
// iteration is in key or insertion order; ties are broken by id.

import { closeSync, fsyncSync, openSync, readdirSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type Database from 'better-sqlite3';
import { assert, AssertionFailure, unreachable } from '../lib/assert.js';
import { createAccounts } from './accounts.js';
import { Effects, nextHead, sha256Hex } from './chain.js';
import { WalCheckpointer, type CheckpointerStatus } from './checkpointer.js';
import type { ResultCode } from './codes.js';
import { statementCache, type ApplyContext, type ConfirmResult, type CreateResult, type ItemResult, type ReleaseResult, type ReservationResult } from './context.js';
import { openDatabase } from './db.js';
import { decodeEntry } from './entry.js';
import { expireDue, nextDeadline, type ExpireResult } from './expiry.js';
import { adjustStock, confirmReservations, createItems, createReservations, releaseReservations } from './inventory.js';
import { LedgerQueries } from './queries.js';
import type { Command } from './schemas.js';
import { SNAPSHOT_WORKER_DONE, type SnapshotWorkerInit, type SnapshotWorkerResult } from './snapshot-control.js';
import {
  RESTORE_CHUNK_BYTES, SnapshotStream, checkImage, encodeSnapshot, loadSnapshotImage, readSnapshotImage,
  type CheckedImage, type SnapshotHeader, type SnapshotImageSource,
} from './snapshot.js';
import { TransferBatch } from './transfers.js';
import { verifyChain, type VerifyReport } from './verify.js';

export type CommandResult =
  | { type: 'none' }
  | { type: 'entry_invalid'; code: Extract<ResultCode, 'entry_invalid'>; reason: string }
  | { type: 'create_accounts'; results: CreateResult[] }
  | { type: 'create_transfers'; results: CreateResult[] }
  | { type: 'create_items'; results: ItemResult[] }
  | { type: 'adjust_stock'; results: CreateResult[] }
  | { type: 'create_reservations'; results: ReservationResult[] }
  | { type: 'confirm_reservations'; results: ConfirmResult[] }
  | { type: 'release_reservations'; results: ReleaseResult[] }
  | ({ type: 'expire' } & ExpireResult);

export interface ApplyOutcome {
  index: number;
  /** The time the entry was applied at: max(entry time, previous time). */
  timeMs: number;
  result: CommandResult;
}

/** One Raft log entry as the ledger sees it: its index and its bytes. */
export interface LedgerLogEntry {
  readonly index: number;
  readonly data: Uint8Array;
}

interface Meta {
  appliedIndex: number;
  timeMs: number;
  chainHead: string;
}

/** How long a restore or close waits for background snapshots to close their connections. */
const SNAPSHOT_WORKER_WAIT_MS = 120_000;
/** A snapshot streaming into a ledger's staging (stageSnapshot). */
export interface StagedSnapshotWriter {
  /** The snapshot's next bytes, as snapshot() encodes it; chunks of any size. */
  write(chunk: Uint8Array): void;
  /**
   * Checks what arrived (the image's sha256, the state inside against the
   * header) and makes it durable; returns its descriptor, which
   * installStagedSnapshot wants, and the applied index of the state inside.
   * A refused snapshot throws SnapshotRefusedError and leaves nothing behind.
   */
  finish(): { descriptor: Uint8Array; appliedIndex: number };
  abort(): void;
}

/** A received snapshot that is damaged or not what its header says (the sender's fault, not this node's). */
export class SnapshotRefusedError extends Error {
  override name = 'SnapshotRefusedError';
}

/** Staged names are the caller's keys; they become part of a file name. */
const STAGED_NAME = /^[A-Za-z0-9-]{1,100}$/;
const STAGED_INFIX = '.staged-';
const TEMPORARY_SUFFIX = '.tmp';

export class LedgerStateMachine {
  private db: Database.Database;
  /** Background WAL checkpoints of a file-backed ledger (checkpointer.ts); none in memory. */
  private checkpointer: WalCheckpointer | undefined;
  private statement: (sql: string) => Database.Statement;
  private meta: Meta;
  private queriesView: LedgerQueries;
  /** Background snapshots under way (snapshotInBackground). */
  private readonly snapshotWorkers = new Set<Int32Array>();
  /** Staged snapshot images of an in-memory ledger (a file-backed one keeps them in files beside it). */
  private readonly stagedInMemory = new Map<string, Buffer>();

  /**
   * Opens (creating if needed) the ledger at `path`, a file or ':memory:'. A
   * `<path>.restore` left by a restore that died is removed: it never became
   * the database, and the restore runs again from the stored snapshot. So is
   * a staged snapshot that was still arriving; finished ones are kept for the
   * caller to install or discard (stagedSnapshots).
   */
  static open(path: string): LedgerStateMachine {
    if (path !== ':memory:' && path !== '') {
      rmSync(`${path}.restore`, { force: true });
      for (const name of stagedFileNames(path)) if (name.endsWith(TEMPORARY_SUFFIX)) rmSync(join(dirname(path), name), { force: true });
    }
    return new LedgerStateMachine(path, openDatabase(path));
  }

  private constructor(private readonly path: string, db: Database.Database) {
    this.db = db;
    this.statement = statementCache(db);
    this.meta = readMeta(this.statement);
    this.queriesView = new LedgerQueries(this.statement, db);
    this.checkpointer = this.startCheckpointer();
  }

  get queries(): LedgerQueries {
    return this.queriesView;
  }

  appliedIndex(): number {
    return this.meta.appliedIndex;
  }

  /** The time of the last applied entry (never decreases). */
  appliedTimeMs(): number {
    return this.meta.timeMs;
  }

  chainHead(): string {
    return this.meta.chainHead;
  }

  nextDeadlineMs(): number | undefined {
    return nextDeadline({ statement: this.statement });
  }

  /** Records a Raft entry that carries no ledger command. */
  skip(index: number): ApplyOutcome {
    return this.applyEntry(index, new Uint8Array(0));
  }

  /**
   * Applies entry `index` (must be appliedIndex() + 1). Business outcomes are
   * results; only programmer errors throw, and then nothing of the entry stays.
   */
  applyEntry(index: number, bytes: Uint8Array): ApplyOutcome {
    return this.applyEntries([{ index, data: bytes }])[0] as ApplyOutcome;
  }

  /**
   * Applies consecutive entries (the first must be appliedIndex() + 1) in ONE
   * SQLite transaction: one commit for the batch instead of one per entry.
   * Each entry stays atomic with its applied index, because the batch is: the
   * stored applied index and the state always move together, and if any
   * entry throws (a programmer error) the whole batch rolls back and
   * appliedIndex() is what it was; the node then stops and re-applies from
   * the log. An entry with empty data carries no command (no-op, membership).
   */
  applyEntries(entries: readonly LedgerLogEntry[]): ApplyOutcome[] {
    if (entries.length === 0) return [];
    let meta = this.meta;
    const outcomes: ApplyOutcome[] = [];
    const recordChain = this.statement('INSERT INTO chain (entry_index, time_ms, data_digest, effects_digest, head) VALUES (?, ?, ?, ?, ?)');
    const first = (entries[0] as LedgerLogEntry).index;
    const last = this.applyInTransaction(first, () => {
      for (const { index, data } of entries) {
        assert(Number.isSafeInteger(index) && index >= 1, `entry index must be a positive integer, got ${index}`);
        assert(index === meta.appliedIndex + 1, `entry ${index} applied after ${meta.appliedIndex}: must be applied once, in order`);
        const decoded = decodeEntry(data);
        const entryTime = decoded.kind === 'empty' ? undefined : decoded.timeMs;
        const timeMs = Math.max(entryTime ?? meta.timeMs, meta.timeMs);
        const effects = new Effects();
        const context: ApplyContext = { db: this.db, index, timeMs, effects, statement: this.statement };
        const result: CommandResult =
          decoded.kind === 'command' ? applyCommand(context, decoded.command)
          : decoded.kind === 'empty' ? { type: 'none' }
          : { type: 'entry_invalid', code: 'entry_invalid', reason: decoded.reason };
        const dataDigest = sha256Hex(data);
        const effectsDigest = effects.digest();
        const chainHead = nextHead(meta.chainHead, index, timeMs, dataDigest, effectsDigest);
        recordChain.run(index, timeMs, dataDigest, effectsDigest, chainHead);
        meta = { appliedIndex: index, timeMs, chainHead };
        outcomes.push({ index, timeMs, result });
      }
      this.statement('UPDATE meta SET applied_index = ?, time_ms = ?, chain_head = ?').run(meta.appliedIndex, meta.timeMs, meta.chainHead);
      return meta;
    });
    this.meta = last;
    return outcomes;
  }

  /**
   * Runs a batch's transaction. Business outcomes are results, so anything
   * thrown here is a programmer error (or storage failing under us): SQLite's
   * errors, such as a CHECK constraint that the code should have refused
   * first, surface as AssertionFailure like the code's own assertions, after
   * the transaction has rolled back and left nothing of the batch.
   */
  private applyInTransaction<T>(firstIndex: number, apply: () => T): T {
    try {
      return this.db.transaction(apply)();
    } catch (error) {
      if (error instanceof AssertionFailure) throw error;
      throw new AssertionFailure(`entries from ${firstIndex} failed to apply and were rolled back: ${String(error)}`, { cause: error });
    }
  }

  verifyChain(): VerifyReport {
    return this.db.transaction(() => verifyChain(this.statement))();
  }

  /** The whole state at appliedIndex(), self-describing (see snapshot.ts). */
  snapshot(): Uint8Array {
    return encodeSnapshot({ appliedIndex: this.meta.appliedIndex, chainHead: this.meta.chainHead }, this.db.serialize());
  }

  /**
   * A snapshot taken off this thread (snapshot-worker.ts): the state as of
   * the last committed batch when the worker's read transaction began, with
   * the applied index it is at (at most appliedIndex() by the time it
   * resolves, since applying goes on meanwhile). An in-memory ledger has no
   * file another connection could read: it snapshots here and resolves at once.
   */
  snapshotInBackground(): Promise<SnapshotWorkerResult> {
    if (this.path === ':memory:' || this.path === '') {
      return Promise.resolve({ appliedIndex: this.meta.appliedIndex, chainHead: this.meta.chainHead, bytes: this.snapshot() });
    }
    const state = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const init: SnapshotWorkerInit = { path: this.path, state };
    const worker = new Worker(new URL('./snapshot-worker.js', import.meta.url), { workerData: init });
    const running = new Int32Array(state);
    this.snapshotWorkers.add(running);
    return new Promise<SnapshotWorkerResult>((resolve, reject) => {
      let answered = false;
      worker.once('message', (result: SnapshotWorkerResult) => {
        answered = true;
        resolve(result);
      });
      worker.once('error', (error: Error) => {
        answered = true;
        reject(error);
      });
      worker.once('exit', (code) => {
        this.snapshotWorkers.delete(running);
        if (!answered) reject(new Error(`the snapshot worker exited with code ${code} before answering`));
      });
    });
  }

  /**
   * Waits until every background snapshot has closed its connection (a
   * restore needs the WAL to itself; a closed ledger leaves no reader behind).
   * Bounded by one serialization of the database.
   */
  private waitForSnapshotWorkers(): void {
    const deadline = Date.now() + SNAPSHOT_WORKER_WAIT_MS;
    // Each worker exits by itself once it has answered; only its connection matters here.
    for (const slot of this.snapshotWorkers) {
      while (Atomics.load(slot, 0) !== SNAPSHOT_WORKER_DONE) {
        const left = deadline - Date.now();
        assert(left > 0, 'a background snapshot did not finish in time');
        Atomics.wait(slot, 0, 0, left);
      }
    }
  }

  /**
   * Replaces all state with the snapshot's, read from `source` in chunks of at
   * most RESTORE_CHUNK_BYTES. Refuses a damaged snapshot, or one whose header
   * disagrees with the state inside it, and then leaves the state as it was:
   * both are checked before anything is replaced. A file-backed ledger never
   * holds the image whole: it is copied chunk by chunk into `<path>.restore`,
   * checked there, and renamed into place.
   */
  restore(source: SnapshotImageSource): void {
    if (!this.fileBacked()) {
      this.restoreInMemory(source);
      return;
    }
    const temporary = `${this.path}.restore`;
    const header = copyImageDurably(temporary, source);
    let inside: Meta;
    try {
      inside = readMetaOfFile(temporary);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new AssertionFailure(`restore refused: the snapshot image does not open as a ledger: ${String(error)}`, { cause: error });
    }
    if (!sameHead(header, inside)) {
      rmSync(temporary, { force: true });
      assert(false, 'restore refused: snapshot header does not match the state inside it');
    }
    this.replaceDatabaseWith(temporary, header);
  }

  /**
   * Receives a snapshot (as snapshot() encodes it) under `name`, writing its
   * image once: a file-backed ledger writes it straight into
   * `<path>.staged-<name>`, a file that can itself become the database
   * (installStagedSnapshot renames it into place); nothing is held whole in
   * memory. Several may be staged at once; nothing changes until one is
   * installed.
   */
  stageSnapshot(name: string): StagedSnapshotWriter {
    if (!this.fileBacked()) return this.stageInMemory(name);
    const target = this.stagedFile(name);
    const temporary = `${target}${TEMPORARY_SUFFIX}`;
    const fd = openSync(temporary, 'w');
    let open = true;
    const stream = new SnapshotStream((chunk, offsetBytes) => writeAllSync(fd, chunk, offsetBytes));
    const abort = (): void => {
      if (open) closeSync(fd);
      open = false;
      rmSync(temporary, { force: true });
    };
    return {
      write: (chunk) => {
        assert(open, 'staged snapshot already finished');
        stream.push(chunk);
      },
      finish: () => {
        assert(open, 'staged snapshot already finished');
        const checked = stream.finish();
        if (checked.ok) fsyncSync(fd);
        closeSync(fd);
        open = false;
        try {
          refuseUnless(checked, temporary);
        } catch (error) {
          abort();
          throw error;
        }
        renameSync(temporary, target);
        fsyncDirectory(dirname(target));
        const { descriptor, header } = checked as Extract<CheckedImage, { ok: true }>;
        return { descriptor, appliedIndex: header.appliedIndex };
      },
      abort,
    };
  }

  /** Names of the finished staged snapshots (those left by an earlier process included). */
  stagedSnapshots(): string[] {
    if (!this.fileBacked()) return [...this.stagedInMemory.keys()];
    const prefix = `${basename(this.path)}${STAGED_INFIX}`;
    return stagedFileNames(this.path).filter((name) => !name.endsWith(TEMPORARY_SUFFIX)).map((name) => name.slice(prefix.length));
  }

  discardStagedSnapshot(name: string): void {
    if (this.fileBacked()) rmSync(this.stagedFile(name), { force: true });
    else this.stagedInMemory.delete(name);
  }

  /**
   * Replaces all state with the staged snapshot `name`, after reading it back
   * and checking it against `descriptor` (from its finish()). A file-backed
   * ledger renames the staged file into place: the image is never copied.
   * Throws SnapshotRefusedError, leaving the state as it was, if it is
   * missing or damaged.
   */
  installStagedSnapshot(name: string, descriptor: Uint8Array): void {
    if (!this.fileBacked()) {
      const image = this.stagedInMemory.get(name);
      if (image === undefined) throw new SnapshotRefusedError(`no staged snapshot ${name}`);
      const checked = checkImage(descriptor, [image]);
      if (!checked.ok) throw new SnapshotRefusedError(`staged snapshot ${name} does not match its descriptor: ${checked.reason}`);
      this.stagedInMemory.delete(name);
      this.replaceInMemory(checked.header, image);
      return;
    }
    const file = this.stagedFile(name);
    let checked: CheckedImage;
    try {
      checked = checkImage(descriptor, fileChunks(file));
    } catch (error) {
      throw new SnapshotRefusedError(`staged snapshot ${file} cannot be read: ${String(error)}`, { cause: error });
    }
    if (!checked.ok) throw new SnapshotRefusedError(`staged snapshot ${file} does not match its descriptor: ${checked.reason}`);
    refuseUnless(checked, file);
    this.replaceDatabaseWith(file, checked.header);
  }

  private stageInMemory(name: string): StagedSnapshotWriter {
    assert(STAGED_NAME.test(name), `staged snapshot name ${JSON.stringify(name)} must be letters, digits and dashes`);
    const chunks: Buffer[] = [];
    const stream = new SnapshotStream((chunk) => chunks.push(Buffer.from(chunk)));
    return {
      write: (chunk) => stream.push(chunk),
      finish: () => {
        const checked = stream.finish();
        if (!checked.ok) throw new SnapshotRefusedError(`snapshot refused: ${checked.reason}`);
        const image = Buffer.concat(chunks);
        const incoming = openDatabase(image);
        const inside = readMeta(statementCache(incoming));
        incoming.close();
        if (!sameHead(checked.header, inside)) throw new SnapshotRefusedError('snapshot refused: its header does not match the state inside it');
        this.stagedInMemory.set(name, image);
        return { descriptor: checked.descriptor, appliedIndex: checked.header.appliedIndex };
      },
      abort: () => {
        chunks.length = 0;
      },
    };
  }

  /**
   * Makes the checked database file `file` the ledger's, by rename. Crash-safe
   * order: first every committed page goes into the main file and the WAL is
   * emptied, so removing the WAL and shared-memory files loses nothing
   * (closing checkpoints only as the last connection, and a half-checkpointed
   * file without its WAL is corrupt). A crash at any later step leaves the
   * whole old database or the whole new one; a stale WAL must never meet the
   * new file, so it goes before the rename.
   */
  private replaceDatabaseWith(file: string, header: SnapshotHeader): void {
    this.checkpointer?.stop();
    this.waitForSnapshotWorkers();
    const [checkpoint] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: bigint | number }[];
    assert(Number(checkpoint?.busy ?? 0) === 0, 'restore refused: another connection holds the WAL, it cannot be checkpointed');
    this.db.close();
    for (const suffix of ['-wal', '-shm']) rmSync(`${this.path}${suffix}`, { force: true });
    renameSync(file, this.path);
    fsyncDirectory(dirname(this.path));
    this.attach(openDatabase(this.path));
    this.checkpointer = this.startCheckpointer();
    assert(sameHead(header, this.meta), 'restored file differs from the snapshot');
  }

  /** An in-memory ledger holds its whole state anyway: the image is read whole and deserialized. */
  private restoreInMemory(source: SnapshotImageSource): void {
    const parsed = loadSnapshotImage(source);
    assert(parsed.ok, `restore refused: ${parsed.ok ? '' : parsed.reason}`);
    this.replaceInMemory(parsed.header, parsed.image);
  }

  private replaceInMemory(header: SnapshotHeader, image: Buffer): void {
    const incoming = openDatabase(image);
    if (!sameHead(header, readMeta(statementCache(incoming)))) {
      incoming.close();
      assert(false, 'restore refused: snapshot header does not match the state inside it');
    }
    this.db.close();
    this.attach(incoming);
  }

  private fileBacked(): boolean {
    return this.path !== ':memory:' && this.path !== '';
  }

  private stagedFile(name: string): string {
    assert(STAGED_NAME.test(name), `staged snapshot name ${JSON.stringify(name)} must be letters, digits and dashes`);
    return `${this.path}${STAGED_INFIX}${name}`;
  }

  close(): void {
    this.checkpointer?.stop();
    this.checkpointer = undefined;
    this.waitForSnapshotWorkers();
    if (this.db.open) this.db.close();
  }

  /** How the background checkpoints fare (undefined for an in-memory ledger). */
  checkpointStatus(): CheckpointerStatus | undefined {
    return this.checkpointer?.status();
  }

  private startCheckpointer(): WalCheckpointer | undefined {
    return this.fileBacked() ? new WalCheckpointer(this.db, this.path) : undefined;
  }

  private attach(db: Database.Database): void {
    this.db = db;
    this.statement = statementCache(db);
    this.meta = readMeta(this.statement);
    this.queriesView = new LedgerQueries(this.statement, db);
  }
}

function readMeta(statement: (sql: string) => Database.Statement): Meta {
  const row = statement('SELECT applied_index, time_ms, chain_head FROM meta').get() as Record<string, unknown>;
  return { appliedIndex: Number(row['applied_index']), timeMs: Number(row['time_ms']), chainHead: row['chain_head'] as string };
}

function applyCommand(context: ApplyContext, command: Command): CommandResult {
  switch (command.type) {
    case 'create_accounts':
      return { type: command.type, results: createAccounts(context, command.accounts) };
    case 'create_transfers':
      return { type: command.type, results: new TransferBatch(context).applyAll(command.transfers) };
    case 'create_items':
      return { type: command.type, results: createItems(context, command.items) };
    case 'adjust_stock':
      return { type: command.type, results: adjustStock(context, command.adjustments) };
    case 'create_reservations':
      return { type: command.type, results: createReservations(context, command.reservations) };
    case 'confirm_reservations':
      return { type: command.type, results: confirmReservations(context, command.ids) };
    case 'release_reservations':
      return { type: command.type, results: releaseReservations(context, command.ids) };
    case 'expire':
      return { type: command.type, ...expireDue(context, command.limit) };
    default:
      return unreachable(command, 'command type');
  }
}

function sameHead(header: SnapshotHeader, meta: Meta): boolean {
  return header.appliedIndex === meta.appliedIndex && header.chainHead === meta.chainHead;
}

/**
 * Copies the snapshot's image into `path` chunk by chunk and fsyncs it; a
 * damaged snapshot is refused and the file removed. A file left by an
 * interrupted restore is overwritten.
 */
function copyImageDurably(path: string, source: SnapshotImageSource): SnapshotHeader {
  const fd = openSync(path, 'w');
  let checked: CheckedImage;
  try {
    checked = readSnapshotImage(source, (chunk, offsetBytes) => writeAllSync(fd, chunk, offsetBytes));
    if (checked.ok) fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw error;
  }
  closeSync(fd);
  if (!checked.ok) {
    rmSync(path, { force: true });
    assert(false, `restore refused: ${checked.reason}`);
  }
  return checked.header;
}

/** Refuses a staged image that failed its checks, or whose state inside is not what its header says. */
function refuseUnless(checked: CheckedImage, file: string): void {
  if (!checked.ok) throw new SnapshotRefusedError(`snapshot refused: ${checked.reason}`);
  let inside: Meta;
  try {
    inside = readMetaOfFile(file);
  } catch (error) {
    throw new SnapshotRefusedError(`snapshot refused: the image does not open as a ledger: ${String(error)}`, { cause: error });
  }
  if (!sameHead(checked.header, inside)) throw new SnapshotRefusedError('snapshot refused: its header does not match the state inside it');
}

/** Files of staged snapshots beside the ledger at `path` (finished and unfinished). */
function stagedFileNames(path: string): string[] {
  const prefix = `${basename(path)}${STAGED_INFIX}`;
  return readdirSync(dirname(path)).filter((name) => name.startsWith(prefix));
}

/** A file's bytes in chunks of at most RESTORE_CHUNK_BYTES. */
function* fileChunks(file: string): Generator<Uint8Array> {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(RESTORE_CHUNK_BYTES);
    for (let position = 0; ; ) {
      const length = readSync(fd, buffer, 0, buffer.length, position);
      if (length === 0) return;
      yield buffer.subarray(0, length);
      position += length;
    }
  } finally {
    closeSync(fd);
  }
}

function writeAllSync(fd: number, chunk: Uint8Array, positionBytes: number): void {
  for (let done = 0; done < chunk.byteLength; ) {
    done += writeSync(fd, chunk, done, chunk.byteLength - done, positionBytes + done);
  }
}

/** The meta row of a database file, opened read-only: nothing is written beside it. */
function readMetaOfFile(path: string): Meta {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    return readMeta(statementCache(db));
  } finally {
    db.close();
  }
}

function fsyncDirectory(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
