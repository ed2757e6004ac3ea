// The write path: client commands become log entries and come back as
// answers. Owns the proposal queue (group commit: every write that arrives in
// one turn of the event loop is proposed as one batch of entries), the
// waiters keyed by log index, their timeouts, and the coalescing of identical
// commands already pending: a client that retries a write the leader has not
// yet committed joins the entry in flight instead of appending another copy.
//
// It must not touch storage, the ledger or the Ready loop: it proposes to the
// core, asks the owner to run the loop (`kick`), and is told by the apply
// stage what each entry's result was (`applied`).

import { encodeCommand, encodeEntryWithCommand, type Command, type CommandResult } from '../ledger/index.js';
import type { RawNode } from '../raft/raw-node.js';
import { NONE, type Entry } from '../raft/types.js';
import type { Scheduler } from './driver-io.js';
import type { NodeMetrics } from './metrics.js';
import {
  LEADERSHIP_MOVING_RETRY_AFTER_MS,
  MAX_PROPOSAL_BATCH,
  OVERLOADED_RETRY_AFTER_MS,
  type Clock,
} from './node-options.js';
import type { NodeError, Outcome, WriteResult } from './service.js';

type Answer = (outcome: Outcome<WriteResult>) => void;

interface WriteWaiter {
  readonly data: Uint8Array;
  /** The command's JSON: identical commands pending at once share one entry. */
  readonly key: string | undefined;
  readonly proposedAtMs: number;
  index: number;
  term: number;
  readonly answer: Answer;
  /** Clients whose identical command joined this one while it was pending. */
  readonly joined: Answer[];
  readonly timer: unknown;
}

export interface WritePathOptions {
  readonly raw: Pick<RawNode, 'proposeBatch' | 'summary'>;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly metrics: Pick<NodeMetrics, 'proposalCommitSeconds'>;
  readonly maxPendingWrites: number;
  /** Runs the Ready loop soon. */
  readonly kick: () => void;
  /** Why this node takes no writes at all now (stopping, storage failed), if it does not. */
  readonly unavailable: () => NodeError | undefined;
  /** The not_leader or no_leader error for a client that must go elsewhere. */
  readonly notLeader: () => NodeError;
}

export class WritePath {
  private queue: WriteWaiter[] = [];
  private flushScheduled = false;
  private readonly byIndex = new Map<number, WriteWaiter>();
  private readonly byKey = new Map<string, WriteWaiter>();
  private pending = 0;

  constructor(private readonly options: WritePathOptions) {}

  /** Why a write would be refused right now, if it would. */
  refusal(): NodeError | undefined {
    const unavailable = this.options.unavailable();
    if (unavailable) return unavailable;
    const status = this.options.raw.summary();
    if (status.role !== 'leader') return this.options.notLeader();
    if (status.leadTransferee !== NONE) return { code: 'no_leader', retryAfterMs: LEADERSHIP_MOVING_RETRY_AFTER_MS };
    if (this.pending >= this.options.maxPendingWrites) return { code: 'overloaded', retryAfterMs: OVERLOADED_RETRY_AFTER_MS };
    return undefined;
  }

  /** Proposes a client command (stamped with the leader's wall time) and answers once it is applied here. */
  write(command: Command, timeoutMs: number): Promise<Outcome<WriteResult>> {
    const refused = this.refusal();
    if (refused) return Promise.resolve({ ok: false, error: refused });
    const commandJson = encodeCommand(command);
    // Expiry carries no ids: two are two different entries.
    const key = command.type === 'expire' ? undefined : commandJson;
    const inFlight = key === undefined ? undefined : this.byKey.get(key);
    if (inFlight) return new Promise((resolve) => inFlight.joined.push(resolve));
    const data = encodeEntryWithCommand(Math.floor(this.options.clock.wallMs()), commandJson);
    return this.enqueue(data, key, timeoutMs);
  }

  private enqueue(data: Uint8Array, key: string | undefined, timeoutMs: number): Promise<Outcome<WriteResult>> {
    return new Promise((resolve) => {
      const waiter: WriteWaiter = {
        data,
        key,
        proposedAtMs: this.options.clock.monotonicMs(),
        index: 0,
        term: 0,
        answer: resolve,
        joined: [],
        timer: this.options.scheduler.setTimeout(() => {
          this.queue = this.queue.filter((w) => w !== waiter);
          this.finish(waiter, { ok: false, error: { code: 'commit_timeout', index: waiter.index || undefined } });
        }, timeoutMs),
      };
      this.pending++;
      if (key !== undefined) this.byKey.set(key, waiter);
      this.queue.push(waiter);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.options.scheduler.defer(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_PROPOSAL_BATCH);
      const result = this.options.raw.proposeBatch(batch.map((w) => w.data));
      if (!result.ok) {
        const error: NodeError =
          result.error === 'notLeader'
            ? this.options.notLeader()
            : result.error === 'overloaded'
              ? { code: 'overloaded', retryAfterMs: OVERLOADED_RETRY_AFTER_MS }
              : { code: 'no_leader', retryAfterMs: LEADERSHIP_MOVING_RETRY_AFTER_MS };
        for (const waiter of batch) this.finish(waiter, { ok: false, error });
        continue;
      }
      batch.forEach((waiter, i) => {
        waiter.index = result.index + i;
        waiter.term = result.term;
        this.byIndex.set(waiter.index, waiter);
      });
    }
    this.options.kick();
  }

  /** The apply stage applied `entry` with `result` (undefined for a membership entry). */
  applied(entry: Entry, result: CommandResult | undefined): void {
    const waiter = this.byIndex.get(entry.index);
    if (!waiter) return;
    if (waiter.term === entry.term && result !== undefined) {
      this.options.metrics.proposalCommitSeconds.observe((this.options.clock.monotonicMs() - waiter.proposedAtMs) / 1000);
      this.finish(waiter, { ok: true, value: { index: entry.index, result } });
    } else {
      // Another leader's entry took this index: ours was never committed, so a retry is safe.
      this.finish(waiter, { ok: false, error: { code: 'no_leader', retryAfterMs: LEADERSHIP_MOVING_RETRY_AFTER_MS } });
    }
  }

  /** Leadership moved away: writes not yet proposed go to the new leader. */
  leadershipLost(): void {
    const queued = this.queue;
    this.queue = [];
    for (const waiter of queued) this.finish(waiter, { ok: false, error: this.options.notLeader() });
  }

  /** Answers every write in flight or queued with `error` (stopping, storage failed). */
  failAll(error: NodeError): void {
    const all = [...this.byIndex.values(), ...this.queue];
    this.queue = [];
    for (const waiter of all) this.finish(waiter, { ok: false, error });
  }

  private finish(waiter: WriteWaiter, outcome: Outcome<WriteResult>): void {
    this.options.scheduler.clearTimeout(waiter.timer);
    if (waiter.index > 0 && this.byIndex.get(waiter.index) === waiter) this.byIndex.delete(waiter.index);
    if (waiter.key !== undefined && this.byKey.get(waiter.key) === waiter) this.byKey.delete(waiter.key);
    this.pending = Math.max(0, this.pending - 1);
    waiter.answer(outcome);
    if (waiter.joined.length === 0) return;
    const repeat = outcome.ok ? { ok: true as const, value: { ...outcome.value, result: asRepeat(outcome.value.result) } } : outcome;
    for (const answer of waiter.joined) answer(repeat);
  }
}

/**
 * What a client that sent the same command while it was pending is told: the
 * command took effect once, so its items answer as a repeat would (`exists`),
 * and refusals answer as they did.
 */
function asRepeat(result: CommandResult): CommandResult {
  if (!('results' in result)) return result;
  const results = result.results.map((item) => (item.status === 'error' || item.status === 'exists' ? item : { ...item, status: 'exists' as const }));
  return { ...result, results } as CommandResult;
}
