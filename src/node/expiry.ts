// Expiry scheduling: a hold whose deadline has passed is released within about
// a second even when no other write arrives, because the leader proposes an
// `expire` entry itself once the ledger's next deadline is due by the leader's
// wall clock. Whether a hold has expired is still decided at apply time from
// entry time, the same on every replica; this only makes sure such an entry
// comes.
//
// It must not touch the ledger's state or the core: it reads the next
// deadline and writes through the write path like a client.

import type { Command } from '../ledger/index.js';
import { EXPIRY_RETRY_MS, EXPIRY_WRITE_TIMEOUT_MS, type Clock } from './node-options.js';
import type { Outcome, WriteResult } from './service.js';

export interface ExpirySchedulerOptions {
  readonly clock: Clock;
  /** Whether this node leads and can write now. */
  readonly mayPropose: () => boolean;
  readonly nextDeadlineMs: () => number | undefined;
  readonly write: (command: Command, timeoutMs: number) => Promise<Outcome<WriteResult>>;
}

export class ExpiryScheduler {
  private proposedAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ExpirySchedulerOptions) {}

  /** On each timer tick: proposes expiry of due holds; one expiry entry in flight at a time. */
  tick(): void {
    if (!this.options.mayPropose()) return;
    const deadline = this.options.nextDeadlineMs();
    if (deadline === undefined || deadline > this.options.clock.wallMs()) return;
    const now = this.options.clock.monotonicMs();
    if (now - this.proposedAtMs < EXPIRY_RETRY_MS) return;
    this.proposedAtMs = now;
    void this.options.write({ type: 'expire' }, EXPIRY_WRITE_TIMEOUT_MS).then((outcome) => {
      if (outcome.ok) this.proposedAtMs = Number.NEGATIVE_INFINITY;
    });
  }
}
