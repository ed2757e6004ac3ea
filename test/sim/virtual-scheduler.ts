// Virtual time for running the real node driver in the simulator: a clock and
// timers that advance only when the simulation says so. Each node gets its
// own view, so a crashed node's timers can be cancelled as a whole. Between
// two timers the simulation lets every promise continuation run (one real
// macrotask turn), so runs are deterministic for a given seed.

import type { Clock } from '../../src/node/node.js';
import type { Scheduler } from '../../src/node/driver-io.js';

interface Timer {
  readonly id: number;
  at: number;
  readonly seq: number;
  readonly fn: () => void;
  readonly owner: string;
  readonly everyMs: number | undefined;
}

export class VirtualTime {
  nowMs = 0;
  private timers: Timer[] = [];
  private nextId = 1;
  private seq = 0;
  private readonly cancelled = new Set<number>();
  private readonly deadOwners = new Set<string>();

  schedule(owner: string, fn: () => void, delayMs: number, everyMs?: number): number {
    const timer: Timer = { id: this.nextId++, at: this.nowMs + Math.max(0, delayMs), seq: this.seq++, fn, owner, everyMs };
    this.insert(timer);
    return timer.id;
  }

  private insert(timer: Timer): void {
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = this.timers[mid] as Timer;
      if (other.at < timer.at || (other.at === timer.at && other.seq < timer.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, timer);
  }

  cancel(id: number): void {
    this.cancelled.add(id);
  }

  /** Cancels every timer of an owner, now and later: a crashed node does nothing more. */
  kill(owner: string): void {
    this.deadOwners.add(owner);
  }

  revive(owner: string): void {
    this.deadOwners.delete(owner);
  }

  /** Runs timers due up to `untilMs`, letting promise continuations run after each. */
  async runUntil(untilMs: number): Promise<void> {
    for (;;) {
      const next = this.timers[0];
      if (!next || next.at > untilMs) break;
      this.timers.shift();
      if (this.cancelled.delete(next.id) || this.deadOwners.has(next.owner)) continue;
      this.nowMs = Math.max(this.nowMs, next.at);
      if (next.everyMs !== undefined) {
        next.at = this.nowMs + next.everyMs;
        this.insert({ ...next, seq: this.seq++ });
      }
      next.fn();
      await flushContinuations();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  /** A node's view: its Scheduler and Clock. */
  view(owner: string, driftRatio = 1): { scheduler: Scheduler; clock: Clock } {
    const scheduler: Scheduler = {
      // The node's milliseconds are its own clock's: they last `driftRatio` real ones.
      setTimeout: (fn, ms) => this.schedule(owner, fn, ms * driftRatio),
      clearTimeout: (handle) => this.cancel(handle as number),
      setInterval: (fn, ms) => this.schedule(owner, fn, ms * driftRatio, ms * driftRatio),
      clearInterval: (handle) => this.cancel(handle as number),
      defer: (fn) => this.schedule(owner, fn, 0),
    };
    const clock: Clock = { monotonicMs: () => this.nowMs / driftRatio, wallMs: () => 1_800_000_000_000 + this.nowMs };
    return { scheduler, clock };
  }
}

/** One real macrotask turn: every pending promise continuation runs. */
export function flushContinuations(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
