// A deterministic simulation of a Raft cluster: many RawNodes in one process,
// a simulated millisecond clock with per-node drift, a faulty network,
// crashes that keep only what was persisted (including a crash between the
// leader's early sends and its fsync), pauses, membership changes, leadership
// transfers, compaction with snapshot catch-up, and clients that write and
// read throughout. Every step is checked by Checker; after the faults heal,
// liveness is required within a bounded time. One seed replays one run.

import { AssertionFailure } from '../../src/lib/assert.js';
import { Prng } from '../../src/lib/prng.js';
import { DEFAULT_RAFT_CONFIG, type RaftConfig } from '../../src/raft/config.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { bootstrapLog } from '../../src/raft/membership.js';
import { RawNode } from '../../src/raft/raw-node.js';
import type { Entry, Message, NodeId, Ready, SnapshotMeta } from '../../src/raft/types.js';
import { Checker, SafetyViolation } from './checker.js';
import { hashBytes } from './hash.js';
import { CALM_NETWORK, Network, type NetworkFaults } from '../support/network.js';

export interface SimOptions {
  readonly seed: number;
  /** Milliseconds of simulated time under faults. */
  readonly steps: number;
  /** Initial voters (3 or 5); one more node waits as a spare for membership changes. */
  readonly nodes: number;
  /** Keep every trace line (otherwise the last few hundred). */
  readonly traceAll?: boolean;
  /** Replace the core's configuration knobs (used to show that checks catch bugs). */
  readonly raftOverrides?: Partial<RaftConfig>;
}

export interface SimResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly trace: readonly string[];
  readonly stats: {
    readonly committed: number;
    readonly leaders: number;
    readonly reads: number;
    readonly crashes: number;
    readonly snapshotsSent: number;
    readonly confChanges: number;
    readonly transfers: number;
    readonly healMs: number;
  };
}

const TICK_MS = 10;
const ELECTION_TICKS = 10;
const HEAL_LIMIT_MS = 15_000;
/** A client's retry delay: exponential from the base, capped, with jitter (as a real client backs off). */
const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 2_000;
/** Proposal records kept per value, to recognise its entry still pending in a leader's log. */
const MAX_PROPOSALS_REMEMBERED = 8;
const TRACE_KEEP = 400;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Persisted state of a node, plus each entry's chain hash for the log-matching check. */
class SimStorage extends MemoryStorage {
  chains = new Map<number, string>();
  snapshotChain = '';

  override clone(): SimStorage {
    const copy = Object.assign(new SimStorage(), super.clone());
    copy.chains = new Map(this.chains);
    copy.snapshotChain = this.snapshotChain;
    return copy;
  }
}

/** The replicated state machine: a hash chain over applied entries and the set of client values. */
class SimStateMachine {
  applied = 0;
  hash = '';
  values = new Set<string>();

  apply(entry: Entry): void {
    if (entry.index !== this.applied + 1) {
      throw new SafetyViolation(`apply gap: entry ${entry.index} after ${this.applied}`);
    }
    this.hash = hashBytes(this.hash, entry.term, entry.data);
    if (entry.type === 'normal' && entry.data.length > 0) this.values.add(decoder.decode(entry.data));
    this.applied = entry.index;
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ applied: this.applied, hash: this.hash, values: [...this.values] }));
  }

  restore(data: Uint8Array): void {
    const parsed = JSON.parse(decoder.decode(data)) as { applied: number; hash: string; values: string[] };
    this.applied = parsed.applied;
    this.hash = parsed.hash;
    this.values = new Set(parsed.values);
  }
}

class SimNode {
  raw!: RawNode;
  fsm = new SimStateMachine();
  alive = true;
  pausedUntil = 0;
  nextTickAt: number;
  lastCommit = 0;
  lastRole = 'follower';
  /** The term in which this node was last seen becoming leader. */
  leaderTerm = 0;
  /** A Ready written but whose fsync has not completed: messages keep being stepped meanwhile. */
  persisting: { readonly rd: Ready; readonly completeAt: number } | undefined;
  /** What a crash keeps while a Ready's fsync is in flight (the storage before its writes). */
  durable: SimStorage | undefined;
  readonly tickIntervalMs: number;
  readonly incomingSnapshots = new Map<number, Uint8Array>();

  constructor(
    readonly id: NodeId,
    public storage: SimStorage,
    readonly random: Prng,
    driftRatio: number,
    now: number,
  ) {
    this.tickIntervalMs = TICK_MS / driftRatio;
    this.nextTickAt = now + this.tickIntervalMs * random.next();
  }
}

/** A client value not yet seen applied anywhere. */
interface PendingValue {
  /** Proposals made so far (the retry delay doubles with each). */
  attempts: number;
  nextTryAt: number;
  /** Where it was accepted: (index, term) identifies the entry on any node (log matching). */
  readonly accepted: { index: number; term: number }[];
}

interface PendingRead {
  readonly node: NodeId;
  readonly beganCommit: number;
  readonly mode: 'readIndex' | 'lease';
}

export class Simulation {
  readonly random: Prng;
  /** Carries the snapshot image with a `snap` message. */
  readonly network: Network<Uint8Array | undefined>;
  readonly checker = new Checker();
  readonly nodes = new Map<NodeId, SimNode>();
  private readonly trace: string[] = [];
  now = 0;
  private nextValue = 0;
  /** Client values not yet seen applied anywhere. */
  private readonly pendingValues = new Map<string, PendingValue>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private nextReadId = 0;
  private readonly restarts = new Map<NodeId, number>();
  private readonly leaderKills = new Map<NodeId, { at: number; term: number }>();
  private readonly leadersSeen = new Set<string>();
  private stats = { crashes: 0, snapshotsSent: 0, confChanges: 0, transfers: 0 };
  private readonly raftConfigBase: Omit<RaftConfig, 'id' | 'applied' | 'random'>;
  /** Entries a snapshot leaves in the log below it, so a follower briefly behind needs no snapshot. */
  private readonly catchUpTailEntries: number;

  constructor(private readonly options: SimOptions) {
    this.random = new Prng(options.seed);
    this.network = new Network<Uint8Array | undefined>(new Prng(options.seed ^ 0x5eed));
    const r = this.random;
    this.raftConfigBase = {
      ...DEFAULT_RAFT_CONFIG,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: 1,
      // Small messages and windows make partial replication, and so the classic bugs, likely.
      maxAppendBytes: r.pick([64, 64, 200, 4096]),
      maxInflightAppends: r.pick([1, 4, 32]),
      maxUncommittedBytes: 1 << 20,
      maxCommittedBytesPerReady: r.pick([100, 1 << 20]),
      maxPendingReads: 1000,
      maxClockDriftRatio: 0.1,
      ...options.raftOverrides,
    };
    // Small tails keep snapshot catch-up common; the large one is what a real node keeps.
    this.catchUpTailEntries = r.pick([10, 40, 400]);
    const voters = Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`);
    const spare = `n${options.nodes + 1}`;
    for (const id of [...voters, spare]) {
      const storage = new SimStorage();
      if (id !== spare) {
        const { entries, hardState } = bootstrapLog(voters);
        storage.append(entries);
        storage.setHardState(hardState);
        this.recordChains(id, storage, entries);
      }
      // Half the nodes run at the extremes of the allowed drift: the worst case for leases.
      const spread = r.chance(0.5) ? r.pick([-1, 1]) : r.next() * 2 - 1;
      const drift = 1 + spread * this.raftConfigBase.maxClockDriftRatio;
      const node = new SimNode(id, storage, new Prng(r.nextUint32()), drift, 0);
      this.nodes.set(id, node);
      this.boot(node);
    }
  }

  private log(line: string): void {
    this.trace.push(`${String(this.now).padStart(6)}ms ${line}`);
    if (!this.options.traceAll && this.trace.length > TRACE_KEEP * 2) this.trace.splice(0, this.trace.length - TRACE_KEEP);
  }

  /** (Re)starts a node from its persisted storage. */
  private boot(node: SimNode): void {
    node.fsm = new SimStateMachine();
    const meta = node.storage.snapshotMeta();
    if (meta.index > 0) node.fsm.restore(node.storage.snapshotData);
    node.raw = new RawNode({ ...this.raftConfigBase, id: node.id, applied: node.fsm.applied, random: node.random }, node.storage);
    node.lastCommit = node.raw.status().commit;
    node.lastRole = 'follower';
    node.leaderTerm = 0;
    node.persisting = undefined;
    node.durable = undefined;
    node.alive = true;
    node.nextTickAt = this.now + node.tickIntervalMs * node.random.next();
  }

  /** Kills a node (keeping only what it persisted) and schedules its restart. */
  private crash(node: SimNode, why: string): void {
    this.stats.crashes++;
    node.alive = false;
    this.restarts.set(node.id, this.now + this.random.int(10, 400));
    node.incomingSnapshots.clear();
    // Only what was persisted survives: not the writes of a Ready whose fsync is in flight.
    node.storage = node.durable ?? node.storage.clone();
    node.durable = undefined;
    node.persisting = undefined;
    for (const [id, read] of this.pendingReads) if (read.node === node.id) this.pendingReads.delete(id);
    this.log(`${node.id} CRASH (${why})`);
  }

  run(): SimResult {
    let error: string | undefined;
    let healMs = -1;
    try {
      for (; this.now < this.options.steps; this.now++) {
        this.chaos();
        this.tickAll();
        this.clients(true);
        this.step();
      }
      healMs = this.heal();
    } catch (e) {
      if (e instanceof SafetyViolation || e instanceof AssertionFailure) error = `${e.name}: ${e.message}`;
      else throw e;
    }
    if (error) this.log(`FAILED: ${error}`);
    return {
      seed: this.options.seed,
      ok: error === undefined,
      ...(error === undefined ? {} : { error }),
      trace: this.trace,
      stats: {
        committed: this.checker.maxCommitSeen,
        leaders: this.leadersSeen.size,
        reads: this.checker.readsChecked,
        ...this.stats,
        healMs,
      },
    };
  }

  /**
   * Brings every running node's ticks up to its clock. A resumed node catches
   * up on the ticks it missed before it serves anything, as the real driver
   * does from its monotonic clock before a lease read.
   */
  private tickAll(): void {
    for (const node of this.nodes.values()) {
      if (!node.alive || node.pausedUntil > this.now) continue;
      while (node.nextTickAt <= this.now) {
        node.raw.tick();
        node.nextTickAt += node.tickIntervalMs;
      }
    }
  }

  /** One simulated millisecond after the clients acted: deliveries, Readys, checks. */
  private step(): void {
    for (const node of this.nodes.values()) this.completePersist(node);
    for (const envelope of this.network.due(this.now)) {
      const m = envelope.message;
      const to = this.nodes.get(m.to);
      if (!to || !to.alive) continue;
      if (!this.network.linked(m.from, m.to)) continue;
      if (to.pausedUntil > this.now) {
        this.network.defer(envelope, to.pausedUntil);
        continue;
      }
      if (envelope.payload) to.incomingSnapshots.set(m.snapshot?.index ?? -1, envelope.payload);
      if (this.options.traceAll) this.log(`  deliver ${describeMessage(m)}`);
      if (m.type === 'appResp' && !m.reject) this.checkAcknowledgement(m, to);
      to.raw.step(m);
      // The leader counted an acknowledgement while its own fsync is in flight: a crash now must not lose a commit.
      if (m.type === 'appResp' && to.persisting && to.raw.raft.role === 'leader' && this.now < this.options.steps && this.random.chance(0.02)) {
        this.crash(to, 'leader killed during its fsync');
      }
    }
    for (const node of this.nodes.values()) {
      if (node.alive && node.pausedUntil <= this.now) this.processReady(node);
    }
    this.checkLeases();
  }

  /**
   * A follower acknowledged index i to the leader of its term: its durable log
   * holds the leader's entry at i (unless a snapshot has since covered it).
   */
  private checkAcknowledgement(m: Message, leader: SimNode): void {
    const follower = this.nodes.get(m.from);
    if (!follower || !follower.alive || follower.raw.raft.term !== m.term) return;
    if (leader.raw.raft.role !== 'leader' || leader.raw.raft.term !== m.term) return;
    const leaderTerm = leader.raw.raft.log.term(m.index);
    const durable = follower.durable ?? follower.storage;
    if (leaderTerm === undefined || m.index < durable.firstIndex() - 1) return;
    const followerTerm = durable.term(m.index);
    if (followerTerm !== leaderTerm) {
      throw new SafetyViolation(
        `acknowledgement: ${m.from} acknowledged index ${m.index} to ${leader.id} but durably holds term ${followerTerm} there, the leader term ${leaderTerm}`,
      );
    }
  }

  /** While a running leader may serve lease reads, no node leads a later term. */
  private checkLeases(): void {
    for (const node of this.nodes.values()) {
      if (!node.alive || node.pausedUntil > this.now || node.raw.raft.role !== 'leader' || !node.raw.raft.leaseValid()) continue;
      for (const other of this.nodes.values()) {
        if (other.alive && other.raw.raft.role === 'leader' && other.raw.raft.term > node.raw.raft.term) {
          throw new SafetyViolation(`lease: ${node.id} holds a lease in term ${node.raw.raft.term} while ${other.id} leads term ${other.raw.raft.term}`);
        }
      }
    }
  }

  private processReady(node: SimNode): void {
    while (node.alive && node.persisting === undefined && node.raw.hasReady()) {
      const rd = node.raw.ready();
      this.observeRole(node, rd);
      this.sendAll(node, rd.messages);
      // A crash after the early sends and before the fsync; more likely when a vote is at stake.
      const voteChanged = rd.hardState !== undefined && rd.hardState.vote !== node.storage.hardState.vote;
      if (rd.mustSync && this.random.chance(voteChanged ? 0.1 : 0.001)) {
        this.crash(node, 'before persisting a Ready');
        return;
      }
      if (rd.mustSync && this.random.chance(0.5)) {
        // As the real driver: write now, fsync asynchronously while peers' messages keep arriving.
        node.durable = node.storage.clone();
        this.persist(node, rd);
        const fsyncMs = this.random.chance(0.1) ? this.random.int(10, 40) : this.random.int(1, 6);
        node.persisting = { rd, completeAt: this.now + fsyncMs };
        return;
      }
      this.persist(node, rd);
      this.finishReady(node, rd);
    }
  }

  /** The fsync of an in-flight Ready completed: the rest of the Ready runs. */
  private completePersist(node: SimNode): void {
    const persisting = node.persisting;
    if (!node.alive || !persisting || persisting.completeAt > this.now) return;
    node.persisting = undefined;
    node.durable = undefined;
    this.finishReady(node, persisting.rd);
  }

  private finishReady(node: SimNode, rd: Ready): void {
    this.sendAll(node, rd.messagesAfterPersist);
    this.apply(node, rd);
    node.raw.advance(rd);
    this.observeCommit(node);
    this.maybeCompact(node);
  }

  /**
   * Checks every new leadership, including a leader deposed and re-elected in
   * a later term within one Ready: its soft state is unchanged then, its term is not.
   */
  private observeRole(node: SimNode, rd: Ready): void {
    if (rd.softState && rd.softState.role !== node.lastRole) {
      this.log(`${node.id} becomes ${rd.softState.role} in term ${node.raw.raft.term}`);
      node.lastRole = rd.softState.role;
    }
    const term = node.raw.raft.term;
    if (node.raw.raft.role === 'leader' && term !== node.leaderTerm) {
      node.leaderTerm = term;
      // Jepsen's favourite: take a new leader down before its first entries spread.
      if (this.now < this.options.steps && this.random.chance(0.35)) {
        this.leaderKills.set(node.id, { at: this.now + this.random.int(1, 15), term });
      }
      this.checker.onLeader(node.id, term);
      this.leadersSeen.add(`${term}:${node.id}`);
      const log = node.raw.raft.log;
      this.checker.onLeaderLog(node.id, term, (i) => log.term(i), log.firstIndex());
    }
  }

  private sendAll(node: SimNode, messages: readonly Message[]): void {
    const persisted = { term: node.storage.hardState.term, vote: node.storage.hardState.vote };
    for (const m of messages) {
      if (m.type === 'voteResp') this.checker.onVoteSent(node.id, m.to, m.term, m.reject, persisted);
      let data: Uint8Array | undefined;
      if (m.type === 'snap') {
        const meta = node.storage.snapshotMeta();
        if (meta.index !== m.snapshot?.index) {
          // Compacted again since the core asked: as the real driver, report the stream failed.
          node.raw.reportSnapshot(m.to, false);
          continue;
        }
        data = node.storage.snapshotData;
        this.stats.snapshotsSent++;
        this.log(`${node.id} sends snapshot @${meta.index} to ${m.to}`);
      }
      this.network.send(m, this.now, data);
    }
  }

  private persist(node: SimNode, rd: Ready): void {
    const storage = node.storage;
    if (rd.snapshot) {
      const data = node.incomingSnapshots.get(rd.snapshot.index);
      if (!data) throw new AssertionFailure(`snapshot @${rd.snapshot.index} data missing on ${node.id}`);
      storage.installSnapshot(rd.snapshot, data);
      storage.chains.clear();
      storage.snapshotChain = this.checker.chainFor(rd.snapshot.index, rd.snapshot.term) ?? '';
      node.incomingSnapshots.clear();
      node.fsm.restore(data);
      this.checker.onApplied(node.id, node.fsm.applied, node.fsm.hash);
      this.log(`${node.id} installs snapshot @${rd.snapshot.index}`);
    }
    if (rd.entries.length > 0) {
      storage.append(rd.entries);
      this.recordChains(node.id, storage, rd.entries);
    }
    if (rd.hardState) storage.setHardState(rd.hardState);
  }

  /** Extends the node's chain of log hashes over entries it just persisted, and checks log matching. */
  private recordChains(id: NodeId, storage: SimStorage, entries: readonly Entry[]): void {
    for (const entry of entries) {
      const prevIndex = entry.index - 1;
      const prev = prevIndex === storage.snapshotMeta().index ? storage.snapshotChain : (storage.chains.get(prevIndex) ?? '');
      const chain = hashBytes(prev, entry.term, entry.data);
      storage.chains.set(entry.index, chain);
      this.checker.onPersisted(id, entry.index, entry.term, chain);
    }
    for (const index of [...storage.chains.keys()]) if (index > storage.lastIndex()) storage.chains.delete(index);
  }

  private apply(node: SimNode, rd: Ready): void {
    for (const entry of rd.committedEntries) {
      if (entry.index <= node.fsm.applied) continue; // a snapshot in this Ready already covers it
      node.fsm.apply(entry);
      this.checker.onApplied(node.id, entry.index, node.fsm.hash);
      if (entry.type === 'normal' && entry.data.length > 0) this.pendingValues.delete(decoder.decode(entry.data));
      if (entry.type === 'conf') this.log(`${node.id} applies conf @${entry.index}: ${decoder.decode(entry.data)}`);
    }
    for (const rs of rd.readStates) {
      const read = this.pendingReads.get(rs.id);
      if (!read) continue;
      this.pendingReads.delete(rs.id);
      this.checker.onRead(node.id, rs.id, rs.index, read.beganCommit, read.mode);
    }
    for (const id of rd.droppedReads) this.pendingReads.delete(id);
  }

  private observeCommit(node: SimNode): void {
    const log = node.raw.raft.log;
    let maxTerm = 0;
    for (const other of this.nodes.values()) maxTerm = Math.max(maxTerm, other.raw.raft.term);
    this.checker.onCommit(node.id, node.lastCommit, log.committed, (i) => log.term(i), maxTerm);
    const raft = node.raw.raft;
    if (raft.role === 'leader' && raft.term === node.leaderTerm && log.committed > node.lastCommit) {
      this.checker.onLeaderCommit(node.id, raft.term, log.committed, log.term(log.committed));
    }
    node.lastCommit = log.committed;
  }

  /**
   * Takes a snapshot at the applied index now and then and compacts the log
   * below it but for a catch-up tail, so nodes lagging further need a snapshot.
   */
  private maybeCompact(node: SimNode): void {
    const storage = node.storage;
    const applied = node.fsm.applied;
    const snapshotIndex = storage.snapshotMeta().index;
    if (applied - snapshotIndex < 40 || applied > storage.lastIndex()) return;
    const term = storage.term(applied);
    if (term === undefined) return;
    const meta: SnapshotMeta = { index: applied, term, conf: node.raw.confAt(applied) };
    storage.snapshotChain = storage.chains.get(applied) ?? '';
    storage.compact(meta, node.fsm.snapshot(), this.catchUpTailEntries);
    for (const index of [...storage.chains.keys()]) if (index < storage.firstIndex()) storage.chains.delete(index);
    node.raw.compacted(applied);
  }

  // ---------------------------------------------------------------- clients

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const node of this.nodes.values()) {
      if (!node.alive || node.raw.raft.role !== 'leader') continue;
      if (!best || node.raw.raft.term > best.raw.raft.term) best = node;
    }
    return best;
  }

  /**
   * Where a client sends a write: mostly the newest leader, but also any node
   * that believes it leads (a deposed leader in a minority grows a divergent
   * tail, the raw material of Figure 8) and sometimes any node at all.
   */
  private proposalTarget(): SimNode | undefined {
    const r = this.random;
    const roll = r.next();
    if (roll < 0.5) return this.leader();
    if (roll < 0.8) {
      const leaders = [...this.nodes.values()].filter((n) => n.alive && n.raw.raft.role === 'leader');
      return leaders.length > 0 ? r.pick(leaders) : undefined;
    }
    return this.randomLiveNode();
  }

  /** Reads go to the newest leader, to any node that believes it leads (a deposed one must not serve stale reads), or anywhere. */
  private readTarget(): SimNode | undefined {
    const roll = this.random.next();
    if (roll < 0.3) return this.leader();
    if (roll < 0.7) {
      const leaders = [...this.nodes.values()].filter((n) => n.alive && n.raw.raft.role === 'leader');
      return leaders.length > 0 ? this.random.pick(leaders) : undefined;
    }
    return this.randomLiveNode();
  }

  private randomLiveNode(): SimNode | undefined {
    const live = [...this.nodes.values()].filter((n) => n.alive && n.pausedUntil <= this.now);
    return live.length > 0 ? this.random.pick(live) : undefined;
  }

  /** Writers come in bursts: in a quiet spell logs stop growing, so only leases stand between a cut-off node and a vote. */
  private quietUntil = 0;
  private busyUntil = 0;

  private clients(newWork: boolean): void {
    const r = this.random;
    if (this.now >= this.busyUntil && this.now >= this.quietUntil) {
      if (r.chance(0.5)) this.quietUntil = this.now + r.int(50, 400);
      else this.busyUntil = this.now + r.int(50, 400);
    }
    const writing = newWork && this.now >= this.quietUntil;
    if (writing && r.chance(0.08)) {
      const value = `v${this.nextValue++}`;
      this.pendingValues.set(value, { attempts: 0, nextTryAt: this.now, accepted: [] });
    }
    // Propose (or re-propose: the state machine de-duplicates) values not yet applied anywhere.
    for (const [value, pending] of this.pendingValues) {
      if (this.now < pending.nextTryAt) continue;
      const target = this.proposalTarget();
      if (!target || target.pausedUntil > this.now) continue;
      pending.nextTryAt = this.now + this.retryDelayMs(pending.attempts++);
      // Its entry still in this node's log will commit or be replaced: proposing it again only grows the log.
      const log = target.raw.raft.log;
      if (pending.accepted.some((p) => log.term(p.index) === p.term)) continue;
      const result = target.raw.propose(encoder.encode(value));
      if (!result.ok) continue;
      pending.accepted.push({ index: result.index, term: result.term });
      if (pending.accepted.length > MAX_PROPOSALS_REMEMBERED) pending.accepted.shift();
      this.log(`${target.id} accepts ${value} at ${result.index}`);
    }
    if (newWork && r.chance(0.1)) {
      const node = this.readTarget();
      if (node && node.pausedUntil <= this.now) {
        const id = `r${this.nextReadId++}`;
        const mode = r.chance(0.5) ? 'lease' : 'readIndex';
        this.pendingReads.set(id, { node: node.id, beganCommit: this.checker.maxCommitSeen, mode });
        node.raw.readIndex(id, mode);
      }
    }
  }

  /** Exponential backoff with full-range jitter in [half, whole] of the step, from the seeded PRNG. */
  private retryDelayMs(attempts: number): number {
    const step = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempts, 16));
    return Math.ceil(step / 2 + this.random.next() * (step / 2));
  }

  // ---------------------------------------------------------------- faults

  private nextFaultAt = 0;

  private chaos(): void {
    this.restartDue();
    for (const [id, kill] of this.leaderKills) {
      if (kill.at > this.now) continue;
      this.leaderKills.delete(id);
      const node = this.nodes.get(id) as SimNode;
      if (!node.alive || node.raw.raft.term !== kill.term || node.raw.raft.role !== 'leader') continue;
      if (this.random.chance(0.5)) this.crash(node, 'new leader killed');
      else {
        this.network.partition([[id], [...this.nodes.keys()].filter((other) => other !== id)]);
        this.log(`ISOLATE new leader ${id}`);
      }
    }
    if (this.now < this.nextFaultAt) return;
    this.nextFaultAt = this.now + this.random.int(20, 200);
    const r = this.random;
    const ids = [...this.nodes.keys()];
    const action = r.int(0, 13);
    switch (action) {
      case 0:
      case 1: {
        const shuffled = r.shuffle([...ids]);
        const cut = r.int(1, shuffled.length - 1);
        this.network.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        this.log(`PARTITION ${shuffled.slice(0, cut).join(',')} | ${shuffled.slice(cut).join(',')}`);
        break;
      }
      case 2: {
        const leader = this.leader();
        if (!leader) break;
        this.network.partition([[leader.id], ids.filter((id) => id !== leader.id)]);
        this.log(`ISOLATE leader ${leader.id}`);
        break;
      }
      case 3: {
        // A bridge: one node sees both halves, which cannot see each other.
        const shuffled = r.shuffle([...ids]);
        const bridge = shuffled[0] as NodeId;
        const rest = shuffled.slice(1);
        const half = Math.floor(rest.length / 2);
        this.network.partition([rest.slice(0, half), rest.slice(half)]);
        this.log(`BRIDGE via ${bridge}: ${rest.slice(0, half).join(',')} | ${rest.slice(half).join(',')}`);
        break;
      }
      case 4:
        this.network.ring(r.shuffle([...ids]));
        this.log('RING partition');
        break;
      case 5:
        this.network.heal();
        this.log('HEAL network');
        break;
      case 6: {
        const node = r.chance(0.5) ? this.leader() : this.randomLiveNode();
        if (!node || this.restarts.size >= Math.floor(this.options.nodes / 2)) break;
        this.crash(node, 'kill -9');
        break;
      }
      case 7: {
        const node = r.chance(0.5) ? this.leader() : this.randomLiveNode();
        if (!node) break;
        node.pausedUntil = this.now + r.int(20, 500);
        this.log(`${node.id} PAUSE until ${node.pausedUntil}`);
        break;
      }
      case 8:
        this.network.faults = randomFaults(r);
        this.log(`NETWORK ${JSON.stringify(this.network.faults)}`);
        break;
      case 9:
        this.membershipChange();
        break;
      case 10: {
        const leader = this.leader();
        if (!leader) break;
        const voters = leader.raw.raft.conf().voters.filter((id) => id !== leader.id);
        if (voters.length === 0) break;
        const to = r.pick(voters);
        this.stats.transfers++;
        leader.raw.transferLeadership(to);
        this.log(`TRANSFER leadership ${leader.id} -> ${to}`);
        break;
      }
      case 12: {
        // One follower loses the leader but still reaches everyone else: it campaigns early,
        // and the others must refuse it while the leader's lease runs.
        const leader = this.leader();
        if (!leader) break;
        const followers = ids.filter((id) => id !== leader.id);
        const cutOff = r.pick(followers);
        this.network.cutLink(leader.id, cutOff);
        this.log(`CUT link ${leader.id} <-> ${cutOff}`);
        break;
      }
      case 11:
        this.network.randomLinks(ids, r.pick([0.2, 0.4]), r);
        this.log('PARTIAL partition: random one-way links cut');
        break;
      default:
        break;
    }
  }

  /** Cycles membership: add the spare as learner, promote it, then remove some voter (possibly the leader). */
  private membershipChange(): void {
    // Mostly through the newest leader, sometimes through a deposed one that still believes it leads.
    const leader = this.random.chance(0.7) ? this.leader() : this.proposalTarget();
    if (!leader) return;
    if (!leader || leader.raw.raft.role !== 'leader') return;
    const conf = leader.raw.raft.conf();
    const members = new Set([...conf.voters, ...conf.learners]);
    const spare = [...this.nodes.keys()].find((id) => !members.has(id));
    let change: { type: 'addVoter' | 'addLearner' | 'removeNode'; nodeId: NodeId } | undefined;
    if (conf.learners.length > 0) change = { type: 'addVoter', nodeId: conf.learners[0] as NodeId };
    else if (conf.voters.length > this.options.nodes) change = { type: 'removeNode', nodeId: this.random.pick(conf.voters) };
    else if (spare) change = { type: 'addLearner', nodeId: spare };
    if (!change) return;
    const result = leader.raw.proposeConfChange({ ...change, context: `http://${change.nodeId}` });
    if (result.ok) this.stats.confChanges++;
    this.log(`CONF ${change.type} ${change.nodeId} via ${leader.id}: ${result.ok ? `index ${result.index}` : result.error}`);
  }

  /**
   * Ends the faults and waits for liveness: a leader, every client value
   * committed and applied, and every live member caught up with the leader.
   */
  private heal(): number {
    this.network.heal();
    this.network.faults = { ...CALM_NETWORK };
    for (const node of this.nodes.values()) node.pausedUntil = 0;
    for (const id of this.restarts.keys()) this.restarts.set(id, this.now);
    this.log('HEAL everything; waiting for liveness');
    const start = this.now;
    for (; this.now < start + HEAL_LIMIT_MS; this.now++) {
      this.restartDue();
      this.tickAll();
      this.clients(false);
      this.step();
      if (this.now % 10 === 0 && this.settled()) return this.now - start;
    }
    const leader = this.leader();
    throw new SafetyViolation(
      `liveness: not settled ${HEAL_LIMIT_MS}ms after healing (leader ${leader?.id ?? 'none'}, ` +
        `${this.pendingValues.size} values pending, ${describeNodes(this.nodes)})`,
    );
  }

  /** Restarts the crashed nodes whose time has come. */
  private restartDue(): void {
    for (const [id, at] of this.restarts) {
      if (at > this.now) continue;
      this.restarts.delete(id);
      const node = this.nodes.get(id) as SimNode;
      this.boot(node);
      this.log(`${id} RESTART (commit ${node.raw.status().commit}, applied ${node.fsm.applied})`);
    }
  }

  private settled(): boolean {
    const leader = this.leader();
    if (!leader || this.pendingValues.size > 0) return false;
    const status = leader.raw.status();
    if (status.commit !== status.lastIndex) return false;
    for (const id of [...status.conf.voters, ...status.conf.learners]) {
      const node = this.nodes.get(id);
      if (!node || !node.alive || node.fsm.applied < status.commit) return false;
    }
    return true;
  }
}

function describeMessage(m: Message): string {
  const parts = [`${m.type} ${m.from}->${m.to} t${m.term}`];
  if (m.type === 'app') parts.push(`prev ${m.index}/${m.logTerm} n=${m.entries.length} commit ${m.commit}`);
  else if (m.type === 'appResp') parts.push(m.reject ? `reject ${m.index} hint ${m.rejectHint}/${m.rejectHintTerm}` : `ok ${m.index}`);
  else if (m.type === 'vote' || m.type === 'preVote') parts.push(`last ${m.index}/${m.logTerm}${m.force ? ' force' : ''}`);
  else if (m.type === 'voteResp' || m.type === 'preVoteResp') parts.push(m.reject ? 'reject' : 'grant');
  else if (m.type === 'snap') parts.push(`@${m.snapshot?.index}/${m.snapshot?.term}`);
  return parts.join(' ');
}

function randomFaults(r: Prng): NetworkFaults {
  const minDelayMs = r.int(0, 5);
  return {
    lossRate: r.pick([0, 0.01, 0.05, 0.2]),
    duplicateRate: r.pick([0, 0.02, 0.1]),
    minDelayMs,
    maxDelayMs: minDelayMs + r.int(1, 30),
    reorderRate: r.pick([0, 0.05, 0.2]),
    holdRate: r.pick([0, 0.001, 0.01]),
  };
}

function describeNodes(nodes: ReadonlyMap<NodeId, SimNode>): string {
  return [...nodes.values()]
    .map((n) => {
      const s = n.raw.status();
      return `${n.id}:${n.alive ? s.role : 'down'} t${s.term} c${s.commit} a${n.fsm.applied} l${s.lastIndex} v[${s.conf.voters.join(',')}] lr[${s.conf.learners.join(',')}]`;
    })
    .join('; ');
}

export function runSeed(options: SimOptions): SimResult {
  return new Simulation(options).run();
}
