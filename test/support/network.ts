// The one in-memory network of the tests: per-message delay, loss,
// duplication and reordering drawn from a seeded PRNG, and partitions as a set
// of cut directed links. The scripted Raft tests (test/raft), the core
// simulator (test/sim/simulation.ts), the driver simulator
// (test/sim/driver-simulation.ts) and the in-process driver tests (test/node)
// all send through it (the last through InProcessNetwork, below, which gives
// each LedgerNode a Transport); only what moves time differs:
//   - queued (the default): `due(now)` hands back what has arrived by `now`,
//     for a caller that steps its own clock;
//   - scheduled: each copy goes to the `schedule` callback with its delay, for
//     a caller with a scheduler of its own (virtual time, setImmediate).
// The order of PRNG draws per message is fixed (loss, duplicate, then per copy
// delay, reorder, hold), so a simulator seed replays the same run.

import { Prng } from '../../src/lib/prng.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { SnapshotSource, Transport, TransportHandlers } from '../../src/node/transport.js';

export interface Envelope<Payload> {
  readonly deliverAt: number;
  readonly seq: number;
  readonly message: Message;
  /** What travels with the message: the core simulator's snapshot image, the driver simulator's sender incarnation. */
  readonly payload: Payload;
}

export interface NetworkFaults {
  readonly lossRate: number;
  /**
   * Chance that a message arrives twice. Undefined: this network never
   * duplicates and draws nothing for it; 0 draws and never duplicates (the
   * simulators' recorded seeds depend on which).
   */
  readonly duplicateRate?: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** Chance that a message is held back long enough to arrive after later ones. */
  readonly reorderRate: number;
  /** The extra delay of a reordered message; default REORDER_EXTRA_MS. */
  readonly reorderExtraMs?: { readonly min: number; readonly max: number };
  /**
   * Chance that a single message is held for longer than an election timeout
   * (HOLD_MIN_MS..HOLD_MAX_MS): it arrives in a later term, possibly at a node
   * that crashed and restarted meanwhile, whose counters (read rounds) began
   * again. 0 draws nothing.
   */
  readonly holdRate: number;
}

/** Every message arrives, in order, 1-3 ms later. */
export const CALM_NETWORK: NetworkFaults = { lossRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 3, reorderRate: 0, holdRate: 0 };

/** Every message arrives at once, in the order sent: for scripted tests that step the cluster by hand. */
export const INSTANT_NETWORK: NetworkFaults = { lossRate: 0, minDelayMs: 0, maxDelayMs: 0, reorderRate: 0, holdRate: 0 };

export const REORDER_EXTRA_MS = { min: 5, max: 60 } as const;

/** How long a held message stays in the network. */
export const HOLD_MIN_MS = 200;
export const HOLD_MAX_MS = 500;

export interface NetworkOptions<Payload> {
  readonly faults?: NetworkFaults;
  /** Takes each copy instead of the queue: deliver it `delayMs` from now. */
  readonly schedule?: (envelope: Envelope<Payload>, delayMs: number) => void;
}

export class Network<Payload = undefined> {
  faults: NetworkFaults;
  sent = 0;
  dropped = 0;
  private queue: Envelope<Payload>[] = [];
  private seq = 0;
  private readonly cut = new Set<string>();
  private readonly schedule: ((envelope: Envelope<Payload>, delayMs: number) => void) | undefined;

  constructor(
    private readonly random: Prng,
    options: NetworkOptions<Payload> = {},
  ) {
    this.faults = { ...(options.faults ?? CALM_NETWORK) };
    this.schedule = options.schedule;
  }

  send(message: Message, nowMs: number, payload: Payload): void {
    this.sent++;
    const faults = this.faults;
    if (this.random.chance(faults.lossRate)) {
      this.dropped++;
      return;
    }
    const copies = faults.duplicateRate !== undefined && this.random.chance(faults.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delayMs = this.delayMs();
      const envelope = { deliverAt: nowMs + delayMs, seq: this.seq++, message, payload };
      if (this.schedule) this.schedule(envelope, delayMs);
      else this.queue.push(envelope);
    }
  }

  private delayMs(): number {
    const faults = this.faults;
    let delayMs = this.random.int(faults.minDelayMs, faults.maxDelayMs);
    if (this.random.chance(faults.reorderRate)) {
      const extra = faults.reorderExtraMs ?? REORDER_EXTRA_MS;
      delayMs += this.random.int(extra.min, extra.max);
    }
    if (faults.holdRate > 0 && this.random.chance(faults.holdRate)) delayMs += this.random.int(HOLD_MIN_MS, HOLD_MAX_MS);
    return delayMs;
  }

  /** Removes and returns every queued envelope due by `nowMs`, in delivery order. */
  due(nowMs: number): Envelope<Payload>[] {
    if (this.queue.length === 0) return [];
    const ready: Envelope<Payload>[] = [];
    const later: Envelope<Payload>[] = [];
    for (const envelope of this.queue) (envelope.deliverAt <= nowMs ? ready : later).push(envelope);
    this.queue = later;
    return ready.sort((x, y) => x.deliverAt - y.deliverAt || x.seq - y.seq);
  }

  /** Puts an envelope back in the queue, for a paused receiver. */
  defer(envelope: Envelope<Payload>, untilMs: number): void {
    this.queue.push({ ...envelope, deliverAt: untilMs });
  }

  pending(): number {
    return this.queue.length;
  }

  linked(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  /** Cuts every link between the groups, in both directions, and heals the rest. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.cut.clear();
    for (const a of groups) {
      for (const b of groups) {
        if (a === b) continue;
        for (const x of a) for (const y of b) this.cut.add(`${x}>${y}`);
      }
    }
  }

  /** Also cuts `id` off from each of `others`, both ways, keeping the cuts already made. */
  isolate(id: NodeId, others: Iterable<NodeId>): void {
    for (const other of others) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
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
}

/**
 * Streams a snapshot from `source` into the receiver's sink in chunks, then
 * hands it the `snap` message, as the peer transport does; answers whether it
 * arrived. The caller reports the outcome to the sender and closes the source.
 */
export function streamSnapshot(receiver: TransportHandlers, from: NodeId, message: Message, source: SnapshotSource, chunkBytes: number): boolean {
  if (!message.snapshot) return false;
  const sink = receiver.onSnapshotStart(from, message.snapshot);
  if (!sink) return false;
  for (let offset = 0; offset < source.dataBytes; offset += chunkBytes) sink.write(source.read(offset, chunkBytes));
  sink.commit(source.dataCrc32c);
  receiver.onMessages([message]);
  return true;
}

/**
 * Connects LedgerNodes in one process for driver tests: messages are passed
 * on a later turn of the event loop (asynchronously, as over a socket), in
 * order, batched per link; snapshots are streamed through the receiver's sink
 * in chunks. Links can be cut to make partitions. The real transport is
 * src/node/peer-transport.ts.
 */
export class InProcessNetwork {
  private readonly handlers = new Map<NodeId, TransportHandlers>();
  private readonly network = new Network(new Prng(0), { faults: INSTANT_NETWORK });
  /** Snapshots streamed so far, by receiver. */
  readonly snapshotsTo = new Map<NodeId, number>();

  transportFor(id: NodeId): (handlers: TransportHandlers) => Transport {
    return (handlers) => {
      this.handlers.set(id, handlers);
      return {
        setPeers: () => {},
        send: (messages) => this.send(messages),
        sendSnapshot: (message, source) => this.sendSnapshot(id, message, source),
        close: async () => {
          this.handlers.delete(id);
        },
      };
    };
  }

  linked(from: NodeId, to: NodeId): boolean {
    return this.network.linked(from, to) && this.handlers.has(to);
  }

  isolate(id: NodeId): void {
    this.network.isolate(id, this.handlers.keys());
  }

  heal(): void {
    this.network.heal();
  }

  private send(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    for (const m of messages) this.network.send(m, 0, undefined);
    setImmediate(() => this.deliverDue());
  }

  private deliverDue(): void {
    const byLink = new Map<string, Message[]>();
    for (const { message } of this.network.due(0)) {
      const link = `${message.from}>${message.to}`;
      byLink.set(link, [...(byLink.get(link) ?? []), message]);
    }
    for (const batch of byLink.values()) {
      const first = batch[0];
      if (first && this.linked(first.from, first.to)) this.handlers.get(first.to)?.onMessages(batch);
    }
  }

  private sendSnapshot(from: NodeId, message: Message, source: SnapshotSource): void {
    this.snapshotsTo.set(message.to, (this.snapshotsTo.get(message.to) ?? 0) + 1);
    setImmediate(() => {
      const receiver = this.handlers.get(message.to);
      let ok = false;
      try {
        ok = receiver !== undefined && this.linked(from, message.to) && streamSnapshot(receiver, from, message, source, 64 * 1024);
      } finally {
        source.close();
        this.handlers.get(from)?.onSnapshotSent(message.to, ok);
      }
    });
  }
}
