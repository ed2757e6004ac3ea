// The Raft protocol as a pure state machine: elections with PreVote and
// CheckQuorum, replication with flow control, snapshots, one-server membership
// changes and leadership transfer. ReadIndex and lease reads live in
// read-only.ts, which this class holds as `reads` and feeds (heartbeat rounds,
// first commit of a term, role changes). It does no I/O and reads no clock:
// time is `tick()`, input is `step()`, output is collected in `msgs`, the
// read answers and the log, and RawNode packs it into a Ready for the driver.
// Roles swap the `stepRole` and `tickRole` functions.

import { assert, AssertionFailure, unreachable } from '../lib/assert.js';
import { validateRaftConfig, type RaftConfig } from './config.js';
import { RaftLog } from './log.js';
import { applyConfChange, decodeConfChange, encodeConfChange, validateConfChange } from './membership.js';
import { Progress } from './progress.js';
import { committedIndex, voteResult } from './quorum.js';
import { ReadOnly, type ReadMode } from './read-only.js';
import { entriesSizeBytes, type LogStorage } from './storage.js';
import {
  NONE,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type MessageType,
  type NodeId,
  type OutgoingMessage,
  type Role,
  type SnapshotMeta,
} from './types.js';

export type ProposeError = 'notLeader' | 'transferInProgress' | 'overloaded' | 'confChangePending' | 'invalidConfChange';

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: ProposeError; readonly detail: string };

export type { ReadMode } from './read-only.js';

/** Messages the leader may send before its own copy of a Ready is durable (thesis §10.2.1). */
const SEND_BEFORE_PERSIST: ReadonlySet<MessageType> = new Set<MessageType>([
  'app',
  'heartbeat',
  'snap',
  'timeoutNow',
  'readIndex',
  'readIndexResp',
]);

/** Ticks a snapshot may stay unacknowledged before the leader tries again, in election timeouts. */
const SNAPSHOT_RETRY_ELECTIONS = 3;

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;

  /** Messages to send: before persistence is allowed only for leader traffic. */
  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  /** ReadIndex and lease reads, with their answers for the next Ready. */
  readonly reads = new ReadOnly(this, (m) => this.send(m));

  // Membership: the configuration in force is the latest one in the log.
  private snapshotConf: ConfState;
  /** Configurations from conf entries in the log after the snapshot, ascending by index. */
  private confLog: { index: number; conf: ConfState }[] = [];
  progress = new Map<NodeId, Progress>();

  // Timers, in ticks.
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  /** Ticks since this node last heard from a leader; starts at 0 so a restarted node honours any lease it may have granted. */
  private ticksSinceLeaderContact = 0;
  /** A monotonic count of ticks since start, for lease anchoring. */
  private tickCount = 0;

  /** See RaftConfig.abstainUntilCaughtUp. */
  private abstaining: boolean;
  /**
   * The highest commit index this term's leader has announced to us (its own
   * commit on a leader). A follower whose log is far behind commits only up
   * to its last entry, so its own commit index cannot say it has caught up;
   * this can.
   */
  leaderCommit = 0;

  // Candidate state.
  private votes = new Map<NodeId, boolean>();
  /** Real elections this node started (for metrics). */
  electionsStarted = 0;

  // Leader state.
  leadTransferee: NodeId = NONE;
  private uncommittedBytes = 0;

  private stepRole: (m: Message) => void = (m) => this.stepFollower(m);
  private tickRole: () => void = () => this.tickElection();

  constructor(
    readonly config: RaftConfig,
    storage: LogStorage,
  ) {
    validateRaftConfig(config);
    this.id = config.id;
    this.abstaining = config.abstainUntilCaughtUp === true;
    const { hardState, conf } = storage.initialState();
    this.log = new RaftLog(storage, hardState.commit, config.applied, config.maxCommittedBytesPerReady);
    this.snapshotConf = conf;
    this.loadConfLog();
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- membership

  conf(): ConfState {
    const last = this.confLog[this.confLog.length - 1];
    return last ? last.conf : this.snapshotConf;
  }

  /** The configuration in force at index (for snapshot metadata). */
  confAt(index: number): ConfState {
    let conf = this.snapshotConf;
    for (const entry of this.confLog) {
      if (entry.index > index) break;
      conf = entry.conf;
    }
    return conf;
  }

  private lastConfIndex(): number {
    return this.confLog[this.confLog.length - 1]?.index ?? 0;
  }

  isVoter(id: NodeId = this.id): boolean {
    return this.conf().voters.includes(id);
  }

  private loadConfLog(): void {
    // The snapshot's configuration already includes any change in a catch-up tail kept below it.
    const first = Math.max(this.log.firstIndex(), this.log.storage.snapshotMeta().index + 1);
    const last = this.log.lastIndex();
    for (let lo = first; lo <= last; ) {
      const batch = this.log.slice(lo, last + 1, this.config.maxCommittedBytesPerReady);
      assert(batch !== undefined && batch.length > 0, 'log unreadable while loading configuration');
      this.trackConfEntries(batch);
      lo = (batch[batch.length - 1] as Entry).index + 1;
    }
  }

  /** Records the configurations of appended entries; call after any truncation was accounted for. */
  private trackConfEntries(entries: readonly Entry[]): void {
    for (const entry of entries) {
      if (entry.type !== 'conf') continue;
      const conf = applyConfChange(this.conf(), decodeConfChange(entry.data));
      this.confLog.push({ index: entry.index, conf });
      this.onConfChanged(conf);
    }
  }

  /** A suffix from `from` is being replaced: forget its configurations. */
  private truncateConfLog(from: number): void {
    const before = this.conf();
    while (this.confLog.length > 0 && (this.confLog[this.confLog.length - 1] as { index: number }).index >= from) {
      this.confLog.pop();
    }
    if (this.conf() !== before) this.onConfChanged(this.conf());
  }

  /** Folds configurations at or below the snapshot into the snapshot's, bounding the list. */
  compactConfLog(snapshotIndex: number): void {
    while (this.confLog.length > 0 && (this.confLog[0] as { index: number }).index <= snapshotIndex) {
      this.snapshotConf = (this.confLog.shift() as { conf: ConfState }).conf;
    }
  }

  private onConfChanged(conf: ConfState): void {
    if (this.role !== 'leader') return;
    const members = new Set([...conf.voters, ...conf.learners]);
    for (const id of members) {
      const existing = this.progress.get(id);
      if (existing) existing.isLearner = !conf.voters.includes(id);
      else this.progress.set(id, this.newProgress(id, !conf.voters.includes(id)));
    }
    for (const id of [...this.progress.keys()]) {
      if (!members.has(id) && id !== this.id) this.progress.delete(id);
    }
    if (this.leadTransferee !== NONE && !conf.voters.includes(this.leadTransferee)) this.leadTransferee = NONE;
  }

  private newProgress(id: NodeId, isLearner: boolean): Progress {
    const pr = new Progress(this.log.lastIndex() + 1, this.config.maxInflightAppends, isLearner);
    pr.recentActive = true;
    if (id === this.id) pr.match = this.log.stableLastIndex();
    return pr;
  }

  // ---------------------------------------------------------------- role changes

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.votes.clear();
    this.leadTransferee = NONE;
    this.reads.reset();
    this.progress.clear();
    this.uncommittedBytes = 0;
    this.leaderCommit = 0;
  }

  private resetRandomizedElectionTimeout(): void {
    const e = this.config.electionTicks;
    this.randomizedElectionTicks = e + Math.floor(this.config.random.next() * e);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
    this.stepRole = (m) => this.stepFollower(m);
    this.tickRole = () => this.tickElection();
  }

  private becomePreCandidate(): void {
    if (this.role === 'leader') throw new AssertionFailure('leader cannot become pre-candidate');
    // Term and vote stay as they are: a pre-vote changes nothing durable (thesis §9.6).
    this.votes.clear();
    this.lead = NONE;
    this.reads.dropFollowerReads();
    this.role = 'preCandidate';
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeCandidate(): void {
    if (this.role === 'leader') throw new AssertionFailure('leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
    this.electionsStarted++;
    this.stepRole = (m) => this.stepCandidate(m);
    this.tickRole = () => this.tickElection();
  }

  private becomeLeader(): void {
    if (this.role === 'follower') throw new AssertionFailure('follower cannot become leader');
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.stepRole = (m) => this.stepLeader(m);
    this.tickRole = () => this.tickHeartbeat();
    const conf = this.conf();
    for (const id of [...conf.voters, ...conf.learners]) {
      this.progress.set(id, this.newProgress(id, !conf.voters.includes(id)));
    }
    // Our own entry for the term: commits everything before it (§5.4.2, §8).
    this.appendEntries([{ term: this.term, index: this.log.lastIndex() + 1, type: 'normal', data: new Uint8Array(0) }]);
  }

  // ---------------------------------------------------------------- ticks

  tick(): void {
    this.tickCount++;
    this.ticksSinceLeaderContact++;
    this.reads.expireLostForwards();
    this.tickRole();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      pr.lastContactTicks++;
      if (pr.state === 'snapshot' && ++pr.snapshotWaitTicks > SNAPSHOT_RETRY_ELECTIONS * this.config.electionTicks) {
        pr.becomeProbe();
      }
    }
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  /** CheckQuorum: a majority of voters was heard from since the last check. Resets the marks. */
  private quorumActive(): boolean {
    let active = 0;
    const voters = this.conf().voters;
    for (const id of voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return voters.length === 0 || active >= Math.floor(voters.length / 2) + 1;
  }

  private promotable(): boolean {
    return this.isVoter() && !this.log.unstable.snapshot && !this.abstaining;
  }

  /** Followers honour a leader's lease: no (pre)votes for others while it may hold one. */
  inLease(): boolean {
    if (!this.config.checkQuorum) return false;
    if (this.role === 'leader') return true;
    return this.role === 'follower' && this.ticksSinceLeaderContact < this.config.electionTicks;
  }

  // ---------------------------------------------------------------- elections

  /** Starts an election now (the driver's "campaign" and TimeoutNow). */
  hup(force: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    // Campaigning while honouring a lease would vote against it (a timer never fires inside one).
    if (!force && this.inLease()) return;
    if (this.config.preVote && !force) this.campaign('preVote', false);
    else this.campaign('vote', force);
  }

  private campaign(kind: 'preVote' | 'vote', force: boolean): void {
    let term: number;
    if (kind === 'preVote') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    this.votes.set(this.id, true);
    if (this.tallyVotes(kind) !== 'pending') return;
    for (const id of this.conf().voters) {
      if (id === this.id) continue;
      this.send({
        type: kind,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        force,
      });
    }
  }

  /** Counts votes and acts on a decided election; returns the outcome. */
  private tallyVotes(kind: 'preVote' | 'vote'): 'won' | 'lost' | 'pending' {
    const result = voteResult(this.conf().voters, this.votes);
    if (result === 'won') {
      if (kind === 'preVote') this.campaign('vote', false);
      else this.becomeLeader();
    } else if (result === 'lost') {
      this.becomeFollower(this.term, NONE);
    }
    return result;
  }

  private handleVoteRequest(m: Message): void {
    const isPreVote = m.type === 'preVote';
    // A server honouring a lease refuses every candidate but the one it already voted for,
    // at any term: a non-vote message may have moved it to a new term with no vote while
    // the lease it acknowledged still runs.
    const leaseAllows = m.force || this.vote === m.from || !this.inLease();
    const canVote =
      !this.abstaining &&
      leaseAllows &&
      (this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (isPreVote && m.term > this.term));
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      // A granted pre-vote answers in the candidate's future term; a real vote is recorded (and persisted before it leaves).
      this.send({ type: isPreVote ? 'preVoteResp' : 'voteResp', to: m.from, term: m.term, reject: false });
      if (!isPreVote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: isPreVote ? 'preVoteResp' : 'voteResp', to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    if (m.term > this.term) {
      if ((m.type === 'vote' || m.type === 'preVote') && !m.force && this.inLease()) {
        // §6 / thesis §4.2.3: a server that hears from a current leader ignores disruptive candidates.
        return;
      }
      if (m.type === 'preVote' || (m.type === 'preVoteResp' && !m.reject)) {
        // Pre-votes do not change our term; a granted pre-vote response is for the term we will campaign in.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (m.type === 'app' || m.type === 'heartbeat') {
        // Tell a stale leader about the newer term so it steps down (it may be cut off from it otherwise).
        this.send({ type: 'appResp', to: m.from, term: this.term });
      } else if (m.type === 'preVote') {
        this.send({ type: 'preVoteResp', to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    this.stepRole(m);
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.electionElapsed = 0;
        this.ticksSinceLeaderContact = 0;
        if (this.lead !== m.from) {
          this.reads.dropFollowerReads();
          this.lead = m.from;
        }
        // A heartbeat's commit is capped at what the leader knows we hold; an append's or snapshot's is its own.
        if (m.type !== 'heartbeat' && m.commit > this.leaderCommit) this.leaderCommit = m.commit;
        if (m.type === 'app') this.handleAppend(m);
        else if (m.type === 'heartbeat') this.handleHeartbeat(m);
        else this.handleSnapshot(m);
        // A leader's commit of its own term covers every committed entry: holding it, we may vote again.
        if (this.abstaining && m.type === 'app' && this.log.committed >= m.commit && this.log.term(this.log.committed) === m.term) {
          this.abstaining = false;
        }
        return;
      case 'timeoutNow':
        this.hup(true);
        return;
      case 'readIndexResp':
        this.reads.answered(m);
        return;
      default:
        this.notForRole(m);
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        // A leader exists for our term: follow it.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'preVoteResp':
      case 'voteResp': {
        const kind = this.role === 'preCandidate' ? 'preVote' : 'vote';
        if ((kind === 'preVote') !== (m.type === 'preVoteResp')) return;
        if (!this.conf().voters.includes(m.from)) return;
        this.votes.set(m.from, !m.reject);
        this.tallyVotes(kind);
        return;
      }
      default:
        this.notForRole(m);
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'appResp':
        if (pr) this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        if (pr) this.handleHeartbeatResponse(m, pr);
        return;
      case 'snapResp':
        if (pr) this.reportSnapshot(m.from, !m.reject);
        return;
      case 'readIndex':
        this.reads.forwarded(m);
        return;
      default:
        // This includes app, heartbeat and snap: another leader in our own term
        // cannot exist (election safety), so such a message is forged or
        // corrupt. Dropping it keeps this leader serving; the simulator's
        // checker, not this node, asserts election safety.
        this.notForRole(m);
    }
  }

  /**
   * Where every role's step ends: a message the role does not act on is
   * dropped (a stale answer, a request only another role serves). Vote
   * requests never get here: step() answers them for every role.
   */
  private notForRole(m: Message): void {
    switch (m.type) {
      case 'vote':
      case 'preVote':
        throw new AssertionFailure('votes are handled before the role step');
      case 'preVoteResp':
      case 'voteResp':
      case 'app':
      case 'appResp':
      case 'heartbeat':
      case 'heartbeatResp':
      case 'snap':
      case 'snapResp':
      case 'timeoutNow':
      case 'readIndex':
      case 'readIndexResp':
        return;
      default:
        unreachable(m.type, 'message type');
    }
  }

  // ---------------------------------------------------------------- replication (follower side)

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'appResp', to: m.from, index: this.log.committed });
      return;
    }
    // Entries from the first conflict on replace ours, configurations included; the
    // configurations change only once the log accepted the entries (its checks may throw).
    const conflict = this.log.matchTerm(m.index, m.logTerm) ? this.log.findConflict(m.entries) : 0;
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      if (conflict !== 0) {
        this.truncateConfLog(conflict);
        this.trackConfEntries(m.entries.filter((e) => e.index >= conflict));
      }
      this.send({ type: 'appResp', to: m.from, index: lastNew });
      return;
    }
    // §5.3 with fast backtracking: point the leader at the last entry whose term
    // is not above the one it asked about, skipping a whole conflicting term.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      type: 'appResp',
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      rejectHintTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ type: 'heartbeatResp', to: m.from, readRound: m.readRound });
  }

  private handleSnapshot(m: Message): void {
    const meta = m.snapshot;
    assert(meta !== undefined, 'snap message without snapshot');
    if (meta.index <= this.log.committed) {
      this.send({ type: 'appResp', to: m.from, index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already have the snapshot's last entry: just learn that it is committed.
      this.log.commitTo(meta.index);
      this.send({ type: 'appResp', to: m.from, index: this.log.lastIndex() });
      return;
    }
    this.restore(meta);
    this.send({ type: 'appResp', to: m.from, index: this.log.lastIndex() });
  }

  private restore(meta: SnapshotMeta): void {
    this.log.restore(meta);
    this.confLog = [];
    this.snapshotConf = meta.conf;
    this.onConfChanged(meta.conf);
  }

  // ---------------------------------------------------------------- replication (leader side)

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.lastContactTicks = 0;
    if (m.reject) {
      let matchHint = m.rejectHint;
      if (m.rejectHintTerm > 0) matchHint = this.log.findConflictByTerm(m.rejectHint, m.rejectHintTerm).index;
      if (pr.maybeDecrTo(m.index, matchHint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    // No follower can hold more of our term's log than we wrote: a larger index is forged or corrupt.
    if (m.index > this.log.lastIndex()) return;
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) {
      if (wasPaused && !pr.isPaused()) this.sendAppends(m.from);
      return;
    }
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

    if (this.maybeCommit()) this.bcastAppend();
    else this.sendAppends(m.from);

    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.lastContactTicks = 0;
    pr.probeSent = false;
    // An append lost in a full window would stall the follower: the heartbeat answer frees a slot (etcd does the same).
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (!pr.isLearner && m.readRound > pr.readRoundAcked) {
      pr.readRoundAcked = m.readRound;
      this.reads.confirmRounds();
    }
  }

  /** Sends as many appends as the flow control allows (pipelining in replicate state). */
  private sendAppends(to: NodeId): void {
    while (this.maybeSendAppend(to, false)) {
      // keep filling the window
    }
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppends(id);
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends one append (or a snapshot when the entries are compacted). Returns
   * true if a message with entries was sent and another might follow.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const lastIndex = this.log.lastIndex();
    const entries = prevTerm === undefined ? undefined : this.log.slice(pr.next, lastIndex + 1, this.config.maxAppendBytes);
    if (prevTerm === undefined || entries === undefined) {
      this.sendSnapshot(to, pr);
      return false;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      type: 'app',
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    const last = entries[entries.length - 1];
    if (last !== undefined) {
      if (pr.state === 'replicate') {
        pr.optimisticUpdate(last.index);
        pr.inflights.add(last.index);
      } else if (pr.state === 'probe') {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return last !== undefined && pr.state === 'replicate';
  }

  private sendSnapshot(to: NodeId, pr: Progress): void {
    if (!pr.recentActive) return;
    const meta = this.log.storage.snapshotMeta();
    assert(meta.index > 0, `entries for ${to} compacted but no snapshot exists`);
    pr.becomeSnapshot(meta.index);
    this.send({ type: 'snap', to, snapshot: meta, commit: this.log.committed });
  }

  private bcastHeartbeat(): void {
    const round = this.reads.startRound();
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Never tell a follower a commit index beyond what it is known to hold.
      this.send({ type: 'heartbeat', to: id, commit: Math.min(pr.match, this.log.committed), readRound: round });
    }
    this.reads.confirmRounds();
  }

  /** Counts own stable entries toward the quorum (after the driver persisted them). */
  selfPersisted(index: number): void {
    const pr = this.progress.get(this.id);
    if (this.role !== 'leader' || !pr) return;
    if (pr.maybeUpdate(index) && this.maybeCommit()) this.bcastAppend();
  }

  /** Advances the commit index to what a quorum holds, if that entry is from this term. */
  private maybeCommit(): boolean {
    const voters = this.conf().voters;
    const index = committedIndex(voters, (id) => this.progress.get(id)?.match ?? 0);
    if (!Number.isFinite(index)) return false;
    const before = this.log.committed;
    if (!this.log.maybeCommit(index, this.term)) return false;
    if (before < this.log.committed && this.log.term(before) !== this.term) this.reads.firstCommitInTerm();
    this.maybeStepDownAfterRemoval();
    return true;
  }

  /** Thesis §4.2.2: a leader removed from the configuration steps down once the removal commits. */
  private maybeStepDownAfterRemoval(): void {
    if (this.role === 'leader' && !this.isVoter() && this.lastConfIndex() <= this.log.committed) {
      this.becomeFollower(this.term, NONE);
    }
  }

  private appendEntries(entries: Entry[]): void {
    this.log.append(entries);
    this.uncommittedBytes += entriesSizeBytes(entries);
    this.trackConfEntries(entries);
    // A single-voter cluster commits as soon as its own copy is durable (selfPersisted).
    this.bcastAppend();
  }

  // ---------------------------------------------------------------- proposals

  propose(datas: readonly Uint8Array[]): ProposeResult {
    const refused = this.refuseProposal();
    if (refused) return refused;
    const first = this.log.lastIndex() + 1;
    const entries = datas.map((data, i): Entry => ({ term: this.term, index: first + i, type: 'normal', data }));
    const bytes = entriesSizeBytes(entries);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.config.maxUncommittedBytes) {
      return { ok: false, error: 'overloaded', detail: `${this.uncommittedBytes} bytes appended but not committed` };
    }
    this.appendEntries(entries);
    return { ok: true, index: first, term: this.term };
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused) return refused;
    if (this.lastConfIndex() > this.log.committed) {
      return { ok: false, error: 'confChangePending', detail: 'a membership change is not committed yet' };
    }
    // Thesis §4.1 (and the single-server change bug): commit an entry of our own term first.
    if (this.log.term(this.log.committed) !== this.term) {
      return { ok: false, error: 'confChangePending', detail: 'the leader has not committed an entry in its term yet' };
    }
    const invalid = validateConfChange(this.conf(), change);
    if (invalid) return { ok: false, error: 'invalidConfChange', detail: invalid };
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ term: this.term, index, type: 'conf', data: encodeConfChange(change) }]);
    return { ok: true, index, term: this.term };
  }

  private refuseProposal(): ProposeResult | undefined {
    if (this.role !== 'leader') return { ok: false, error: 'notLeader', detail: `leader is ${this.lead || 'unknown'}` };
    if (this.leadTransferee !== NONE) {
      return { ok: false, error: 'transferInProgress', detail: `leadership moving to ${this.leadTransferee}` };
    }
    return undefined;
  }

  /** Releases the uncommitted-bytes budget for entries handed to the application. */
  committedApplied(entries: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    this.uncommittedBytes -= entriesSizeBytes(entries);
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
  }

  // ---------------------------------------------------------------- leadership transfer

  transferLeadership(to: NodeId): ProposeResult | undefined {
    if (this.role !== 'leader') return { ok: false, error: 'notLeader', detail: `leader is ${this.lead || 'unknown'}` };
    if (to === this.id) return undefined;
    const pr = this.progress.get(to);
    if (!pr || pr.isLearner) return { ok: false, error: 'invalidConfChange', detail: `${to} is not a voter` };
    if (this.leadTransferee === to) return undefined;
    this.leadTransferee = to;
    // The transfer must finish within one election timeout (§3.10).
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
    return undefined;
  }

  private sendTimeoutNow(to: NodeId): void {
    this.reads.revokeLease();
    this.send({ type: 'timeoutNow', to });
  }

  // ---------------------------------------------------------------- snapshots

  reportSnapshot(to: NodeId, ok: boolean): void {
    const pr = this.progress.get(to);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat) before probing again.
    pr.probeSent = ok;
  }

  reportUnreachable(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  // ---------------------------------------------------------------- reads

  /** Asks for a read index (see ReadOnly.request). */
  readIndex(id: string, mode: ReadMode): void {
    this.reads.request(id, mode);
  }

  /** Whether this leader may serve reads from its lease now. */
  leaseValid(): boolean {
    return this.reads.leaseValid();
  }

  /** Sends a round for reads that arrived since the last one (many reads share one round), and forwards a follower's reads. */
  flushReads(): void {
    if (this.reads.hasUnsentLeaderReads()) this.bcastHeartbeat();
    this.reads.forwardToLeader();
  }

  // ---------------------------------------------------------------- output

  private send(partial: OutgoingMessage): void {
    const m: Message = {
      from: this.id,
      term: this.term,
      index: 0,
      logTerm: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      rejectHintTerm: 0,
      readRound: 0,
      readIds: [],
      force: false,
      ...partial,
    };
    if (SEND_BEFORE_PERSIST.has(m.type)) this.msgs.push(m);
    else this.msgsAfterPersist.push(m);
  }

  /** See RaftConfig.abstainUntilCaughtUp. */
  isAbstaining(): boolean {
    return this.abstaining;
  }

  tickCountNow(): number {
    return this.tickCount;
  }
}
