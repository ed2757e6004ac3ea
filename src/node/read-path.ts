// The read path: how a read at each consistency level gets its proof before
// it touches the ledger. Owns the ReadIndex/lease waiters, the freshness
// proof of stale reads (the monotonic time as of which the local state is
// known fresh), and the waiters for an applied index (ReadIndex, min_index).
//
// The staleness proof assumes nothing about other clocks: a read index
// requested at local monotonic time t0 covers everything committed before t0
// (the leader fixes it after the request arrives), so once it is applied here
// the local state is at most now - t0 old, measured on this node's clock.
// That clock may run slow by up to maxClockDriftRatio (the assumption leases
// rest on too), so the proven age is (now - t0) / (1 - drift). See docs/node.md.
//
// It must not touch storage, the write path or the Ready loop: it asks the
// core for read indexes, asks the owner to run the loop (`kick`), and is told
// by the owner when a Ready answered a read (`readState`, `readDropped`) and
// when the apply stage moved the applied index (`appliedMoved`).

import type { LedgerQueries, LedgerStateMachine } from '../ledger/index.js';
import type { RawNode } from '../raft/raw-node.js';
import { NONE, type NodeId } from '../raft/types.js';
import { sleep, type Scheduler } from './driver-io.js';
import type { NodeMetrics } from './metrics.js';
import { RETRY_AFTER_MS, type Clock } from './node-options.js';
import type { NodeError, Outcome, ReadOptions, ReadResult } from './service.js';

type ReadMode = 'readIndex' | 'lease';

interface ReadWaiter {
  readonly resolve: (index: number | undefined) => void;
}

interface AppliedWaiter {
  readonly index: number;
  readonly resolve: () => void;
}

export interface ReadPathOptions {
  readonly nodeId: NodeId;
  readonly raw: Pick<RawNode, 'readIndex' | 'summary'>;
  readonly ledger: () => LedgerStateMachine;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly metrics: Pick<NodeMetrics, 'readStalenessSeconds'>;
  readonly tickMs: number;
  /** How long a read index may take to be applied and still count as a freshness proof. */
  readonly freshnessWindowMs: number;
  /** How much slower than real time this node's clock may run, as a ratio (the lease's drift): stretches proven staleness. */
  readonly maxClockDriftRatio: number;
  /** Runs the Ready loop soon. */
  readonly kick: () => void;
  /** Brings the core's ticks up to the clock, so a paused process sees its lease expired before it serves. */
  readonly catchUpTicks: () => void;
  /** Why this node serves no reads now (stopping, storage failed), if it does not. */
  readonly unavailable: () => NodeError | undefined;
}

export class ReadPath {
  private readonly readWaiters = new Map<string, ReadWaiter>();
  private nextReadId = 0;
  private appliedWaiters: AppliedWaiter[] = [];
  /** Monotonic time as of which the local state is proven fresh (a read index requested then is applied). */
  private freshAsOfMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ReadPathOptions) {}

  async read<T>(request: ReadOptions, query: (queries: LedgerQueries) => T): Promise<Outcome<ReadResult<T>>> {
    const unavailable = this.options.unavailable();
    if (unavailable) return { ok: false, error: unavailable };
    const clock = this.options.clock;
    const deadline = clock.monotonicMs() + request.waitMs;
    // Whole milliseconds: a fraction left over must count as expired, or a retry loop could creep toward the deadline for ever.
    const remaining = (): number => Math.max(0, Math.floor(deadline - clock.monotonicMs()));
    let stalenessMs: number | undefined;
    if (request.level === 'stale') {
      if (request.maxStalenessMs !== undefined) {
        const proven = await this.proveFreshness(request.maxStalenessMs, remaining());
        if (proven === undefined) {
          return {
            ok: false,
            error: { code: 'staleness_bound_exceeded', retryAfterMs: RETRY_AFTER_MS, provenStalenessMs: this.provenStalenessMs() },
          };
        }
        stalenessMs = proven;
      } else {
        stalenessMs = this.provenStalenessMs();
      }
      if (stalenessMs !== undefined) this.options.metrics.readStalenessSeconds.observe(stalenessMs / 1000);
    } else {
      const index = await this.readIndexWithin(request.level === 'lease' ? 'lease' : 'readIndex', remaining);
      if (index === undefined) return { ok: false, error: this.readFailure() };
      if (!(await this.waitApplied(index, remaining()))) return { ok: false, error: { code: 'read_timeout', retryAfterMs: RETRY_AFTER_MS } };
    }
    if (request.minIndex !== undefined && !(await this.waitApplied(request.minIndex, remaining()))) {
      const appliedIndex = this.options.ledger().appliedIndex();
      return { ok: false, error: { code: 'index_not_reached', minIndex: request.minIndex, appliedIndex, retryAfterMs: RETRY_AFTER_MS } };
    }
    // better-sqlite3 is synchronous: the query sees exactly the state at appliedIndex.
    const served = this.options.ledger();
    const appliedIndex = served.appliedIndex();
    const value = query(served.queries);
    if (request.level !== 'stale') return { ok: true, value: { value, appliedIndex } };
    const lagEntries = Math.max(0, this.options.raw.summary().commit - appliedIndex);
    return { ok: true, value: { value, appliedIndex, ...(stalenessMs === undefined ? {} : { stalenessMs }), lagEntries } };
  }

  /** A Ready carried the index at which read `id` may be served. */
  readState(id: string, index: number): void {
    this.readWaiters.get(id)?.resolve(index);
  }

  /** The core refused read `id` (not leader, leadership lost, transfer under way). */
  readDropped(id: string): void {
    this.readWaiters.get(id)?.resolve(undefined);
  }

  /** The apply stage moved the applied index: wake what waited for it. */
  appliedMoved(): void {
    const applied = this.options.ledger().appliedIndex();
    const still: AppliedWaiter[] = [];
    for (const waiter of this.appliedWaiters) {
      if (waiter.index <= applied) waiter.resolve();
      else still.push(waiter);
    }
    this.appliedWaiters = still;
  }

  /** Answers every read waiting for a read index as refused (the node stops). */
  stop(): void {
    for (const waiter of [...this.readWaiters.values()]) waiter.resolve(undefined);
  }

  /** Resolves true once `index` is applied here, false after timeoutMs. */
  waitApplied(index: number, timeoutMs: number): Promise<boolean> {
    if (this.options.ledger().appliedIndex() >= index) return Promise.resolve(true);
    const scheduler = this.options.scheduler;
    return new Promise((resolve) => {
      const timer = scheduler.setTimeout(() => {
        this.appliedWaiters = this.appliedWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter: AppliedWaiter = {
        index,
        resolve: () => {
          scheduler.clearTimeout(timer);
          resolve(true);
        },
      };
      this.appliedWaiters.push(waiter);
    });
  }

  private readFailure(): NodeError {
    if (this.options.raw.summary().lead === NONE) return { code: 'no_leader', retryAfterMs: RETRY_AFTER_MS };
    return { code: 'read_timeout', retryAfterMs: RETRY_AFTER_MS };
  }

  /** Retries a refused read index (no leader known yet, leadership moving) until the time is up. */
  private async readIndexWithin(mode: ReadMode, remaining: () => number): Promise<number | undefined> {
    for (;;) {
      const index = await this.readIndex(mode, remaining());
      if (index !== undefined || remaining() <= 0 || this.options.unavailable()) return index;
      await sleep(this.options.scheduler, Math.min(this.options.tickMs, remaining()));
    }
  }

  /** Asks the core for a read index; undefined if refused or not answered in time. */
  private readIndex(mode: ReadMode, timeoutMs: number): Promise<number | undefined> {
    this.options.catchUpTicks();
    const id = `${this.options.nodeId}:${this.nextReadId++}`;
    const requestedAtMs = this.options.clock.monotonicMs();
    const scheduler = this.options.scheduler;
    return new Promise((resolve) => {
      const timer = scheduler.setTimeout(() => finish(undefined), timeoutMs);
      const finish = (index: number | undefined): void => {
        scheduler.clearTimeout(timer);
        this.readWaiters.delete(id);
        if (index !== undefined) void this.noteFreshness(index, requestedAtMs);
        resolve(index);
      };
      this.readWaiters.set(id, { resolve: finish });
      this.options.raw.readIndex(id, mode);
      this.options.kick();
    });
  }

  /** Once a read index requested at requestedAtMs is applied, the local state is proven fresh as of then. */
  private async noteFreshness(index: number, requestedAtMs: number): Promise<void> {
    if (await this.waitApplied(index, this.options.freshnessWindowMs)) {
      if (requestedAtMs > this.freshAsOfMs) this.freshAsOfMs = requestedAtMs;
    }
  }

  /**
   * The most real milliseconds the local state may be behind: local time
   * since freshAsOf, stretched by the drift. Without the stretch a clock at
   * x0.327 (the jepsen clock-rate-beyond nemesis) served reads bounded by
   * 50 ms that missed writes acknowledged more than 50 ms before them; at
   * the drift's edge (x0.9) a bound could be exceeded by up to 11%.
   */
  private provenStalenessMs(): number | undefined {
    if (!Number.isFinite(this.freshAsOfMs)) return undefined;
    const localMs = this.options.clock.monotonicMs() - this.freshAsOfMs;
    return Math.max(0, Math.ceil(localMs / (1 - this.options.maxClockDriftRatio)));
  }

  /** Proves the local state no older than maxMs, asking the leader if needed; the proven bound or undefined. */
  private async proveFreshness(maxMs: number, waitMs: number): Promise<number | undefined> {
    const known = this.provenStalenessMs();
    if (known !== undefined && known <= maxMs) return known;
    const clock = this.options.clock;
    const deadline = clock.monotonicMs() + waitMs;
    const index = await this.readIndexWithin('readIndex', () => Math.max(0, Math.floor(deadline - clock.monotonicMs())));
    if (index === undefined) return undefined;
    // readIndex records freshness once applied; wait for that within the budget.
    await this.waitApplied(index, waitMs);
    const proven = this.provenStalenessMs();
    return proven !== undefined && proven <= maxMs ? proven : undefined;
  }
}
