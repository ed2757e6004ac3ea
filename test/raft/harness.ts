// A small synchronous cluster for scripted Raft tests: RawNodes over
// MemoryStorage, the shared test network with no faults and no delay (it
// delivers everything, in order, unless a link is cut), and helpers to run
// Readys until the cluster is quiet.

import { Prng } from '../../src/lib/prng.js';
import { DEFAULT_RAFT_CONFIG, type RaftConfig } from '../../src/raft/config.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { RawNode } from '../../src/raft/raw-node.js';
import type { Entry, Message, NodeId, ReadState } from '../../src/raft/types.js';
import { INSTANT_NETWORK, Network } from '../support/network.js';

export class TestCluster {
  readonly nodes = new Map<NodeId, RawNode>();
  readonly storages = new Map<NodeId, MemoryStorage>();
  readonly applied = new Map<NodeId, Entry[]>();
  readonly reads = new Map<NodeId, ReadState[]>();
  readonly dropped = new Map<NodeId, string[]>();
  readonly network = new Network(new Prng(0), { faults: INSTANT_NETWORK });
  /** Every message sent, for assertions about traffic. */
  readonly sent: Message[] = [];
  /** Messages the network holds back (see holdIf) until a test releases them, possibly much later. */
  readonly held: Message[] = [];
  /** Messages for which this returns true are held instead of delivered. */
  holdIf: ((m: Message) => boolean) | undefined;
  private readonly overrides: Partial<RaftConfig>;

  constructor(voters: readonly NodeId[], overrides: Partial<RaftConfig> = {}, extra: readonly NodeId[] = []) {
    this.overrides = overrides;
    for (const id of voters) this.add(id, MemoryStorage.bootstrap(voters));
    for (const id of extra) this.add(id, new MemoryStorage());
  }

  add(id: NodeId, storage: MemoryStorage): void {
    this.storages.set(id, storage);
    this.nodes.set(id, this.newNode(id, storage, 0));
    this.applied.set(id, []);
    this.reads.set(id, []);
    this.dropped.set(id, []);
  }

  private newNode(id: NodeId, storage: MemoryStorage, applied: number, extra: Partial<RaftConfig> = {}): RawNode {
    const config: RaftConfig = {
      ...DEFAULT_RAFT_CONFIG,
      electionTicks: 10,
      heartbeatTicks: 1,
      id,
      applied,
      random: new Prng(id.charCodeAt(id.length - 1)),
      ...this.overrides,
      ...extra,
    };
    return new RawNode(config, storage);
  }

  node(id: NodeId): RawNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** Restarts a node from what it persisted. */
  restart(id: NodeId, extra: Partial<RaftConfig> = {}): void {
    const storage = this.storages.get(id) as MemoryStorage;
    const applied = this.applied.get(id) ?? [];
    this.nodes.set(id, this.newNode(id, storage, applied[applied.length - 1]?.index ?? 0, extra));
  }

  isolate(id: NodeId): void {
    this.network.isolate(id, this.nodes.keys());
  }

  heal(): void {
    this.network.heal();
  }

  /** Runs every node's Ready and delivers messages until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let moved = false;
      for (const [id, node] of this.nodes) {
        while (node.hasReady()) {
          moved = true;
          const rd = node.ready();
          const storage = this.storages.get(id) as MemoryStorage;
          if (rd.snapshot) storage.installSnapshot(rd.snapshot, new Uint8Array(0));
          storage.append(rd.entries);
          if (rd.hardState) storage.setHardState(rd.hardState);
          this.post([...rd.messages, ...rd.messagesAfterPersist]);
          (this.applied.get(id) as Entry[]).push(...rd.committedEntries);
          (this.reads.get(id) as ReadState[]).push(...rd.readStates);
          (this.dropped.get(id) as string[]).push(...rd.droppedReads);
          node.advance(rd);
        }
      }
      for (const { message: m } of this.network.due(0)) {
        moved = true;
        const to = this.nodes.get(m.to);
        if (this.holdIf?.(m)) this.held.push(m);
        else if (to && this.network.linked(m.from, m.to)) to.step(m);
      }
      if (!moved) return;
    }
    throw new Error('cluster did not stabilize');
  }

  private post(messages: readonly Message[]): void {
    this.sent.push(...messages);
    for (const m of messages) this.network.send(m, 0, undefined);
  }

  /** Delivers held messages that match, late, to whatever node now runs under that id; then stabilizes. */
  release(match: (m: Message) => boolean): Message[] {
    const released = this.held.filter(match);
    for (const m of released) {
      this.held.splice(this.held.indexOf(m), 1);
      this.node(m.to).step(m);
    }
    this.stabilize();
    return released;
  }

  tick(ids: Iterable<NodeId>, times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of ids) this.node(id).tick();
      this.stabilize();
    }
  }

  tickAll(times = 1): void {
    this.tick([...this.nodes.keys()], times);
  }

  leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const [id, node] of this.nodes) {
      const s = node.status();
      if (s.role === 'leader' && (!best || s.term > best.term)) best = { id, term: s.term };
    }
    return best?.id;
  }

  /**
   * Elects `id`: first lets an election timeout pass with the network cut, so
   * that no node still honours a lease from its start-up, then campaigns.
   */
  elect(id: NodeId): void {
    this.network.partition([...this.nodes.keys()].map((node) => [node]));
    this.tickAll(10);
    this.heal();
    this.node(id).campaign();
    this.stabilize();
    if (this.node(id).status().role !== 'leader') throw new Error(`${id} did not win`);
  }

  appliedData(id: NodeId): string[] {
    const decoder = new TextDecoder();
    return (this.applied.get(id) ?? []).filter((e) => e.type === 'normal' && e.data.length > 0).map((e) => decoder.decode(e.data));
  }
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
