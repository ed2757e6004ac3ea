// Cluster operations: membership changes (a node joins as a learner and is
// promoted once caught up; a member is removed), leadership transfer, the
// peer URLs this node uses, and the cluster status served at /v1/cluster.
//
// A peer URL comes from this node's own --peers or --join first; a
// membership entry that adds a node carries the URL the proposer used, which
// fills in only what this node does not know yet.
//
// It must not touch storage, the ledger or the Ready loop: it proposes to the
// core, asks the owner to run the loop (`kick`), waits through the read
// path's applied-index waiters, and is told of applied membership entries.

import { decodeConfChange } from '../raft/membership.js';
import type { RawNode } from '../raft/raw-node.js';
import { NONE, type ConfChange, type Entry, type NodeId } from '../raft/types.js';
import { sleep, type DriverStorage, type Scheduler } from './driver-io.js';
import { LEADERSHIP_MOVING_RETRY_AFTER_MS, LOG_SCAN_BATCH_BYTES, PROMOTION_CATCH_UP_ENTRIES, type Clock, type NodeLogger } from './node-options.js';
import type { ClusterStatus, NodeError, Outcome } from './service.js';

export interface ClusterOpsOptions {
  readonly nodeId: NodeId;
  readonly initialPeers: ReadonlyMap<NodeId, string>;
  readonly raw: Pick<RawNode, 'proposeConfChange' | 'transferLeadership' | 'status' | 'summary'>;
  readonly storage: Pick<DriverStorage, 'firstIndex' | 'lastIndex' | 'entries' | 'snapshotMeta' | 'term'>;
  readonly appliedIndex: () => number;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly tickMs: number;
  readonly logger: NodeLogger;
  /** Tells the transport where the peers are now. */
  readonly peersChanged: (urls: ReadonlyMap<NodeId, string>) => void;
  readonly kick: () => void;
  readonly waitApplied: (index: number, timeoutMs: number) => Promise<boolean>;
  /** Why a change cannot be proposed here (not leader, stopping, storage failed), if it cannot. */
  readonly refusal: () => NodeError | undefined;
  readonly notLeader: () => NodeError;
}

export class ClusterOps {
  private readonly urls = new Map<NodeId, string>();
  /** Learners to promote to voters once they have caught up. */
  private readonly promotions = new Set<NodeId>();

  constructor(private readonly options: ClusterOpsOptions) {
    for (const [id, url] of options.initialPeers) this.urls.set(id, url);
    this.learnUrlsFromLog();
  }

  peerUrls(): ReadonlyMap<NodeId, string> {
    return this.urls;
  }

  peerUrl(id: NodeId): string | undefined {
    return this.urls.get(id);
  }

  async addMember(id: NodeId, url: string, voter: boolean, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    this.urls.set(id, url);
    this.options.peersChanged(this.urls);
    const outcome = await this.proposeConf({ type: 'addLearner', nodeId: id, context: url }, timeoutMs);
    if (outcome.ok && voter) this.promotions.add(id);
    return outcome;
  }

  removeMember(id: NodeId, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    this.promotions.delete(id);
    return this.proposeConf({ type: 'removeNode', nodeId: id, context: '' }, timeoutMs);
  }

  /** A membership entry was applied. */
  confApplied(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    if (this.learnUrl(change)) this.options.peersChanged(this.urls);
    if (change.type === 'removeNode') this.promotions.delete(change.nodeId);
    this.options.logger.info({ change }, 'membership change applied');
  }

  /** On each timer tick, on the leader: promotes learners that caught up. */
  promoteCaughtUpLearners(): void {
    if (this.promotions.size === 0) return;
    const status = this.options.raw.status();
    if (status.role !== 'leader') return;
    for (const id of this.promotions) {
      const peer = status.peers.find((p) => p.id === id);
      if (!peer || peer.voter) {
        if (peer?.voter) this.promotions.delete(id);
        continue;
      }
      if (status.lastIndex - peer.match > PROMOTION_CATCH_UP_ENTRIES) continue;
      const result = this.options.raw.proposeConfChange({ type: 'addVoter', nodeId: id, context: this.urls.get(id) ?? '' });
      if (result.ok) this.options.logger.info({ id, index: result.index }, 'promoting caught-up learner');
    }
  }

  async transferLeadership(to: NodeId | undefined, timeoutMs: number): Promise<Outcome<{ readonly leader: NodeId }>> {
    const raw = this.options.raw;
    if (raw.summary().role !== 'leader') return { ok: false, error: this.options.notLeader() };
    const target = to ?? this.bestTransferTarget();
    if (target === undefined) return { ok: false, error: { code: 'cluster_change_refused', message: 'no other voter to hand leadership to' } };
    const refused = raw.transferLeadership(target);
    if (refused && !refused.ok) return { ok: false, error: { code: 'cluster_change_refused', message: refused.detail } };
    this.options.kick();
    const clock = this.options.clock;
    const deadline = clock.monotonicMs() + timeoutMs;
    while (clock.monotonicMs() < deadline) {
      const lead = raw.summary().lead;
      if (lead !== this.options.nodeId && lead !== NONE) return { ok: true, value: { leader: lead } };
      await sleep(this.options.scheduler, this.options.tickMs);
    }
    return { ok: false, error: { code: 'cluster_change_refused', message: `leadership did not move to ${target} in time` } };
  }

  /** The membership and progress part of the status; the node adds what it tracks itself. */
  status(): Omit<ClusterStatus, 'leaderChanges'> {
    const status = this.options.raw.status();
    const members = [...status.conf.voters.map((id) => ({ id, voter: true })), ...status.conf.learners.map((id) => ({ id, voter: false }))];
    return {
      id: this.options.nodeId,
      role: status.role,
      term: status.term,
      leader: status.lead,
      commitIndex: status.commit,
      appliedIndex: this.options.appliedIndex(),
      lastLogIndex: status.lastIndex,
      snapshotIndex: this.options.storage.snapshotMeta().index,
      members: members.map(({ id, voter }) => {
        const peer = status.peers.find((p) => p.id === id);
        return {
          id,
          url: this.urls.get(id),
          voter,
          matchIndex: peer?.match,
          lagEntries: peer === undefined ? undefined : Math.max(0, status.commit - peer.match),
          lastContactMs: peer === undefined ? undefined : peer.lastContactTicks * this.options.tickMs,
          lagMs: undefined,
        };
      }),
    };
  }

  private async proposeConf(change: ConfChange, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    const refused = this.options.refusal();
    if (refused) return { ok: false, error: refused };
    const result = this.options.raw.proposeConfChange(change);
    if (!result.ok) {
      if (result.error === 'notLeader') return { ok: false, error: this.options.notLeader() };
      return { ok: false, error: { code: 'cluster_change_refused', message: result.detail } };
    }
    this.options.kick();
    const applied = await this.options.waitApplied(result.index, timeoutMs);
    if (!applied) return { ok: false, error: { code: 'commit_timeout', index: result.index } };
    // Applied at our index is not enough: a new leader may have put its own entry there. Same index
    // and term is the same entry (log matching); a term compacted away leaves the outcome unknown.
    const term = this.options.storage.term(result.index);
    if (term === result.term) return { ok: true, value: { index: result.index } };
    if (term === undefined) return { ok: false, error: { code: 'commit_timeout', index: result.index } };
    return { ok: false, error: { code: 'no_leader', retryAfterMs: LEADERSHIP_MOVING_RETRY_AFTER_MS } };
  }

  private bestTransferTarget(): NodeId | undefined {
    let best: { id: NodeId; match: number } | undefined;
    for (const peer of this.options.raw.status().peers) {
      if (peer.id === this.options.nodeId || !peer.voter) continue;
      if (!best || peer.match > best.match) best = { id: peer.id, match: peer.match };
    }
    return best?.id;
  }

  /** Returns whether it learned a URL this node did not know. */
  private learnUrl(change: ConfChange): boolean {
    if (change.type === 'removeNode' || change.context === '' || this.urls.has(change.nodeId)) return false;
    this.urls.set(change.nodeId, change.context);
    return true;
  }

  /** Membership URLs from conf entries still in the log (entries below the snapshot came with --peers or --join). */
  private learnUrlsFromLog(): void {
    const storage = this.options.storage;
    const last = storage.lastIndex();
    for (let lo = storage.firstIndex(); lo <= last; ) {
      const batch = storage.entries(lo, last + 1, LOG_SCAN_BATCH_BYTES);
      for (const entry of batch) {
        if (entry.type === 'conf') this.learnUrl(decodeConfChange(entry.data));
      }
      lo = (batch[batch.length - 1] as Entry).index + 1;
    }
  }
}
