// ReadIndex and lease reads (Raft thesis §6.4 and §6.4.1): what a read waits
// for before its index may be served. This module owns the leader's read
// queues (waiting for the first commit of its term, waiting for a heartbeat
// round, riding a sent round), the round counter, the lease anchor and its
// revocation, the reads a follower forwarded to its leader, and the answers
// (ReadStates and dropped ids) that the next Ready carries. It owns no role,
// term, log, membership or progress: the Raft that holds it answers those
// through ReadHost, and only that Raft sends heartbeats (it asks startRound()
// for the round to stamp on them). Modelled on etcd/raft's read_only.go.

import { leaseTicks, type RaftConfig } from './config.js';
import { committedIndex } from './quorum.js';
import { NONE, type ConfState, type Message, type NodeId, type OutgoingMessage, type ReadState, type Role } from './types.js';

export type ReadMode = 'readIndex' | 'lease';

/** What the reads need to know of the Raft that holds them (Raft itself satisfies it). */
export interface ReadHost {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly role: Role;
  readonly lead: NodeId;
  readonly leadTransferee: NodeId;
  readonly term: number;
  readonly log: { readonly committed: number; term(index: number): number | undefined };
  readonly progress: ReadonlyMap<NodeId, { readonly readRoundAcked: number }>;
  conf(): ConfState;
  tickCountNow(): number;
}

interface PendingRead {
  readonly id: string;
  /** The node that asked: this node, or a follower that forwarded it. */
  readonly from: NodeId;
  index: number;
  round: number;
}

/** Read rounds remembered for lease anchoring; older ones are forgotten (safe: no lease from them). */
const MAX_REMEMBERED_ROUNDS = 512;
/** A forwarded read unanswered for this many election timeouts was lost (its request or its answer). */
const FORWARDED_READ_TIMEOUT_ELECTIONS = 2;

export class ReadOnly {
  private readStates: ReadState[] = [];
  private droppedReads: string[] = [];

  // Leader side. The round counter only grows (within one process), across terms too.
  private readRound = 0;
  private readonly roundSentTick = new Map<number, number>();
  private leaseAnchorTick = Number.NEGATIVE_INFINITY;
  /** Set when this leader sent TimeoutNow in its term: a forced election may follow at any time. */
  private leaseRevoked = false;
  /** Reads waiting for the first commit of this leader's term. */
  private readsAwaitingTermCommit: PendingRead[] = [];
  /** Reads not yet attached to a round. */
  private readsUnsent: PendingRead[] = [];
  /** Reads attached to a sent round, ascending by round. */
  private readsInFlight: PendingRead[] = [];

  // Follower side: reads forwarded to the leader.
  private followerReadsUnsent: string[] = [];
  /** Reads forwarded to the leader -> the tick they were sent at (lost ones are dropped after a while). */
  private followerReadsInFlight = new Map<string, number>();

  constructor(
    private readonly host: ReadHost,
    private readonly send: (m: OutgoingMessage) => void,
  ) {}

  // ---------------------------------------------------------------- answers for the Ready

  hasAnswers(): boolean {
    return this.readStates.length > 0 || this.droppedReads.length > 0;
  }

  /** Hands the answers gathered since the last call to a Ready. */
  takeAnswers(): { readStates: ReadState[]; droppedReads: string[] } {
    const answers = { readStates: this.readStates, droppedReads: this.droppedReads };
    this.readStates = [];
    this.droppedReads = [];
    return answers;
  }

  // ---------------------------------------------------------------- requests

  /**
   * Asks for a read index (§6.4). The answer arrives as a ReadState (or the id
   * in droppedReads) in a later Ready. In lease mode a leader with a valid
   * lease answers at once; otherwise the read takes a ReadIndex round.
   */
  request(id: string, mode: ReadMode): void {
    const host = this.host;
    if (host.role === 'leader') {
      this.leaderRead({ id, from: host.id, index: 0, round: 0 }, mode);
      return;
    }
    if (host.role !== 'follower' || host.lead === NONE || this.pendingFollowerReads() >= host.config.maxPendingReads) {
      this.droppedReads.push(id);
      return;
    }
    this.followerReadsUnsent.push(id);
  }

  /** A follower's forwarded reads arrived at this leader. */
  forwarded(m: Message): void {
    for (const id of m.readIds) this.leaderRead({ id, from: m.from, index: 0, round: 0 }, 'readIndex');
  }

  /** The leader answered reads this follower forwarded. */
  answered(m: Message): void {
    for (const id of m.readIds) {
      if (!this.followerReadsInFlight.delete(id)) continue;
      if (m.reject) this.droppedReads.push(id);
      else this.readStates.push({ id, index: m.index });
    }
  }

  private pendingFollowerReads(): number {
    return this.followerReadsUnsent.length + this.followerReadsInFlight.size;
  }

  private pendingLeaderReads(): number {
    return this.readsAwaitingTermCommit.length + this.readsUnsent.length + this.readsInFlight.length;
  }

  private leaderRead(read: PendingRead, mode: ReadMode): void {
    if (this.pendingLeaderReads() >= this.host.config.maxPendingReads) {
      this.answerRead(read, undefined);
      return;
    }
    if (this.host.log.term(this.host.log.committed) !== this.host.term) {
      // §6.4 step 1: until an entry of this term commits, our commit index may be behind.
      this.readsAwaitingTermCommit.push(read);
      return;
    }
    read.index = this.host.log.committed;
    if (this.singleVoter() || (mode === 'lease' && this.leaseValid())) {
      this.answerRead(read, read.index);
      return;
    }
    this.readsUnsent.push(read);
  }

  private singleVoter(): boolean {
    const voters = this.host.conf().voters;
    return voters.length === 1 && voters[0] === this.host.id;
  }

  /** The leader committed the first entry of its term: reads held for it may take an index now. */
  firstCommitInTerm(): void {
    const waiting = this.readsAwaitingTermCommit;
    this.readsAwaitingTermCommit = [];
    for (const read of waiting) this.leaderRead(read, 'readIndex');
  }

  // ---------------------------------------------------------------- rounds and the lease

  /** Whether this leader may serve reads from its lease now. */
  leaseValid(): boolean {
    const host = this.host;
    if (!host.config.leaseReads || host.role !== 'leader' || this.leaseRevoked || host.leadTransferee !== NONE) return false;
    if (host.log.term(host.log.committed) !== host.term) return false;
    return host.tickCountNow() - this.leaseAnchorTick < leaseTicks(host.config);
  }

  /** The target of a TimeoutNow will campaign bypassing every lease, so ours ends now for this term. */
  revokeLease(): void {
    this.leaseRevoked = true;
  }

  /** Whether the leader holds reads for a round that has not been sent yet. */
  hasUnsentLeaderReads(): boolean {
    return this.host.role === 'leader' && this.readsUnsent.length > 0;
  }

  /** Whether reads are waiting for a round or a forward that has not been sent yet. */
  hasUnsentReads(): boolean {
    return this.hasUnsentLeaderReads() || this.followerReadsUnsent.length > 0;
  }

  /**
   * The leader is about to send a heartbeat round: numbers it, remembers when
   * it left (a quorum's answer anchors the lease there) and attaches the reads
   * that arrived since the last round. Returns the round to stamp.
   */
  startRound(): number {
    this.readRound++;
    const round = this.readRound;
    this.roundSentTick.set(round, this.host.tickCountNow());
    if (this.roundSentTick.size > MAX_REMEMBERED_ROUNDS) {
      const oldest = this.roundSentTick.keys().next().value as number;
      this.roundSentTick.delete(oldest);
    }
    for (const read of this.readsUnsent) read.round = round;
    this.readsInFlight.push(...this.readsUnsent);
    this.readsUnsent = [];
    return round;
  }

  /** Answers every read whose round a quorum of voters has acknowledged, and moves the lease anchor. */
  confirmRounds(): void {
    const host = this.host;
    const confirmed = committedIndex(host.conf().voters, (id) =>
      id === host.id ? this.readRound : (host.progress.get(id)?.readRoundAcked ?? 0),
    );
    if (!Number.isFinite(confirmed) || confirmed <= 0) return;
    const sentTick = this.roundSentTick.get(confirmed);
    if (sentTick !== undefined && sentTick > this.leaseAnchorTick) this.leaseAnchorTick = sentTick;
    for (const round of this.roundSentTick.keys()) {
      if (round >= confirmed) break;
      this.roundSentTick.delete(round);
    }
    let n = 0;
    while (n < this.readsInFlight.length && (this.readsInFlight[n] as PendingRead).round <= confirmed) n++;
    if (n === 0) return;
    const ready = this.readsInFlight.splice(0, n);
    // One answer per follower and index: a round confirms many forwarded reads at once.
    const forwarded = new Map<NodeId, Map<number, string[]>>();
    for (const read of ready) {
      if (read.from === this.host.id) {
        this.answerRead(read, read.index);
        continue;
      }
      let byIndex = forwarded.get(read.from);
      if (byIndex === undefined) forwarded.set(read.from, (byIndex = new Map()));
      const ids = byIndex.get(read.index);
      if (ids === undefined) byIndex.set(read.index, [read.id]);
      else ids.push(read.id);
    }
    for (const [to, byIndex] of forwarded) {
      for (const [index, readIds] of byIndex) this.send({ type: 'readIndexResp', to, index, reject: false, readIds });
    }
  }

  /** Delivers a read's outcome locally or to the follower that asked; index undefined means refused. */
  private answerRead(read: PendingRead, index: number | undefined): void {
    if (read.from === this.host.id) {
      if (index === undefined) this.droppedReads.push(read.id);
      else this.readStates.push({ id: read.id, index });
      return;
    }
    this.send({
      type: 'readIndexResp',
      to: read.from,
      index: index ?? 0,
      reject: index === undefined,
      readIds: [read.id],
    });
  }

  // ---------------------------------------------------------------- follower side

  /** Sends the reads that arrived since the last Ready to the leader, in one message. */
  forwardToLeader(): void {
    const host = this.host;
    if (this.followerReadsUnsent.length > 0 && host.role === 'follower' && host.lead !== NONE) {
      const ids = this.followerReadsUnsent;
      this.followerReadsUnsent = [];
      for (const id of ids) this.followerReadsInFlight.set(id, host.tickCountNow());
      this.send({ type: 'readIndex', to: host.lead, readIds: ids });
    }
  }

  /** A forwarded read whose request or answer was lost would wait for ever: drop it after a while. */
  expireLostForwards(): void {
    if (this.followerReadsInFlight.size === 0) return;
    const oldest = this.host.tickCountNow() - FORWARDED_READ_TIMEOUT_ELECTIONS * this.host.config.electionTicks;
    for (const [id, sentTick] of this.followerReadsInFlight) {
      if (sentTick > oldest) break;
      this.followerReadsInFlight.delete(id);
      this.droppedReads.push(id);
    }
  }

  // ---------------------------------------------------------------- giving up

  /** A new term or role: every pending read is refused (followers are told) and the lease ends. */
  reset(): void {
    this.leaseRevoked = false;
    this.leaseAnchorTick = Number.NEGATIVE_INFINITY;
    this.roundSentTick.clear();
    this.dropLeaderReads();
    this.dropFollowerReads();
  }

  private dropLeaderReads(): void {
    const all = [...this.readsAwaitingTermCommit, ...this.readsUnsent, ...this.readsInFlight];
    this.readsAwaitingTermCommit = [];
    this.readsUnsent = [];
    this.readsInFlight = [];
    const rejectedByFollower = new Map<NodeId, string[]>();
    for (const read of all) {
      if (read.from === this.host.id) this.droppedReads.push(read.id);
      else rejectedByFollower.set(read.from, [...(rejectedByFollower.get(read.from) ?? []), read.id]);
    }
    for (const [to, ids] of rejectedByFollower) this.send({ type: 'readIndexResp', to, reject: true, readIds: ids });
  }

  /** The reads forwarded to a leader that is gone (or changed) get no answer: refuse them now. */
  dropFollowerReads(): void {
    this.droppedReads.push(...this.followerReadsUnsent, ...this.followerReadsInFlight.keys());
    this.followerReadsUnsent = [];
    this.followerReadsInFlight.clear();
  }
}
