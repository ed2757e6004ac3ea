// RawNode: the driver's handle on the Raft core, in the shape of etcd/raft's
// RawNode. The driver calls tick() on a timer, step() for each message,
// propose()/readIndex() for clients, and runs one Ready at a time:
// `if (node.hasReady()) { const rd = node.ready(); ...; node.advance(rd); }`.
// See Ready in types.ts for the order of work inside a Ready.

import { assert } from '../lib/assert.js';
import type { RaftConfig } from './config.js';
import type { ProgressState } from './progress.js';
import { Raft, type ProposeResult, type ReadMode } from './raft.js';
import type { LogStorage } from './storage.js';
import {
  sameHardState,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Ready,
  type Role,
  type SoftState,
} from './types.js';

export interface PeerStatus {
  readonly id: NodeId;
  readonly voter: boolean;
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly lastContactTicks: number;
  readonly inflightAppends: number;
}

export interface Status {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly role: Role;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
  readonly leaseValid: boolean;
  /** Real elections this node has started since it started. */
  readonly electionsStarted: number;
  /** Known on the leader only; empty elsewhere. */
  readonly peers: readonly PeerStatus[];
}

/** The part of Status that costs nothing to read: no per-peer rows. */
export type StatusSummary = Pick<Status, 'term' | 'lead' | 'role' | 'commit' | 'lastIndex' | 'leadTransferee'> & {
  /** The commit index this term's leader announced (this node's own commit when it leads); 0 before any. */
  readonly leaderCommit: number;
};

export class RawNode {
  readonly raft: Raft;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private readyOutstanding = false;

  constructor(config: RaftConfig, storage: LogStorage) {
    this.raft = new Raft(config, storage);
    this.prevHardState = this.hardState();
    this.prevSoftState = this.softState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now if this node may (tests and operators). */
  campaign(): void {
    this.raft.hup(false);
  }

  step(message: Message): void {
    assert(message.to === this.raft.id, `message for ${message.to} stepped into ${this.raft.id}`);
    this.raft.step(message);
  }

  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose([data]);
  }

  /** Appends many commands as consecutive entries: one replication round for all. */
  proposeBatch(datas: readonly Uint8Array[]): ProposeResult {
    assert(datas.length > 0, 'empty proposal batch');
    return this.raft.propose(datas);
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(change);
  }

  readIndex(id: string, mode: ReadMode = 'readIndex'): void {
    this.raft.readIndex(id, mode);
  }

  transferLeadership(to: NodeId): ProposeResult | undefined {
    return this.raft.transferLeadership(to);
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to);
  }

  /** The driver compacted storage up to a snapshot at this index. */
  compacted(snapshotIndex: number): void {
    this.raft.compactConfLog(snapshotIndex);
  }

  /** The membership in force at an index, for the metadata of a snapshot taken there. */
  confAt(index: number): ConfState {
    return this.raft.confAt(index);
  }

  hasReady(): boolean {
    const r = this.raft;
    const log = r.log;
    if (!sameSoftState(this.softState(), this.prevSoftState)) return true;
    if (!sameHardState(this.hardState(), this.prevHardState)) return true;
    if (log.unstable.snapshot || log.unstableEntries().length > 0) return true;
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0) return true;
    if (r.reads.hasAnswers() || r.reads.hasUnsentReads()) return true;
    return log.hasNextCommittedEntries();
  }

  ready(): Ready {
    assert(!this.readyOutstanding, 'ready() called again before advance()');
    const r = this.raft;
    r.flushReads();
    const hardState = this.hardState();
    const softState = this.softState();
    const entries = [...r.log.unstableEntries()];
    const snapshot = r.log.unstable.snapshot;
    const hardChanged = !sameHardState(hardState, this.prevHardState);
    // A new term or vote must be durable before anything said in it leaves, leader traffic included
    // (a single voter elects itself and sends in the same Ready).
    const termOrVoteChanged = hardState.term !== this.prevHardState.term || hardState.vote !== this.prevHardState.vote;
    const early = termOrVoteChanged ? [] : r.msgs;
    const late = termOrVoteChanged ? [...r.msgs, ...r.msgsAfterPersist] : r.msgsAfterPersist;
    const { readStates, droppedReads } = r.reads.takeAnswers();
    const rd: Ready = {
      softState: sameSoftState(softState, this.prevSoftState) ? undefined : softState,
      hardState: hardChanged ? hardState : undefined,
      snapshot,
      entries,
      committedEntries: r.log.nextCommittedEntries(),
      messages: early,
      messagesAfterPersist: late,
      readStates,
      droppedReads,
      mustSync: entries.length > 0 || snapshot !== undefined || termOrVoteChanged,
    };
    r.msgs = [];
    r.msgsAfterPersist = [];
    this.prevSoftState = softState;
    if (rd.hardState) this.prevHardState = rd.hardState;
    this.readyOutstanding = true;
    return rd;
  }

  /** The driver finished the Ready: persisted, sent and applied it. */
  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without ready()');
    this.readyOutstanding = false;
    const r = this.raft;
    if (rd.snapshot) r.log.stableSnapTo(rd.snapshot.index);
    // Entries replaced while the Ready was persisted stay unstable; the prefix still in the log is durable.
    let durable: number | undefined;
    for (let i = rd.entries.length - 1; i >= 0 && durable === undefined; i--) {
      const entry = rd.entries[i] as Entry;
      if (r.log.term(entry.index) === entry.term) durable = i;
    }
    if (durable !== undefined) {
      const last = rd.entries[durable] as Entry;
      r.log.stableTo(last.index, last.term);
      // The leader counts its own copy only once it is durable.
      r.selfPersisted(last.index);
    }
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) {
      r.log.appliedTo(lastCommitted.index);
      r.committedApplied(rd.committedEntries);
    }
  }

  /** What the driver asks several times per event; status() builds the per-peer rows too. */
  summary(): StatusSummary {
    const r = this.raft;
    const leaderCommit = r.role === 'leader' ? r.log.committed : r.leaderCommit;
    return { term: r.term, lead: r.lead, role: r.role, commit: r.log.committed, lastIndex: r.log.lastIndex(), leadTransferee: r.leadTransferee, leaderCommit };
  }

  status(): Status {
    const r = this.raft;
    const peers: PeerStatus[] = [];
    if (r.role === 'leader') {
      for (const [id, pr] of r.progress) {
        peers.push({
          id,
          voter: !pr.isLearner,
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          lastContactTicks: id === r.id ? 0 : pr.lastContactTicks,
          inflightAppends: pr.inflights.count,
        });
      }
      peers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      conf: r.conf(),
      leadTransferee: r.leadTransferee,
      leaseValid: r.leaseValid(),
      electionsStarted: r.electionsStarted,
      peers,
    };
  }

  private hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  private softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}
