// LedgerNode: the driver that turns the pure Raft core into a running node.
// It owns the Ready loop and the node's lifecycle; every other duty is a part
// it creates and holds (docs/architecture.md draws them):
//
//   Ready loop (here)   send leader traffic, persist with one fsync, send the
//                       rest, hand committed entries to the apply stage,
//                       advance; the ticker; snapshots by entry count
//   SnapshotInbox       snapshots received from leaders: staged (written
//                       once, into the ledger's own file), installed
//   ApplyQueue          applies committed entries in batches, one SQLite
//                       transaction each, off the persist path
//   WritePath           proposal queue, group commit, write waiters
//   ReadPath            ReadIndex/lease waiters, staleness proof, min_index
//   ReplicationLag      per-follower lag and append latency (leader)
//   ClusterOps          membership, learner promotion, leadership transfer,
//                       peer URLs, cluster status
//   ExpiryScheduler     the leader's expiry entries for due holds
//
// Parts get what they need through their constructors (narrow views of the
// core, callbacks such as `kick`); they never import this file.

import path from 'node:path';
import { assert } from '../lib/assert.js';
import { Prng } from '../lib/prng.js';
import { LedgerStateMachine, type Command, type CommandResult, type LedgerQueries } from '../ledger/index.js';
import { DEFAULT_RAFT_CONFIG } from '../raft/config.js';
import { bootstrapLog } from '../raft/membership.js';
import { RawNode } from '../raft/raw-node.js';
import { NONE, type Message, type NodeId, type Ready, type SnapshotMeta } from '../raft/types.js';
import { StorageFailedError } from '../storage/errors.js';
import { ApplyQueue, MAX_APPLY_BACKLOG_ENTRIES, type AppliedEntry } from './apply-queue.js';
import { ClusterOps } from './cluster-ops.js';
import { FileDriverStorage, sleep, systemScheduler, type DriverStorage, type Scheduler } from './driver-io.js';
import { SnapshotInbox } from './snapshot-inbox.js';
import { ExpiryScheduler } from './expiry.js';
import { NodeMetrics } from './metrics.js';
import { RETRY_AFTER_MS, STOP_POLL_MS, resolveNodeOptions, type LedgerNodeOptions, type ResolvedNodeOptions } from './node-options.js';
import { ReadPath } from './read-path.js';
import { ReplicationLag } from './replication-lag.js';
import type {
  ClusterStatus,
  LeaderChange,
  LedgerService,
  NodeError,
  Outcome,
  RaftHeaderValues,
  ReadOptions,
  ReadResult,
  Readiness,
  WriteResult,
} from './service.js';
import type { SnapshotSink, SnapshotSource, Transport } from './transport.js';
import { WritePath } from './write-path.js';

export { systemClock, NODE_DEFAULTS, type Clock, type LedgerNodeOptions, type NodeLogger } from './node-options.js';

/** A paused process replays at most this many election timeouts of ticks: enough for every timeout to fire once. */
const MAX_CATCH_UP_ELECTIONS = 2;

export class LedgerNode implements LedgerService {
  readonly nodeId: NodeId;
  readonly storage: DriverStorage;
  readonly ledger: LedgerStateMachine;
  readonly metrics: NodeMetrics;
  private readonly options: ResolvedNodeOptions;
  private readonly scheduler: Scheduler;
  private readonly raw: RawNode;
  private readonly transport: Transport;
  private readonly applyQueue: ApplyQueue;
  private readonly writes: WritePath;
  private readonly reads: ReadPath;
  private readonly lag: ReplicationLag;
  private readonly cluster: ClusterOps;
  private readonly expiry: ExpiryScheduler;
  private readonly inbox: SnapshotInbox;

  private ticker: unknown;
  private ticksDone = 0;
  private readonly startedAtMs: number;
  private running = false;
  private readyLoopActive = false;
  private readyLoopAgain = false;
  private stopping = false;
  private storageError: StorageFailedError | undefined;
  /** A background snapshot is under way (maybeSnapshot). */
  private snapshotting = false;
  private lastLeader: NodeId = NONE;
  /** For GET /v1/cluster (the console's leader changes): bounded, oldest first. */
  private readonly leaderChanges: LeaderChange[] = [];
  private electionsCounted = 0;

  constructor(given: LedgerNodeOptions) {
    const options = resolveNodeOptions(given);
    this.options = options;
    this.nodeId = options.id;
    this.scheduler = options.scheduler ?? systemScheduler;
    const clock = options.clock;
    this.storage =
      options.storage ??
      FileDriverStorage.open(options.dataDir, { onLog: (event) => options.logger.warn({ event }, 'storage recovery') });
    if (!options.join && this.storage.lastIndex() === 0 && this.storage.hardState().term === 0) this.bootstrap();
    this.ledger = options.ledger ?? LedgerStateMachine.open(path.join(options.dataDir, 'ledger.db'));
    this.inbox = new SnapshotInbox({ ledger: () => this.ledger, storage: this.storage });
    this.restoreLedgerIfBehindSnapshot();
    this.noteAppliedAsCommitted();
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
        random: new Prng(seedFrom(options.id, clock.wallMs())),
      },
      this.storage,
    );
    this.startedAtMs = clock.monotonicMs();
    this.lag = new ReplicationLag({
      nodeId: this.nodeId, raw: this.raw, clock, tickMs: options.tickMs, appendAcknowledged: (seconds) => this.metrics.appendEntriesSeconds.observe(seconds),
    });
    this.metrics = new NodeMetrics(options.id, {
      term: () => this.raw.summary().term,
      isLeader: () => this.raw.summary().role === 'leader',
      commitIndex: () => this.raw.summary().commit,
      appliedIndex: () => this.ledger.appliedIndex(),
      lastLogIndex: () => this.raw.summary().lastIndex,
      snapshotIndex: () => this.storage.snapshotMeta().index,
      peers: () => this.lag.peers(),
      walCheckpoints: () => this.ledger.checkpointStatus(),
      peerLinks: () => this.transport.stats?.().peers ?? [],
    });
    const kick = (): void => this.kick();
    const notLeader = (): NodeError => this.notLeaderError();
    const unavailable = (): NodeError | undefined => this.unavailable();
    const notServing = (): NodeError | undefined => this.notServing();
    this.applyQueue = new ApplyQueue({
      ledger: () => this.ledger,
      scheduler: this.scheduler,
      nowMs: () => clock.monotonicMs(),
      applied: (batch, seconds) => this.onApplied(batch, seconds),
    });
    this.writes = new WritePath({
      raw: this.raw, scheduler: this.scheduler, clock, metrics: this.metrics, maxPendingWrites: options.maxPendingWrites, kick, unavailable, notLeader,
    });
    this.reads = new ReadPath({
      nodeId: this.nodeId,
      raw: this.raw,
      ledger: () => this.ledger,
      scheduler: this.scheduler,
      clock,
      metrics: this.metrics,
      tickMs: options.tickMs,
      freshnessWindowMs: options.tickMs * options.electionTicks * 4,
      maxClockDriftRatio: options.maxClockDriftRatio,
      kick,
      catchUpTicks: () => this.catchUpTicks(),
      unavailable: notServing,
    });
    let transport: Transport | undefined;
    this.cluster = new ClusterOps({
      nodeId: this.nodeId,
      initialPeers: options.peers,
      raw: this.raw,
      storage: this.storage,
      appliedIndex: () => this.ledger.appliedIndex(),
      scheduler: this.scheduler,
      clock,
      tickMs: options.tickMs,
      logger: options.logger,
      peersChanged: (urls) => transport?.setPeers(urls),
      kick,
      waitApplied: (index, timeoutMs) => this.reads.waitApplied(index, timeoutMs),
      refusal: () => this.writes.refusal(),
      notLeader,
    });
    this.expiry = new ExpiryScheduler({
      clock,
      mayPropose: () => this.raw.summary().role === 'leader' && this.storageError === undefined,
      nextDeadlineMs: () => this.ledger.nextDeadlineMs(),
      write: (command, timeoutMs) => this.writes.write(command, timeoutMs),
    });
    transport = options.transport({
      onMessages: (messages) => this.onPeerMessages(messages),
      onSnapshotStart: (from, meta) => this.stageIncomingSnapshot(from, meta),
      onUnreachable: (peer) => this.raw.reportUnreachable(peer),
      onSnapshotSent: (peer, ok) => {
        this.raw.reportSnapshot(peer, ok);
        this.kick();
      },
    });
    this.transport = transport;
    this.transport.setPeers(this.cluster.peerUrls());
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

  /**
   * After a crash the ledger may be behind the newest snapshot (the log below
   * it is gone): a received one whose install was cut short is finished from
   * its staged image; our own is restored from its file. Either way the
   * ledger then starts at or after the snapshot.
   */
  private restoreLedgerIfBehindSnapshot(): void {
    const meta = this.storage.snapshotMeta();
    if (this.inbox.recover()) this.options.logger.info({ index: meta.index }, 'finished installing the received snapshot');
    if (this.ledger.appliedIndex() < meta.index) {
      this.restoreLedger(this.storage.openSnapshotReader(meta.index));
      this.options.logger.info({ index: meta.index }, 'restored the ledger from the snapshot');
    }
    assert(this.ledger.appliedIndex() >= meta.index, `the ledger at ${this.ledger.appliedIndex()} is behind the stored snapshot at ${meta.index}`);
  }

  /**
   * The ledger applies only committed entries, but the commit index reaches
   * the log's storage with the next sync: after a restart the ledger can be
   * ahead of it. Everything applied was committed, so storage learns that now
   * (a snapshot at the applied index would otherwise be refused as above the
   * commit index).
   */
  private noteAppliedAsCommitted(): void {
    const hardState = this.storage.hardState();
    const applied = this.ledger.appliedIndex();
    if (applied > hardState.commit && applied <= this.storage.lastIndex()) this.storage.setHardState({ ...hardState, commit: applied });
  }

  start(): void {
    assert(!this.running, 'node already started');
    this.running = true;
    this.ticker = this.scheduler.setInterval(() => this.onTimer(), Math.max(1, Math.floor(this.options.tickMs / 2)));
    this.kick();
  }

  /**
   * Brings ticks up to the monotonic clock: a paused process sees the time it
   * lost before it serves. After a long pause it replays a bounded number of
   * ticks (every timeout fires, the lease is gone) and skips the rest.
   */
  private catchUpTicks(): void {
    const due = Math.floor((this.options.clock.monotonicMs() - this.startedAtMs) / this.options.tickMs);
    const bound = this.options.electionTicks * MAX_CATCH_UP_ELECTIONS + 1;
    if (due - this.ticksDone > bound) this.ticksDone = due - bound;
    while (this.ticksDone < due) {
      this.raw.tick();
      this.ticksDone++;
    }
  }

  private onTimer(): void {
    if (!this.running) return;
    this.catchUpTicks();
    this.lag.track();
    this.expiry.tick();
    this.cluster.promoteCaughtUpLearners();
    this.kick();
  }

  /** Graceful stop: a leader hands leadership over first. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const status = this.raw.status();
    if (this.running && status.role === 'leader' && status.conf.voters.length > 1) {
      const moved = await this.cluster.transferLeadership(undefined, this.options.tickMs * this.options.electionTicks * 2);
      this.options.logger.info({ moved: moved.ok }, 'handed leadership over before stopping');
    }
    this.running = false;
    if (this.ticker !== undefined) this.scheduler.clearInterval(this.ticker);
    this.writes.failAll({ code: 'shutting_down' });
    this.reads.stop();
    await this.transport.close();
    while (this.readyLoopActive) await sleep(this.scheduler, STOP_POLL_MS);
    // What was committed and handed over is applied before the ledger closes (it would be re-applied from the log anyway).
    if (!this.storageError) this.applyQueue.drain();
    this.applyQueue.stop();
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
      if (rd.entries.length > 0) this.metrics.walSyncEntries.observe(rd.entries.length);
    }
    this.sendMessages(rd.messagesAfterPersist);
    // Durable here now: the apply stage takes them on a later turn, while this loop persists the next Ready.
    this.applyQueue.push(rd.committedEntries);
    for (const rs of rd.readStates) this.reads.readState(rs.id, rs.index);
    for (const id of rd.droppedReads) this.reads.readDropped(id);
    this.raw.advance(rd);
    // Back-pressure: a node that commits faster than it applies takes no Ready until apply catches up.
    if (this.applyQueue.backlog > MAX_APPLY_BACKLOG_ENTRIES) await this.applyQueue.waitBelow(MAX_APPLY_BACKLOG_ENTRIES / 2);
  }

  private failStorage(error: unknown): void {
    if (!(error instanceof StorageFailedError)) throw error;
    this.storageError = error;
    this.options.logger.error({ err: error }, 'storage failed: this node stops taking writes');
    this.writes.failAll(this.storageFailed());
    this.applyQueue.stop();
    // Without a working disk this node can neither vote nor acknowledge: stop the protocol.
    this.running = false;
    if (this.ticker !== undefined) this.scheduler.clearInterval(this.ticker);
  }

  private sendMessages(messages: readonly Message[]): void {
    if (messages.length === 0) return;
    this.lag.sent(messages);
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type === 'snap') this.sendSnapshot(m);
      else plain.push(m);
    }
    this.transport.send(plain);
  }

  private sendSnapshot(m: Message): void {
    try {
      const source = this.storage.openSnapshotReader(m.snapshot?.index ?? this.storage.snapshotMeta().index);
      if (source.detached) {
        // A received snapshot: its image is the ledger's database now, which has moved on. Take one
        // from the database (as a compaction would); the core sends that one on its next try.
        source.close();
        this.raw.reportSnapshot(m.to, false);
        this.scheduler.defer(() => this.snapshotToSend());
        return;
      }
      this.transport.sendSnapshot(m, source);
    } catch (error) {
      this.options.logger.warn({ err: error, to: m.to }, 'cannot stream snapshot');
      this.raw.reportSnapshot(m.to, false);
    }
  }

  private onPeerMessages(messages: readonly Message[]): void {
    if (!this.running) return;
    this.catchUpTicks();
    for (const m of messages) {
      if (m.to !== this.nodeId) continue;
      if (m.type === 'appResp' && !m.reject) this.lag.acknowledged(m.from, m.index);
      this.raw.step(m);
    }
    this.kick();
  }

  private onSoftState(leader: NodeId): void {
    const status = this.raw.summary();
    if (leader !== this.lastLeader && leader !== NONE) {
      this.metrics.leaderChanges.inc();
      this.leaderChanges.push({ leader, term: status.term, atWallMs: this.options.clock.wallMs() });
      if (this.leaderChanges.length > MAX_LEADER_CHANGES) this.leaderChanges.shift();
    }
    this.lastLeader = leader;
    const elections = this.raw.status().electionsStarted;
    if (elections > this.electionsCounted) this.metrics.elections.inc(elections - this.electionsCounted);
    this.electionsCounted = elections;
    if (status.role !== 'leader') this.lag.leadershipLost();
    this.options.logger.info({ leader, role: status.role, term: status.term }, 'raft state changed');
    if (leader !== this.nodeId) this.writes.leadershipLost();
  }

  // ---------------------------------------------------------------- apply

  /** The apply stage finished a batch: answer its writers, note membership, wake readers, maybe snapshot. */
  private onApplied(batch: readonly AppliedEntry[], seconds: number): void {
    this.metrics.applySeconds.observe(seconds);
    this.metrics.applyBatchEntries.observe(batch.length);
    for (const { entry, result } of batch) {
      if (entry.type === 'conf') this.cluster.confApplied(entry);
      else if (result !== undefined) this.countResults(result);
      this.writes.applied(entry, result);
    }
    this.reads.appliedMoved();
    if (this.running) this.maybeSnapshot();
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

  // ---------------------------------------------------------------- snapshots

  /**
   * The automatic snapshot, every snapshotEveryEntries applied entries. The
   * ledger serializes, copies and hashes its database on another thread
   * (hundreds of milliseconds for a few MiB on a loaded machine, seconds at
   * size: on this thread that stalled heartbeats, acknowledgements and
   * reads); this thread then stores it and compacts the log. One at a time.
   */
  private maybeSnapshot(): void {
    if (this.snapshotting) return;
    if (this.ledger.appliedIndex() - this.storage.snapshotMeta().index < this.options.snapshotEveryEntries) return;
    this.snapshotting = true;
    this.ledger.snapshotInBackground().then(
      (image) => {
        this.snapshotting = false;
        this.saveBackgroundSnapshot(image);
      },
      (error: unknown) => {
        this.snapshotting = false;
        this.options.logger.warn({ err: error }, 'background snapshot failed; the log stays uncompacted until the next one');
      },
    );
  }

  private saveBackgroundSnapshot(image: { readonly appliedIndex: number; readonly bytes: Uint8Array }): void {
    // A node that stopped, or installed a newer snapshot (or took one on request) meanwhile, has no use for it.
    if (!this.running || this.storageError !== undefined) return;
    const index = image.appliedIndex;
    if (index <= this.storage.snapshotMeta().index) return;
    const term = this.storage.term(index);
    if (term === undefined) return;
    const meta: SnapshotMeta = { index, term, conf: this.raw.confAt(index) };
    try {
      this.storage.saveSnapshot(meta, image.bytes, this.options.snapshotRetainEntries);
    } catch (error) {
      this.failStorage(error);
      return;
    }
    this.raw.compacted(index);
    this.options.logger.info({ index, retainedEntries: this.options.snapshotRetainEntries, bytes: image.bytes.byteLength }, 'snapshot taken, log compacted');
  }

  /** A snapshot with an image to stream, when the newest one is a received (detached) one. */
  private snapshotToSend(): void {
    if (!this.running || this.storageError !== undefined || !this.storage.snapshotIsDetached()) return;
    this.snapshotNow();
  }

  private snapshotNow(): number {
    const applied = this.ledger.appliedIndex();
    const term = this.storage.term(applied);
    const current = this.storage.snapshotMeta().index;
    // At the index of a received snapshot, this gives it an image (the ledger has not moved since).
    if (term === undefined || applied < current || (applied === current && !this.storage.snapshotIsDetached())) return current;
    const meta: SnapshotMeta = { index: applied, term, conf: this.raw.confAt(applied) };
    this.storage.saveSnapshot(meta, this.ledger.snapshot(), this.options.snapshotRetainEntries);
    this.raw.compacted(applied);
    this.options.logger.info({ index: applied, retainedEntries: this.options.snapshotRetainEntries }, 'snapshot taken, log compacted');
    return applied;
  }

  /** Receives a leader's snapshot into the ledger's staging; it is installed when the core accepts it. */
  private stageIncomingSnapshot(from: NodeId, meta: SnapshotMeta): SnapshotSink | undefined {
    if (!this.running) return undefined;
    this.options.logger.info({ from, index: meta.index }, 'receiving snapshot');
    return this.inbox.receive(meta);
  }

  private installSnapshot(meta: SnapshotMeta): void {
    // Entries handed to the apply stage come before the snapshot in the log: apply them first.
    this.applyQueue.drain();
    this.inbox.install(meta);
    this.reads.appliedMoved();
    this.options.logger.info({ index: meta.index }, 'installed snapshot from the leader');
  }

  /** Our own snapshot into the ledger (after a power loss took applied entries): read from its file in chunks. */
  private restoreLedger(source: SnapshotSource): void {
    try {
      this.ledger.restore(source);
    } finally {
      source.close();
    }
  }

  // ---------------------------------------------------------------- LedgerService

  write(command: Command, timeoutMs: number): Promise<Outcome<WriteResult>> {
    return this.writes.write(command, timeoutMs);
  }

  read<T>(options: ReadOptions, query: (queries: LedgerQueries) => T): Promise<Outcome<ReadResult<T>>> {
    return this.reads.read(options, query);
  }

  addMember(id: NodeId, url: string, voter: boolean, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    return this.cluster.addMember(id, url, voter, timeoutMs);
  }

  removeMember(id: NodeId, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    return this.cluster.removeMember(id, timeoutMs);
  }

  transferLeadership(to: NodeId | undefined, timeoutMs: number): Promise<Outcome<{ readonly leader: NodeId }>> {
    return this.cluster.transferLeadership(to, timeoutMs);
  }

  async takeSnapshot(): Promise<Outcome<{ readonly index: number }>> {
    if (this.storageError) return { ok: false, error: this.storageFailed() };
    return { ok: true, value: { index: this.snapshotNow() } };
  }

  raftHeaders(): RaftHeaderValues {
    const status = this.raw.summary();
    return { term: status.term, appliedIndex: this.ledger.appliedIndex(), leaderId: status.lead, servedBy: this.nodeId };
  }

  clusterStatus(): ClusterStatus {
    const status = { ...this.cluster.status(), leaderChanges: [...this.leaderChanges] };
    if (status.role !== 'leader') return status;
    // How long each follower has been behind is tracked by ReplicationLag, on the leader only.
    const lags = new Map(this.lag.peers().map((peer) => [peer.peer, peer.lagSeconds * 1000]));
    return { ...status, members: status.members.map((member) => ({ ...member, lagMs: member.id === this.nodeId ? 0 : lags.get(member.id) })) };
  }

  readiness(): Readiness {
    if (this.storageError) return { ready: false, reason: `storage failed: ${this.storageError.message}` };
    if (!this.running) return { ready: false, reason: 'not running' };
    const status = this.raw.summary();
    if (status.lead === NONE) return { ready: false, reason: 'no known leader' };
    const applied = this.ledger.appliedIndex();
    if (applied < status.commit) return { ready: false, reason: `applied ${applied} behind commit ${status.commit}` };
    // A node catching up (just joined, or back after a long absence) commits only what its log holds.
    if (applied < status.leaderCommit) return { ready: false, reason: `applied ${applied} behind the leader's commit ${status.leaderCommit}` };
    return { ready: true, reason: `leader ${status.lead}, applied ${applied}` };
  }

  peerUrl(id: NodeId): string | undefined {
    return this.cluster.peerUrl(id);
  }

  /** For tests and ledgerctl: the raw core status. */
  raftStatus(): ReturnType<RawNode['status']> {
    return this.raw.status();
  }

  // ---------------------------------------------------------------- refusals

  /** Why this node takes no writes or changes now, if it does not (stopping, stopped, storage failed). */
  private unavailable(): NodeError | undefined {
    return this.notServing() ?? (this.stopping ? { code: 'shutting_down' } : undefined);
  }

  /** Why this node serves no reads now, if it does not: a stopping node still serves while it hands over. */
  private notServing(): NodeError | undefined {
    if (this.storageError) return this.storageFailed();
    if (!this.running) return { code: 'shutting_down' };
    return undefined;
  }

  private notLeaderError(): NodeError {
    const leader = this.raw.summary().lead;
    if (leader === NONE) return { code: 'no_leader', retryAfterMs: RETRY_AFTER_MS };
    return { code: 'not_leader', leaderId: leader, leaderUrl: this.cluster.peerUrl(leader) };
  }

  private storageFailed(): NodeError {
    return { code: 'storage_failed', message: this.storageError?.message ?? 'storage failed' };
  }
}

/** Leaders remembered for GET /v1/cluster: enough for an operator to see a flapping cluster. */
const MAX_LEADER_CHANGES = 20;

function seedFrom(id: string, wallMs: number): number {
  let h = wallMs >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
