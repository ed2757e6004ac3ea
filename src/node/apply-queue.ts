// The apply stage of the driver's pipeline: committed entries wait here, in
// log order, until the ledger applies them in batches, one SQLite
// transaction per batch, on a later turn of the event loop. So applying never
// sits between an fsync and the next one: the Ready loop hands entries over
// and goes on persisting and replicating while this stage applies. etcd
// applies on its own goroutine for the same reason.
//
// Owns: the queue of committed entries not yet applied, the batching and the
// call into the ledger. It must not touch the Raft core, the log storage or
// the client waiters; what an applied entry means for them is the owner's
// (the `applied` callback).
//
// Entries only reach this queue after they are durable in the local log (the
// Ready loop pushes a Ready's committed entries after its fsync), so the
// ledger never holds an entry that a crash could take from the log.

import type { CommandResult, LedgerStateMachine } from '../ledger/index.js';
import type { Entry } from '../raft/types.js';
import type { Scheduler } from './driver-io.js';

/** Entries applied in one SQLite transaction at most. */
export const MAX_APPLY_BATCH_ENTRIES = 1024;
/** Entry bytes applied in one SQLite transaction at most. */
export const MAX_APPLY_BATCH_BYTES = 16 << 20;
/** Committed entries waiting to be applied before the Ready loop waits for this stage. */
export const MAX_APPLY_BACKLOG_ENTRIES = 16_384;
/**
 * How long one batch should hold the event loop. A transaction cannot be cut
 * short, so the batch size is chosen before it starts from the recent cost
 * of an entry: a backlog of a thousand entries then goes out in slices, with
 * heartbeats, fsync completions and acknowledgements served in between,
 * instead of one apply that stalls them all for a fifth of a second.
 */
export const APPLY_SLICE_MS = 8;
/**
 * The first batch's size, before the cost of a byte is known: this many
 * entries or FIRST_APPLY_BATCH_BYTES, whichever is reached first.
 */
export const FIRST_APPLY_BATCH_ENTRIES = 64;
export const FIRST_APPLY_BATCH_BYTES = 256 * 1024;
/** What an entry weighs beyond its data (so empty and tiny entries still cost something). */
export const ENTRY_OVERHEAD_BYTES = 64;

export interface AppliedEntry {
  readonly entry: Entry;
  /** The ledger's result; undefined for a membership entry. */
  readonly result: CommandResult | undefined;
}

export interface ApplyQueueOptions {
  readonly ledger: () => LedgerStateMachine;
  readonly scheduler: Scheduler;
  /** Monotonic milliseconds, for the duration of each batch. */
  readonly nowMs: () => number;
  /** Called once per batch, after its transaction committed, with every entry in log order. */
  readonly applied: (batch: readonly AppliedEntry[], seconds: number) => void;
}

export class ApplyQueue {
  private queue: Entry[] = [];
  private head = 0;
  private scheduled = false;
  private drainedWaiters: (() => void)[] = [];
  private stopped = false;
  /**
   * Recent milliseconds per applied byte (entry data plus ENTRY_OVERHEAD_BYTES;
   * a moving average), which sizes the next batch; undefined before the
   * first. By bytes, not entries: an entry of one transfer and one of 8190
   * differ a thousandfold in cost, and a batch sized for the first held the
   * event loop for seconds with the second (heartbeats missed, elections).
   */
  private msPerByte: number | undefined;

  constructor(private readonly options: ApplyQueueOptions) {}

  /** Entries not yet applied. */
  get backlog(): number {
    return this.queue.length - this.head;
  }

  /** Hands committed entries over, in log order; they are applied on a later turn. */
  push(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    for (const entry of entries) this.queue.push(entry);
    this.schedule();
  }

  /** Applies everything queued now, synchronously (before a snapshot install or a stop). */
  drain(): void {
    while (this.backlog > 0) this.applyBatch();
  }

  /** Resolves once the backlog is at most `entries` (back-pressure for the Ready loop). */
  waitBelow(entries: number): Promise<void> {
    if (this.backlog <= entries || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.backlog <= entries || this.stopped) resolve();
        else this.drainedWaiters.push(check);
      };
      this.drainedWaiters.push(check);
    });
  }

  /** Drops what is queued (a node that stops for good); waiters are released. */
  stop(): void {
    this.stopped = true;
    this.queue = [];
    this.head = 0;
    this.wakeWaiters();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    this.options.scheduler.defer(() => {
      this.scheduled = false;
      if (this.stopped || this.backlog === 0) return;
      this.applyBatch();
      if (this.backlog > 0) this.schedule();
    });
  }

  private applyBatch(): void {
    const ledger = this.options.ledger();
    const batch: Entry[] = [];
    let bytes = 0;
    let weight = 0;
    const maxEntries = this.msPerByte === undefined ? FIRST_APPLY_BATCH_ENTRIES : MAX_APPLY_BATCH_ENTRIES;
    const maxWeight = this.weightLimit();
    while (this.head < this.queue.length && batch.length < maxEntries) {
      const entry = this.queue[this.head] as Entry;
      const entryWeight = entry.data.length + ENTRY_OVERHEAD_BYTES;
      // At least one entry per batch, whatever it costs, so a backlog always shrinks.
      if (batch.length > 0 && (bytes + entry.data.length > MAX_APPLY_BATCH_BYTES || weight + entryWeight > maxWeight)) break;
      this.head++;
      // Covered by a snapshot restored meanwhile.
      if (entry.index <= ledger.appliedIndex()) continue;
      batch.push(entry);
      bytes += entry.data.length;
      weight += entryWeight;
    }
    this.compactQueue();
    if (batch.length > 0) {
      const started = this.options.nowMs();
      // Membership entries carry no ledger command: they are applied as empty entries.
      const outcomes = ledger.applyEntries(batch.map((entry) => ({ index: entry.index, data: entry.type === 'conf' ? EMPTY : entry.data })));
      const seconds = (this.options.nowMs() - started) / 1000;
      this.noteCost(seconds * 1000, weight);
      this.options.applied(
        batch.map((entry, i) => ({ entry, result: entry.type === 'conf' ? undefined : outcomes[i]?.result })),
        seconds,
      );
    }
    this.wakeWaiters();
  }

  /** The weight (bytes) the next batch may take: about APPLY_SLICE_MS of work at the recent cost per byte. */
  private weightLimit(): number {
    if (this.msPerByte === undefined) return FIRST_APPLY_BATCH_BYTES;
    // A byte that cost nothing measurable gives Infinity here: the entry and byte caps decide.
    return APPLY_SLICE_MS / this.msPerByte;
  }

  private noteCost(ms: number, weight: number): void {
    if (!(ms >= 0) || weight === 0) return;
    const sample = ms / weight;
    this.msPerByte = this.msPerByte === undefined ? sample : this.msPerByte * 0.8 + sample * 0.2;
  }

  private compactQueue(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private wakeWaiters(): void {
    const waiters = this.drainedWaiters;
    this.drainedWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

const EMPTY = new Uint8Array(0);
