// LedgerNode: the driver that turns the pure Raft core into a running node.
// It owns the Ready loop (send leader traffic, persist with one fsync, send
// the rest, apply, advance), the ticker driven by a monotonic clock, group
// commit of client writes, ReadIndex/lease/stale reads, idle expiry of holds,
// snapshots by entry count, snapshot streaming, membership and leadership
// transfer. It implements LedgerService for the HTTP layer.

import path from 'node:path';
import { assert } from '../lib/assert.js';
import { Prng } from '../lib/prng.js';
import { encodeEntry, LedgerStateMachine, type Command, type CommandResult, type LedgerQueries } from '../ledger/index.js';
import { DEFAULT_RAFT_CONFIG, type RaftConfig } from '../raft/config.js';
import { bootstrapLog, decodeConfChange } from '../raft/membership.js';
import { RawNode } from '../raft/raw-node.js';
import { NONE, type ConfChange, type Entry, type Message, type NodeId, type Ready, type SnapshotMeta } from '../raft/types.js';
import { StorageFailedError } from '../storage/errors.js';
import { FileDriverStorage, sleep, systemScheduler, type DriverStorage, type Scheduler } from './driver-io.js';
import type {
  ClusterStatus,
  LedgerService,
  NodeError,
  Outcome,
  RaftHeaderValues,
  ReadOptions,
  ReadResult,
  Readiness,
  WriteResult,
} from './service.js';
import { NodeMetrics, type PeerLag } from './metrics.js';
import type { SnapshotSink, Transport, TransportHandlers } from './transport.js';

export interface Clock {
  /** Monotonic milliseconds (never jumps back): ticks, leases, staleness. */
  monotonicMs(): number;
  /** Wall-clock milliseconds: only to stamp entries (the ledger keeps time monotonic itself). */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

export interface NodeLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface LedgerNodeOptions {
  readonly id: NodeId;
  readonly dataDir: string;
  /** Initial voters and how this node reaches each (its own entry is its advertised URL). */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Start without bootstrapping: the node waits to be added by a member. */
  readonly join: boolean;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly maxClockDriftRatio: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  readonly snapshotEveryEntries: number;
  /** Client writes waiting to be proposed or committed before the node answers overloaded. */
  readonly maxPendingWrites: number;
  readonly transport: (handlers: TransportHandlers) => Transport;
  readonly clock: Clock;
  /** Timers; the simulator passes a virtual one. Default: Node's. */
  readonly scheduler?: Scheduler;
  /** The Raft log's storage; default: the WAL under dataDir/raft. */
  readonly storage?: DriverStorage;
  /** The state machine; default: SQLite at dataDir/ledger.db. */
  readonly ledger?: LedgerStateMachine;
  readonly logger: NodeLogger;
  readonly raftOverrides?: Partial<RaftConfig>;
}

interface WriteWaiter {
  readonly data: Uint8Array;
  readonly proposedAtMs: number;
  index: number;
  term: number;
  readonly resolve: (outcome: Outcome<WriteResult>) => void;
  readonly timer: unknown;
}

interface ReadWaiter {
  /** Monotonic time the read index was requested: the state served is no older than this. */
  readonly requestedAtMs: number;
  readonly resolve: (index: number | undefined) => void;
}

interface AppliedWaiter {
  readonly index: number;
  readonly resolve: () => void;
}

const RETRY_AFTER_MS = 1000;
/** Appends remembered per peer for the append-latency histogram. */
const MAX_TIMED_APPENDS = 1024;
const MAX_PROPOSAL_BATCH = 4096;

export class LedgerNode implements LedgerService {
  readonly nodeId: NodeId;
  readonly storage: DriverStorage;
  private readonly scheduler: Scheduler;
  readonly ledger: LedgerStateMachine;
  private readonly raw: RawNode;
  private readonly transport: Transport;
  private readonly peerUrls = new Map<NodeId, string>();
  private readonly options: LedgerNodeOptions;

  private ticker: unknown;
  private ticksDone = 0;
  private readonly startedAtMs: number;
  private running = false;
  private readyLoopActive = false;
  private readyLoopAgain = false;
  private stopping = false;
  private storageError: StorageFailedError | undefined;

  private proposalQueue: WriteWaiter[] = [];
  private proposalFlushScheduled = false;
  private readonly writeWaiters = new Map<number, WriteWaiter>();
  private pendingWriteCount = 0;
  private readonly readWaiters = new Map<string, ReadWaiter>();
  private nextReadId = 0;
  private appliedWaiters: AppliedWaiter[] = [];
  /** Monotonic time as of which the local state is proven fresh (a read index requested then is applied). */
  private freshAsOfMs = Number.NEGATIVE_INFINITY;
  private expiryProposedAtMs = Number.NEGATIVE_INFINITY;
  private readonly promotions = new Set<NodeId>();
  readonly metrics: NodeMetrics;
  private lastLeader: NodeId = NONE;
  private electionsCounted = 0;
  /** Per peer: last index of each append sent -> monotonic time, for raft_append_entries_seconds. */
  private readonly appendSentAt = new Map<NodeId, Map<number, number>>();
  /** Per peer: since when (monotonic) it has been behind the commit index. */
  private readonly behindSinceMs = new Map<NodeId, number>();

  constructor(options: LedgerNodeOptions) {
    this.options = options;
    this.nodeId = options.id;
    for (const [id, url] of options.peers) this.peerUrls.set(id, url);
    this.scheduler = options.scheduler ?? systemScheduler;
    this.storage =
      options.storage ??
      FileDriverStorage.open(options.dataDir, { onLog: (event) => options.logger.warn({ event }, 'storage recovery') });
    if (!options.join && this.storage.lastIndex() === 0 && this.storage.hardState().term === 0) this.bootstrap();
    this.ledger = options.ledger ?? LedgerStateMachine.open(path.join(options.dataDir, 'ledger.db'));
    this.restoreLedgerIfBehindSnapshot();
    this.raw = new RawNode(
      {
        ...DEFAULT_RAFT_CONFIG,
        electionTicks: options.electionTicks,
        heartbeatTicks: options.heartbeatTicks,
        maxClockDriftRatio: options.maxClockDriftRatio,
        ...options.raftOverrides,
        id: options.id,
        applied: this.ledger.appliedIndex(),
        abstainUntilCaughtUp: this.storage.recoveredWithLoss,
        random: new Prng(seedFrom(options.id, options.clock.wallMs())),
      },
      this.storage,
    );
    this.learnPeerUrlsFromLog();
    this.transport = options.transport({
      onMessages: (messages) => this.onPeerMessages(messages),
      onSnapshotStart: (from, meta) => this.stageIncomingSnapshot(from, meta),
      onUnreachable: (peer) => this.raw.reportUnreachable(peer),
      onSnapshotSent: (peer, ok) => {
        this.raw.reportSnapshot(peer, ok);
        this.kick();
      },
    });
    this.transport.setPeers(this.peerUrls);
    this.startedAtMs = options.clock.monotonicMs();
    this.metrics = new NodeMetrics(options.id, {
      term: () => this.raw.status().term,
      isLeader: () => this.raw.status().role === 'leader',
      commitIndex: () => this.raw.status().commit,
      appliedIndex: () => this.ledger.appliedIndex(),
      lastLogIndex: () => this.raw.status().lastIndex,
      snapshotIndex: () => this.storage.snapshotMeta().index,
      peers: () => this.peerLag(),
    });
  }

  /** Replication lag per follower, as the leader sees it. */
  private peerLag(): PeerLag[] {
    const status = this.raw.status();
    if (status.role !== 'leader') return [];
    const now = this.options.clock.monotonicMs();
    return status.peers
      .filter((peer) => peer.id !== this.nodeId)
      .map((peer) => {
        const since = this.behindSinceMs.get(peer.id);
        return {
          peer: peer.id,
          matchIndex: peer.match,
          lagEntries: Math.max(0, status.commit - peer.match),
          lagSeconds: since === undefined ? 0 : (now - since) / 1000,
          lastContactSeconds: (peer.lastContactTicks * this.options.tickMs) / 1000,
        };
      });
  }

  /** Notes when each follower fell behind the commit index, for raft_replication_lag_seconds. */
  private trackLag(): void {
    const status = this.raw.status();
    if (status.role !== 'leader') {
      this.behindSinceMs.clear();
      return;
    }
    const now = this.options.clock.monotonicMs();
    for (const peer of status.peers) {
      if (peer.match >= status.commit) this.behindSinceMs.delete(peer.id);
      else if (!this.behindSinceMs.has(peer.id)) this.behindSinceMs.set(peer.id, now);
    }
  }

  // ---------------------------------------------------------------- lifecycle

  private bootstrap(): void {
    const voters = [...this.options.peers.keys()];
    assert(voters.includes(this.nodeId), `--peers must include this node (${this.nodeId})`);
    const { entries, hardState } = bootstrapLog(voters);
    this.storage.append(entries);
    this.storage.setHardState(hardState);
    this.storage.syncNow();
    this.options.logger.info({ voters }, 'bootstrapped a new cluster log');
  }

  /** After a crash the ledger may be behind the newest snapshot (the log below it is gone): restore it. */
  private restoreLedgerIfBehindSnapshot(): void {
    const meta = this.storage.snapshotMeta();
    if (this.ledger.appliedIndex() >= meta.index) return;
    const snapshot = this.storage.loadSnapshot();
    assert(snapshot !== undefined && snapshot.meta.index === meta.index, `snapshot ${meta.index} missing on disk`);
    this.ledger.restore(snapshot.data);
    this.options.logger.info({ index: meta.index }, 'restored the ledger from the snapshot');
  }

  start(): void {
    assert(!this.running, 'node already started');
    this.running = true;
    this.ticker = this.scheduler.setInterval(() => this.onTimer(), Math.max(1, Math.floor(this.options.tickMs / 2)));
    this.kick();
  }

  /** Brings ticks up to the monotonic clock: a paused process sees the time it lost before it serves. */
  private catchUpTicks(): void {
    const due = Math.floor((this.options.clock.monotonicMs() - this.startedAtMs) / this.options.tickMs);
    while (this.ticksDone < due) {
      this.raw.tick();
      this.ticksDone++;
    }
  }

  private onTimer(): void {
    if (!this.running) return;
    this.catchUpTicks();
    this.trackLag();
    this.maybeProposeExpiry();
    this.maybePromoteLearners();
    this.kick();
  }

  /** Graceful stop: a leader hands leadership over first. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.running && this.raw.status().role === 'leader' && this.raw.status().conf.voters.length > 1) {
      const moved = await this.transferLeadership(undefined, this.options.tickMs * this.options.electionTicks * 2);
      this.options.logger.info({ moved: moved.ok }, 'handed leadership over before stopping');
    }
    this.running = false;
    if (this.ticker !== undefined) this.scheduler.clearInterval(this.ticker);
    for (const waiter of this.writeWaiters.values()) this.finishWrite(waiter, { ok: false, error: { code: 'shutting_down' } });
    for (const waiter of this.proposalQueue) this.finishWrite(waiter, { ok: false, error: { code: 'shutting_down' } });
    this.proposalQueue = [];
    for (const [id, waiter] of this.readWaiters) {
      this.readWaiters.delete(id);
      waiter.resolve(undefined);
    }
    await this.transport.close();
    while (this.readyLoopActive) await sleep(this.scheduler, 5);
    await this.storage.close();
    this.ledger.close();
  }

  // ---------------------------------------------------------------- the Ready loop

  /** Runs the Ready loop soon; one loop at a time. */
  private kick(): void {
    if (!this.running) return;
    if (this.readyLoopActive) {
      this.readyLoopAgain = true;
      return;
    }
    this.readyLoopActive = true;
    void this.readyLoop().finally(() => {
      this.readyLoopActive = false;
    });
  }

  private async readyLoop(): Promise<void> {
    try {
      do {
        this.readyLoopAgain = false;
        while (this.running && this.raw.hasReady()) await this.handleReady(this.raw.ready());
      } while (this.readyLoopAgain && this.running);
    } catch (error) {
      this.failStorage(error);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.leader);
    this.sendMessages(rd.messages);
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    if (rd.mustSync || rd.entries.length > 0) {
      const started = this.options.clock.monotonicMs();
      await this.storage.sync();
      this.metrics.walFsyncSeconds.observe((this.options.clock.monotonicMs() - started) / 1000);
    }
    this.sendMessages(rd.messagesAfterPersist);
    this.applyEntries(rd.committedEntries);
    for (const rs of rd.readStates) this.readWaiters.get(rs.id)?.resolve(rs.index);
    for (const id of rd.droppedReads) this.readWaiters.get(id)?.resolve(undefined);
    this.raw.advance(rd);
    this.maybeSnapshot();
  }

  private failStorage(error: unknown): void {
    if (error instanceof StorageFailedError) {
      this.storageError = error;
      this.options.logger.error({ err: error }, 'storage failed: this node stops taking writes');
      for (const waiter of [...this.writeWaiters.values(), ...this.proposalQueue]) {
        this.finishWrite(waiter, { ok: false, error: { code: 'storage_failed', message: error.message } });
      }
      this.proposalQueue = [];
      // Without a working disk this node can neither vote nor acknowledge: stop the protocol.
      this.running = false;
      if (this.ticker !== undefined) this.scheduler.clearInterval(this.ticker);
      return;
    }
    throw error;
  }

  private sendMessages(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    const plain: Message[] = [];
    const now = this.options.clock.monotonicMs();
    for (const m of messages) {
      const last = m.entries[m.entries.length - 1];
      if (m.type === 'app' && last) {
        const sent = this.appendSentAt.get(m.to) ?? new Map<number, number>();
        if (sent.size < MAX_TIMED_APPENDS) sent.set(last.index, now);
        this.appendSentAt.set(m.to, sent);
      }
      if (m.type !== 'snap') {
        plain.push(m);
        continue;
      }
      try {
        this.transport.sendSnapshot(m, this.storage.openSnapshotReader(m.snapshot?.index ?? this.storage.snapshotMeta().index));
      } catch (error) {
        this.options.logger.warn({ err: error, to: m.to }, 'cannot stream snapshot');
        this.raw.reportSnapshot(m.to, false);
      }
    }
    this.transport.send(plain);
  }

  private onPeerMessages(messages: readonly Message[]): void {
    if (!this.running) return;
    this.catchUpTicks();
    for (const m of messages) {
      if (m.to !== this.nodeId) continue;
      if (m.type === 'appResp' && !m.reject) this.observeAppendAck(m.from, m.index);
      this.raw.step(m);
    }
    this.kick();
  }

  private observeAppendAck(peer: NodeId, index: number): void {
    const sent = this.appendSentAt.get(peer);
    if (!sent) return;
    const now = this.options.clock.monotonicMs();
    for (const [last, at] of sent) {
      if (last > index) continue;
      this.metrics.appendEntriesSeconds.observe((now - at) / 1000);
      sent.delete(last);
    }
  }

  private onSoftState(leader: NodeId): void {
    if (leader !== this.lastLeader && leader !== NONE) this.metrics.leaderChanges.inc();
    this.lastLeader = leader;
    const elections = this.raw.status().electionsStarted;
    if (elections > this.electionsCounted) this.metrics.elections.inc(elections - this.electionsCounted);
    this.electionsCounted = elections;
    if (this.raw.status().role !== 'leader') this.appendSentAt.clear();
    this.options.logger.info({ leader, role: this.raw.status().role, term: this.raw.status().term }, 'raft state changed');
    if (leader !== this.nodeId) {
      // Queued writes were never proposed: tell their clients to go to the leader.
      for (const waiter of this.proposalQueue) this.finishWrite(waiter, { ok: false, error: this.notLeaderError() });
      this.proposalQueue = [];
    }
  }

  // ---------------------------------------------------------------- apply

  private applyEntries(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.index <= this.ledger.appliedIndex()) continue; // covered by a restored snapshot
      let result: CommandResult | undefined;
      if (entry.type === 'conf') {
        this.ledger.skip(entry.index);
        this.onConfApplied(decodeConfChange(entry.data));
      } else {
        const started = this.options.clock.monotonicMs();
        result = this.ledger.applyEntry(entry.index, entry.data).result;
        this.metrics.applySeconds.observe((this.options.clock.monotonicMs() - started) / 1000);
        this.countResults(result);
      }
      this.resolveWrite(entry, result);
    }
    if (entries.length > 0) this.wakeAppliedWaiters();
  }

  private countResults(result: CommandResult): void {
    const label = (r: { status: string; code?: string }): string => (r.status === 'error' ? (r.code ?? 'error') : r.status);
    switch (result.type) {
      case 'create_transfers':
        for (const r of result.results) this.metrics.transfers.inc({ result: label(r) });
        return;
      case 'create_reservations':
      case 'confirm_reservations':
      case 'release_reservations':
        for (const r of result.results) this.metrics.reservations.inc({ result: label(r) });
        return;
      case 'expire':
        if (result.expired_transfers > 0) this.metrics.transfers.inc({ result: 'expired' }, result.expired_transfers);
        if (result.expired_reservations > 0) this.metrics.reservations.inc({ result: 'expired' }, result.expired_reservations);
        return;
      default:
        return;
    }
  }

  private resolveWrite(entry: Entry, result: CommandResult | undefined): void {
    const waiter = this.writeWaiters.get(entry.index);
    if (!waiter) return;
    if (waiter.term === entry.term && result !== undefined) {
      this.metrics.proposalCommitSeconds.observe((this.options.clock.monotonicMs() - waiter.proposedAtMs) / 1000);
      this.finishWrite(waiter, { ok: true, value: { index: entry.index, result } });
    } else {
      // Another leader's entry took this index: ours was never committed, so a retry is safe.
      this.finishWrite(waiter, { ok: false, error: { code: 'no_leader', retryAfterMs: 100 } });
    }
  }

  /** A change that adds a node carries its URL; this node's own list (--peers, --join) wins. Returns whether it learned one. */
  private learnPeerUrl(change: ConfChange): boolean {
    if (change.type === 'removeNode' || change.context === '' || this.peerUrls.has(change.nodeId)) return false;
    this.peerUrls.set(change.nodeId, change.context);
    return true;
  }

  private onConfApplied(change: ConfChange): void {
    if (this.learnPeerUrl(change)) this.transport.setPeers(this.peerUrls);
    if (change.type === 'removeNode') this.promotions.delete(change.nodeId);
    this.options.logger.info({ change }, 'membership change applied');
  }

  /** Membership URLs from conf entries still in the log (entries below the snapshot came with --peers or --join). */
  private learnPeerUrlsFromLog(): void {
    const first = this.storage.firstIndex();
    const last = this.storage.lastIndex();
    for (let lo = first; lo <= last; ) {
      const batch = this.storage.entries(lo, last + 1, 8 << 20);
      for (const entry of batch) {
        if (entry.type !== 'conf') continue;
        this.learnPeerUrl(decodeConfChange(entry.data));
      }
      lo = (batch[batch.length - 1] as Entry).index + 1;
    }
  }

  private wakeAppliedWaiters(): void {
    const applied = this.ledger.appliedIndex();
    const still: AppliedWaiter[] = [];
    for (const waiter of this.appliedWaiters) {
      if (waiter.index <= applied) waiter.resolve();
      else still.push(waiter);
    }
    this.appliedWaiters = still;
  }

  /** Resolves true once `index` is applied here, false after timeoutMs. */
  private waitApplied(index: number, timeoutMs: number): Promise<boolean> {
    if (this.ledger.appliedIndex() >= index) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = this.scheduler.setTimeout(() => {
        this.appliedWaiters = this.appliedWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      const waiter: AppliedWaiter = {
        index,
        resolve: () => {
          this.scheduler.clearTimeout(timer);
          resolve(true);
        },
      };
      this.appliedWaiters.push(waiter);
    });
  }

  // ---------------------------------------------------------------- snapshots

  private maybeSnapshot(): void {
    const applied = this.ledger.appliedIndex();
    if (applied - this.storage.snapshotMeta().index < this.options.snapshotEveryEntries) return;
    this.snapshotNow();
  }

  private snapshotNow(): number {
    const applied = this.ledger.appliedIndex();
    const term = this.storage.term(applied);
    if (term === undefined || applied <= this.storage.snapshotMeta().index) return this.storage.snapshotMeta().index;
    const meta: SnapshotMeta = { index: applied, term, conf: this.raw.confAt(applied) };
    this.storage.saveSnapshot(meta, this.ledger.snapshot());
    this.raw.compacted(applied);
    this.options.logger.info({ index: applied }, 'snapshot taken, log compacted');
    return applied;
  }

  /** Receives a leader's snapshot into storage's staging area; it is installed when the core accepts it. */
  private stageIncomingSnapshot(from: NodeId, meta: SnapshotMeta): SnapshotSink | undefined {
    if (!this.running) return undefined;
    this.options.logger.info({ from, index: meta.index }, 'receiving snapshot');
    return this.storage.stageSnapshot(from, meta);
  }

  private installSnapshot(meta: SnapshotMeta): void {
    this.ledger.restore(this.storage.installStagedSnapshot(meta));
    this.options.logger.info({ index: meta.index }, 'installed snapshot from the leader');
  }

  // ---------------------------------------------------------------- writes

  write(command: Command, timeoutMs: number): Promise<Outcome<WriteResult>> {
    const refused = this.refuseWrite();
    if (refused) return Promise.resolve({ ok: false, error: refused });
    const data = encodeEntry({ timeMs: Math.floor(this.options.clock.wallMs()), command });
    return this.enqueueProposal(data, timeoutMs);
  }

  private refuseWrite(): NodeError | undefined {
    if (this.stopping || !this.running) return this.storageError ? this.storageFailed() : { code: 'shutting_down' };
    if (this.storageError) return this.storageFailed();
    const status = this.raw.status();
    if (status.role !== 'leader') return this.notLeaderError();
    if (status.leadTransferee !== NONE) return { code: 'no_leader', retryAfterMs: 200 };
    if (this.pendingWriteCount >= this.options.maxPendingWrites) return { code: 'overloaded', retryAfterMs: 100 };
    return undefined;
  }

  private storageFailed(): NodeError {
    return { code: 'storage_failed', message: this.storageError?.message ?? 'storage failed' };
  }

  private notLeaderError(): NodeError {
    const leader = this.raw.status().lead;
    if (leader === NONE) return { code: 'no_leader', retryAfterMs: RETRY_AFTER_MS };
    return { code: 'not_leader', leaderId: leader, leaderUrl: this.peerUrls.get(leader) };
  }

  private enqueueProposal(data: Uint8Array, timeoutMs: number): Promise<Outcome<WriteResult>> {
    return new Promise((resolve) => {
      const waiter: WriteWaiter = {
        data,
        proposedAtMs: this.options.clock.monotonicMs(),
        index: 0,
        term: 0,
        resolve,
        timer: this.scheduler.setTimeout(() => {
          this.proposalQueue = this.proposalQueue.filter((w) => w !== waiter);
          this.finishWrite(waiter, { ok: false, error: { code: 'commit_timeout', index: waiter.index || undefined } });
        }, timeoutMs),
      };
      this.pendingWriteCount++;
      this.proposalQueue.push(waiter);
      // Group commit: every write that arrives in this turn of the event loop goes in one batch.
      if (!this.proposalFlushScheduled) {
        this.proposalFlushScheduled = true;
        this.scheduler.defer(() => this.flushProposals());
      }
    });
  }

  private flushProposals(): void {
    this.proposalFlushScheduled = false;
    while (this.proposalQueue.length > 0) {
      const batch = this.proposalQueue.splice(0, MAX_PROPOSAL_BATCH);
      const result = this.raw.proposeBatch(batch.map((w) => w.data));
      if (!result.ok) {
        const error: NodeError =
          result.error === 'notLeader'
            ? this.notLeaderError()
            : result.error === 'overloaded'
              ? { code: 'overloaded', retryAfterMs: 100 }
              : { code: 'no_leader', retryAfterMs: 200 };
        for (const waiter of batch) this.finishWrite(waiter, { ok: false, error });
        continue;
      }
      batch.forEach((waiter, i) => {
        waiter.index = result.index + i;
        waiter.term = result.term;
        this.writeWaiters.set(waiter.index, waiter);
      });
    }
    this.kick();
  }

  private finishWrite(waiter: WriteWaiter, outcome: Outcome<WriteResult>): void {
    this.scheduler.clearTimeout(waiter.timer);
    if (waiter.index > 0 && this.writeWaiters.get(waiter.index) === waiter) this.writeWaiters.delete(waiter.index);
    this.pendingWriteCount = Math.max(0, this.pendingWriteCount - 1);
    waiter.resolve(outcome);
  }

  // ---------------------------------------------------------------- reads

  async read<T>(options: ReadOptions, query: (queries: LedgerQueries) => T): Promise<Outcome<ReadResult<T>>> {
    if (!this.running) return { ok: false, error: this.storageError ? this.storageFailed() : { code: 'shutting_down' } };
    const deadline = this.options.clock.monotonicMs() + options.waitMs;
    // Whole milliseconds: a fraction left over must count as expired, or a retry loop could creep toward the deadline for ever.
    const remaining = (): number => Math.max(0, Math.floor(deadline - this.options.clock.monotonicMs()));
    let stalenessMs: number | undefined;
    if (options.level === 'stale') {
      if (options.maxStalenessMs !== undefined) {
        const proven = await this.proveFreshness(options.maxStalenessMs, remaining());
        if (proven === undefined) {
          const known = this.provenStalenessMs();
          return {
            ok: false,
            error: { code: 'staleness_bound_exceeded', retryAfterMs: RETRY_AFTER_MS, provenStalenessMs: known },
          };
        }
        stalenessMs = proven;
      } else {
        stalenessMs = this.provenStalenessMs();
      }
      if (stalenessMs !== undefined) this.metrics.readStalenessSeconds.observe(stalenessMs / 1000);
    } else {
      const index = await this.readIndexWithin(options.level === 'lease' ? 'lease' : 'readIndex', remaining);
      if (index === undefined) return { ok: false, error: this.readFailure() };
      if (!(await this.waitApplied(index, remaining()))) return { ok: false, error: { code: 'read_timeout', retryAfterMs: RETRY_AFTER_MS } };
    }
    if (options.minIndex !== undefined && !(await this.waitApplied(options.minIndex, remaining()))) {
      return {
        ok: false,
        error: {
          code: 'index_not_reached',
          minIndex: options.minIndex,
          appliedIndex: this.ledger.appliedIndex(),
          retryAfterMs: RETRY_AFTER_MS,
        },
      };
    }
    // better-sqlite3 is synchronous: the query sees exactly the state at appliedIndex.
    const appliedIndex = this.ledger.appliedIndex();
    const value = query(this.ledger.queries);
    const result: ReadResult<T> = { value, appliedIndex };
    if (options.level === 'stale') {
      return {
        ok: true,
        value: {
          ...result,
          ...(stalenessMs === undefined ? {} : { stalenessMs }),
          lagEntries: Math.max(0, this.raw.status().commit - appliedIndex),
        },
      };
    }
    return { ok: true, value: result };
  }

  private readFailure(): NodeError {
    const status = this.raw.status();
    if (status.lead === NONE) return { code: 'no_leader', retryAfterMs: RETRY_AFTER_MS };
    return { code: 'read_timeout', retryAfterMs: RETRY_AFTER_MS };
  }

  /** Retries a refused read index (no leader known yet, leadership moving) until the time is up. */
  private async readIndexWithin(mode: 'readIndex' | 'lease', remaining: () => number): Promise<number | undefined> {
    for (;;) {
      const index = await this.readIndex(mode, remaining());
      if (index !== undefined || remaining() <= 0 || !this.running) return index;
      await sleep(this.scheduler, Math.min(this.options.tickMs, remaining()));
    }
  }

  /** Asks the core for a read index; undefined if refused or not answered in time. */
  private readIndex(mode: 'readIndex' | 'lease', timeoutMs: number): Promise<number | undefined> {
    this.catchUpTicks();
    const id = `${this.nodeId}:${this.nextReadId++}`;
    const requestedAtMs = this.options.clock.monotonicMs();
    return new Promise((resolve) => {
      const timer = this.scheduler.setTimeout(() => finish(undefined), timeoutMs);
      const finish = (index: number | undefined): void => {
        this.scheduler.clearTimeout(timer);
        this.readWaiters.delete(id);
        if (index !== undefined) void this.noteFreshness(index, requestedAtMs);
        resolve(index);
      };
      this.readWaiters.set(id, { requestedAtMs, resolve: finish });
      this.raw.readIndex(id, mode);
      this.kick();
    });
  }

  /**
   * A read index requested at t0 covers everything committed before t0 (the
   * leader fixed it after the request arrived), so once it is applied the
   * local state is at most now - t0 old, with no assumption about other clocks.
   */
  private async noteFreshness(index: number, requestedAtMs: number): Promise<void> {
    if (await this.waitApplied(index, this.options.tickMs * this.options.electionTicks * 4)) {
      if (requestedAtMs > this.freshAsOfMs) this.freshAsOfMs = requestedAtMs;
    }
  }

  private provenStalenessMs(): number | undefined {
    if (!Number.isFinite(this.freshAsOfMs)) return undefined;
    return Math.max(0, Math.ceil(this.options.clock.monotonicMs() - this.freshAsOfMs));
  }

  /** Proves the local state no older than maxMs, asking the leader if needed; the proven bound or undefined. */
  private async proveFreshness(maxMs: number, waitMs: number): Promise<number | undefined> {
    const known = this.provenStalenessMs();
    if (known !== undefined && known <= maxMs) return known;
    const deadline = this.options.clock.monotonicMs() + waitMs;
    const index = await this.readIndexWithin('readIndex', () => Math.max(0, Math.floor(deadline - this.options.clock.monotonicMs())));
    if (index === undefined) return undefined;
    // readIndex recorded freshness once applied; wait for that within the budget.
    await this.waitApplied(index, waitMs);
    const proven = this.provenStalenessMs();
    return proven !== undefined && proven <= maxMs ? proven : undefined;
  }

  // ---------------------------------------------------------------- expiry, promotion

  /** The leader proposes expiry of due holds on an idle cluster (within a tick of the deadline). */
  private maybeProposeExpiry(): void {
    if (this.raw.status().role !== 'leader' || this.storageError) return;
    const deadline = this.ledger.nextDeadlineMs();
    const now = this.options.clock.wallMs();
    if (deadline === undefined || deadline > now) return;
    // One expiry entry in flight at a time; a lost one is retried after a second.
    if (this.options.clock.monotonicMs() - this.expiryProposedAtMs < 1000) return;
    this.expiryProposedAtMs = this.options.clock.monotonicMs();
    void this.write({ type: 'expire' }, 5000).then((outcome) => {
      if (outcome.ok) this.expiryProposedAtMs = Number.NEGATIVE_INFINITY;
    });
  }

  private maybePromoteLearners(): void {
    if (this.promotions.size === 0) return;
    const status = this.raw.status();
    if (status.role !== 'leader') return;
    for (const id of this.promotions) {
      const peer = status.peers.find((p) => p.id === id);
      if (!peer || peer.voter) {
        if (peer?.voter) this.promotions.delete(id);
        continue;
      }
      // Caught up: within one append's worth of the leader's log.
      if (status.lastIndex - peer.match > 100) continue;
      const result = this.raw.proposeConfChange({ type: 'addVoter', nodeId: id, context: this.peerUrls.get(id) ?? '' });
      if (result.ok) this.options.logger.info({ id, index: result.index }, 'promoting caught-up learner');
    }
  }

  // ---------------------------------------------------------------- cluster operations

  async addMember(id: NodeId, url: string, voter: boolean, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    this.peerUrls.set(id, url);
    this.transport.setPeers(this.peerUrls);
    const outcome = await this.proposeConf({ type: 'addLearner', nodeId: id, context: url }, timeoutMs);
    if (outcome.ok && voter) this.promotions.add(id);
    return outcome;
  }

  removeMember(id: NodeId, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    this.promotions.delete(id);
    return this.proposeConf({ type: 'removeNode', nodeId: id, context: '' }, timeoutMs);
  }

  private async proposeConf(change: ConfChange, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    const refused = this.refuseWrite();
    if (refused) return { ok: false, error: refused };
    const result = this.raw.proposeConfChange(change);
    if (!result.ok) {
      if (result.error === 'notLeader') return { ok: false, error: this.notLeaderError() };
      return { ok: false, error: { code: 'cluster_change_refused', message: result.detail } };
    }
    this.kick();
    const applied = await this.waitApplied(result.index, timeoutMs);
    if (!applied) return { ok: false, error: { code: 'commit_timeout', index: result.index } };
    return { ok: true, value: { index: result.index } };
  }

  async transferLeadership(to: NodeId | undefined, timeoutMs: number): Promise<Outcome<{ readonly leader: NodeId }>> {
    const status = this.raw.status();
    if (status.role !== 'leader') return { ok: false, error: this.notLeaderError() };
    const target = to ?? this.bestTransferTarget();
    if (target === undefined) return { ok: false, error: { code: 'cluster_change_refused', message: 'no other voter to hand leadership to' } };
    const refused = this.raw.transferLeadership(target);
    if (refused && !refused.ok) return { ok: false, error: { code: 'cluster_change_refused', message: refused.detail } };
    this.kick();
    const deadline = this.options.clock.monotonicMs() + timeoutMs;
    while (this.options.clock.monotonicMs() < deadline) {
      const now = this.raw.status();
      if (now.lead !== this.nodeId && now.lead !== NONE) return { ok: true, value: { leader: now.lead } };
      await sleep(this.scheduler, this.options.tickMs);
    }
    return { ok: false, error: { code: 'cluster_change_refused', message: `leadership did not move to ${target} in time` } };
  }

  private bestTransferTarget(): NodeId | undefined {
    const status = this.raw.status();
    let best: { id: NodeId; match: number } | undefined;
    for (const peer of status.peers) {
      if (peer.id === this.nodeId || !peer.voter) continue;
      if (!best || peer.match > best.match) best = { id: peer.id, match: peer.match };
    }
    return best?.id;
  }

  async takeSnapshot(): Promise<Outcome<{ readonly index: number }>> {
    if (this.storageError) return { ok: false, error: this.storageFailed() };
    return { ok: true, value: { index: this.snapshotNow() } };
  }

  // ---------------------------------------------------------------- status

  raftHeaders(): RaftHeaderValues {
    const status = this.raw.status();
    return { term: status.term, appliedIndex: this.ledger.appliedIndex(), leaderId: status.lead, servedBy: this.nodeId };
  }

  clusterStatus(): ClusterStatus {
    const status = this.raw.status();
    const tickMs = this.options.tickMs;
    const members = [...status.conf.voters.map((id) => ({ id, voter: true })), ...status.conf.learners.map((id) => ({ id, voter: false }))];
    return {
      id: this.nodeId,
      role: status.role,
      term: status.term,
      leader: status.lead,
      commitIndex: status.commit,
      appliedIndex: this.ledger.appliedIndex(),
      lastLogIndex: status.lastIndex,
      snapshotIndex: this.storage.snapshotMeta().index,
      members: members.map(({ id, voter }) => {
        const peer = status.peers.find((p) => p.id === id);
        return {
          id,
          url: this.peerUrls.get(id),
          voter,
          matchIndex: peer?.match,
          lagEntries: peer === undefined ? undefined : Math.max(0, status.commit - peer.match),
          lastContactMs: peer === undefined ? undefined : peer.lastContactTicks * tickMs,
        };
      }),
    };
  }

  readiness(): Readiness {
    if (this.storageError) return { ready: false, reason: `storage failed: ${this.storageError.message}` };
    if (!this.running) return { ready: false, reason: 'not running' };
    const status = this.raw.status();
    if (status.lead === NONE) return { ready: false, reason: 'no known leader' };
    if (this.ledger.appliedIndex() < status.commit) {
      return { ready: false, reason: `applied ${this.ledger.appliedIndex()} behind commit ${status.commit}` };
    }
    return { ready: true, reason: `leader ${status.lead}, applied ${this.ledger.appliedIndex()}` };
  }

  peerUrl(id: NodeId): string | undefined {
    return this.peerUrls.get(id);
  }

  /** For tests and ledgerctl: the raw core status. */
  raftStatus(): ReturnType<RawNode['status']> {
    return this.raw.status();
  }
}

function seedFrom(id: string, wallMs: number): number {
  let h = wallMs >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
