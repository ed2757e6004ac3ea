// The simulated network: per-message delay, loss, duplication and reordering,
// and partitions as a set of cut directed links. Deterministic given the PRNG.

import type { Prng } from '../../src/lib/prng.js';
import type { Message, NodeId } from '../../src/raft/types.js';

export interface Envelope {
  readonly deliverAt: number;
  readonly seq: number;
  readonly message: Message;
  /** The snapshot image travelling with a `snap` message. */
  readonly snapshotData: Uint8Array | undefined;
}

export interface NetworkFaults {
  lossRate: number;
  duplicateRate: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Chance that a message is held back long enough to arrive after later ones. */
  reorderRate: number;
  /**
   * Chance that a single message is held for longer than an election timeout
   * (200-500 ms): it arrives in a later term, possibly at a node that crashed
   * and restarted meanwhile, whose counters (read rounds) began again.
   */
  holdRate: number;
}

export const CALM_NETWORK: NetworkFaults = { lossRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 3, reorderRate: 0, holdRate: 0 };

/** How long a held message stays in the network. */
export const HOLD_MIN_MS = 200;
export const HOLD_MAX_MS = 500;

export class SimNetwork {
  faults: NetworkFaults = { ...CALM_NETWORK };
  private queue: Envelope[] = [];
  private seq = 0;
  private readonly cut = new Set<string>();
  sent = 0;
  dropped = 0;

  constructor(private readonly random: Prng) {}

  send(message: Message, now: number, snapshotData: Uint8Array | undefined): void {
    this.sent++;
    if (this.random.chance(this.faults.lossRate)) {
      this.dropped++;
      return;
    }
    const copies = this.random.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = this.random.int(this.faults.minDelayMs, this.faults.maxDelayMs);
      if (this.random.chance(this.faults.reorderRate)) delay += this.random.int(5, 60);
      if (this.faults.holdRate > 0 && this.random.chance(this.faults.holdRate)) delay += this.random.int(HOLD_MIN_MS, HOLD_MAX_MS);
      this.queue.push({ deliverAt: now + delay, seq: this.seq++, message, snapshotData });
    }
  }

  /** Removes and returns every envelope due by `now`, in delivery order. */
  due(now: number): Envelope[] {
    if (this.queue.length === 0) return [];
    const ready: Envelope[] = [];
    const later: Envelope[] = [];
    for (const envelope of this.queue) (envelope.deliverAt <= now ? ready : later).push(envelope);
    this.queue = later;
    return ready.sort((x, y) => x.deliverAt - y.deliverAt || x.seq - y.seq);
  }

  /** Puts an envelope back, for a paused receiver. */
  defer(envelope: Envelope, until: number): void {
    this.queue.push({ ...envelope, deliverAt: until });
  }

  linked(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  /** Cuts every link between the groups, in both directions. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.cut.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cut.add(`${x}>${y}`);
      }
    }
  }

  /** Each node reaches only its neighbours on a ring (for five nodes: every node sees a majority, no two see the same one). */
  ring(ids: readonly NodeId[]): void {
    this.cut.clear();
    const n = ids.length;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const distance = Math.min((i - j + n) % n, (j - i + n) % n);
        if (distance > 1) this.cut.add(`${ids[i]}>${ids[j]}`);
      }
    }
  }

  /** Cuts the link between two nodes, both ways, and nothing else. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.clear();
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  /** Cuts each directed link independently: asymmetric, partial connectivity. */
  randomLinks(ids: readonly NodeId[], cutRate: number, random: Prng): void {
    this.cut.clear();
    for (const a of ids) for (const b of ids) if (a !== b && random.chance(cutRate)) this.cut.add(`${a}>${b}`);
  }

  heal(): void {
    this.cut.clear();
  }

  hasPartition(): boolean {
    return this.cut.size > 0;
  }

  pending(): number {
    return this.queue.length;
  }
}
