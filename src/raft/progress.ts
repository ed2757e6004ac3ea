// What the leader knows of each follower's log (Raft §5.3, with etcd's flow
// control): the matched index, the next index to send, and one of three
// states. In `probe` the leader sends one append at a time until it finds
// where the logs agree; in `replicate` it pipelines appends, optimistically
// advancing `next`, up to a bounded window of unacknowledged messages; in
// `snapshot` it waits for a snapshot to be installed.

import { assert } from '../lib/assert.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded FIFO of the last index of each in-flight append. */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  constructor(readonly capacity: number) {
    assert(capacity > 0, 'inflight capacity must be positive');
  }
  get count(): number {
    return this.lastIndexes.length;
  }
  full(): boolean {
    return this.lastIndexes.length >= this.capacity;
  }
  add(lastIndex: number): void {
    assert(!this.full(), 'inflights overflow');
    this.lastIndexes.push(lastIndex);
  }
  /** Frees every in-flight append whose last index is <= index. */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.lastIndexes.length && (this.lastIndexes[n] as number) <= index) n++;
    if (n > 0) this.lastIndexes.splice(0, n);
  }
  /** Frees the oldest slot: lets a window that lost an append make progress again. */
  freeFirstOne(): void {
    this.lastIndexes.shift();
  }
  reset(): void {
    this.lastIndexes.length = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state, an append is outstanding: wait for its answer or the next heartbeat. */
  probeSent = false;
  /** The snapshot index being installed while in `snapshot` state. */
  pendingSnapshot = 0;
  /** Ticks spent waiting in `snapshot` state, so a lost snapshot is retried. */
  snapshotWaitTicks = 0;
  /** Heard from since the last CheckQuorum. */
  recentActive = false;
  /** Ticks since the leader last heard from this peer (for operators). */
  lastContactTicks = 0;
  /** The highest read round this peer has acknowledged in this term. */
  readRoundAcked = 0;
  readonly inflights: Inflights;

  constructor(next: number, maxInflight: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
  }

  becomeProbe(): void {
    // After a snapshot, the follower holds at least the snapshot's index.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotWaitTicks = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** An acknowledgement of index n: returns false if it was stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Records that entries up to lastIndex were sent in replicate state. */
  optimisticUpdate(lastIndex: number): void {
    this.next = lastIndex + 1;
  }

  /**
   * A rejection of the append whose previous index was `rejected`; matchHint is
   * the follower's hint of the last index that may match. Returns false when
   * the rejection is stale (answers an append we have already moved past).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back further appends to this peer. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
