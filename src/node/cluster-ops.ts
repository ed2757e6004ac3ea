// Cluster operations: membership changes (a node joins as a learner and is
// promoted once caught up; a member is removed), leadership transfer, the
// peer URLs this node uses, and the cluster status served at /v1/cluster.
//
// A peer URL comes from this node's own --peers or --join first; a
// membership entry that adds a node carries the URL the proposer used, which
// fills in only what this node does not know yet.
//
// A node added as a voter joins as a learner whose entry says "promote once
// caught up" (the context `{"url", "promote": true}`; a learner meant to stay
// one keeps the bare URL). Every node reads that intent from the log, so
// whichever node leads when the learner catches up promotes it: kept only on
// the node that took the request, the intent was lost when leadership moved
// first, and the cluster kept a learner where it was promised a voter
// (one voter down then stopped it; jepsen seed 1, docs/jepsen.md Results).
// Entries below this node's snapshot are not read again: a node restarted
// from a snapshot that covers an addition it had not yet promoted does not
// promote it.
//
// It must not touch storage, the ledger or the Ready loop: it proposes to the
// core, asks the owner to run the loop (`kick`), waits through the read
// path's applied-index waiters, and is told of applied membership entries.

import { z } from 'zod';
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

/** The context of an addLearner entry for a node that is to become a voter. */
const PromoteContext = z.object({ url: z.string().min(1), promote: z.literal(true) }).strict();

/** The context an addLearner entry carries: the URL, and the promotion intent when the node is to become a voter. */
export function learnerContext(url: string, promote: boolean): string {
  return promote ? JSON.stringify(PromoteContext.parse({ url, promote })) : url;
}

/** What a membership entry's context says (a URL never starts with "{"; a bare one is the format of older logs too). */
export function decodeMemberContext(context: string): { readonly url: string; readonly promote: boolean } {
  if (!context.startsWith('{')) return { url: context, promote: false };
  return PromoteContext.parse(JSON.parse(context));
}

export class ClusterOps {
  private readonly urls = new Map<NodeId, string>();
  /** Learners to promote to voters once they have caught up, as the membership entries in the log say. */
  private readonly promotions = new Set<NodeId>();

  constructor(private readonly options: ClusterOpsOptions) {
    for (const [id, url] of options.initialPeers) this.urls.set(id, url);
    this.learnFromLog();
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
    return this.proposeConf({ type: 'addLearner', nodeId: id, context: learnerContext(url, voter) }, timeoutMs);
  }

  removeMember(id: NodeId, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    return this.proposeConf({ type: 'removeNode', nodeId: id, context: '' }, timeoutMs);
  }

  /** A membership entry was applied. */
  confApplied(entry: Entry): void {
    const change = decodeConfChange(entry.data);
    if (this.learnUrl(change)) this.options.peersChanged(this.urls);
    this.trackPromotion(change);
    this.options.logger.info({ change }, 'membership change applied');
  }

  /** The promotion intent after `change`: set by an addLearner that asks for it, ended by any other change of that node. */
  private trackPromotion(change: ConfChange): void {
    if (change.type === 'addLearner' && decodeMemberContext(change.context).promote) this.promotions.add(change.nodeId);
    else this.promotions.delete(change.nodeId);
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
      const summary = raw.summary();
      if (summary.lead !== this.options.nodeId && summary.lead !== NONE) return { ok: true, value: { leader: summary.lead } };
      if (summary.role === 'leader' && summary.leadTransferee === NONE) {
        // The core abandons a transfer its target did not finish within an
        // election timeout (§3.10: a leader must not stay unavailable for
        // writes longer). A target slow to catch up (just restarted, a
        // loaded machine) is given another round while the request has time.
        const again = raw.transferLeadership(target);
        if (again && !again.ok) return { ok: false, error: { code: 'cluster_change_refused', message: again.detail } };
        this.options.kick();
      }
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
    const startedMs = this.options.clock.monotonicMs();
    let result = this.options.raw.proposeConfChange(change);
    if (!result.ok && result.error === 'confChangePending') {
      // Transient: a leader elected moments ago commits an entry of its own
      // term first (its empty entry, within a round trip), or an earlier
      // change is still committing. Both are settled once everything in the
      // log now is applied here, so wait for that (within the request's
      // time) and ask once more instead of refusing a valid request.
      const settled = await this.options.waitApplied(this.options.raw.summary().lastIndex, timeoutMs);
      const again = this.options.refusal();
      if (again) return { ok: false, error: again };
      if (settled) result = this.options.raw.proposeConfChange(change);
    }
    if (!result.ok) {
      if (result.error === 'notLeader') return { ok: false, error: this.options.notLeader() };
      return { ok: false, error: { code: 'cluster_change_refused', message: result.detail } };
    }
    this.options.kick();
    const applied = await this.options.waitApplied(result.index, Math.max(0, timeoutMs - (this.options.clock.monotonicMs() - startedMs)));
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
    this.urls.set(change.nodeId, decodeMemberContext(change.context).url);
    return true;
  }

  /**
   * Membership URLs and promotion intents from conf entries still in the log
   * (entries below the snapshot came with --peers or --join). An entry not
   * yet committed may be replaced; its intent then names a node the
   * configuration does not hold, which promotion skips.
   */
  private learnFromLog(): void {
    const storage = this.options.storage;
    const last = storage.lastIndex();
    for (let lo = storage.firstIndex(); lo <= last; ) {
      const batch = storage.entries(lo, last + 1, LOG_SCAN_BATCH_BYTES);
      for (const entry of batch) {
        if (entry.type !== 'conf') continue;
        const change = decodeConfChange(entry.data);
        this.learnUrl(change);
        this.trackPromotion(change);
      }
      lo = (batch[batch.length - 1] as Entry).index + 1;
    }
  }
}
