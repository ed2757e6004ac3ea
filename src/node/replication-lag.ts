// Replication lag as the leader sees it, for /metrics, /v1/cluster and
// ledgerctl: per follower, how many entries it is behind the commit index,
// since when it has been behind, and how long one append takes to be
// acknowledged (raft_append_entries_seconds).
//
// It only observes: the messages the driver sends, the acknowledgements it
// receives, and the core's status. It must not step the core or send
// anything.

import type { RawNode } from '../raft/raw-node.js';
import type { Message, NodeId } from '../raft/types.js';
import type { PeerLag } from './metrics.js';
import { MAX_TIMED_APPENDS, type Clock } from './node-options.js';

export interface ReplicationLagOptions {
  readonly nodeId: NodeId;
  readonly raw: Pick<RawNode, 'status'>;
  readonly clock: Clock;
  readonly tickMs: number;
  /** Observes one append's round trip (raft_append_entries_seconds). */
  readonly appendAcknowledged: (seconds: number) => void;
}

export class ReplicationLag {
  /** Per peer: last index of each append sent -> monotonic time it left. */
  private readonly appendSentAt = new Map<NodeId, Map<number, number>>();
  /** Per peer: since when (monotonic) it has been behind the commit index. */
  private readonly behindSinceMs = new Map<NodeId, number>();

  constructor(private readonly options: ReplicationLagOptions) {}

  /** Notes when appends leave, to time their acknowledgements. */
  sent(messages: readonly Message[]): void {
    const now = this.options.clock.monotonicMs();
    for (const m of messages) {
      const last = m.entries[m.entries.length - 1];
      if (m.type !== 'app' || last === undefined) continue;
      let sent = this.appendSentAt.get(m.to);
      if (sent === undefined) {
        sent = new Map();
        this.appendSentAt.set(m.to, sent);
      }
      if (sent.size < MAX_TIMED_APPENDS) sent.set(last.index, now);
    }
  }

  /** A follower acknowledged everything up to `index`. */
  acknowledged(peer: NodeId, index: number): void {
    const sent = this.appendSentAt.get(peer);
    if (!sent) return;
    const now = this.options.clock.monotonicMs();
    for (const [last, at] of sent) {
      if (last > index) continue;
      this.options.appendAcknowledged((now - at) / 1000);
      sent.delete(last);
    }
  }

  /** This node is no longer the leader: nothing it sent is timed any more. */
  leadershipLost(): void {
    this.appendSentAt.clear();
    this.behindSinceMs.clear();
  }

  /** On each timer tick: notes when each follower fell behind the commit index. */
  track(): void {
    const status = this.options.raw.status();
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

  /** Lag per follower; empty unless this node leads. */
  peers(): PeerLag[] {
    const status = this.options.raw.status();
    if (status.role !== 'leader') return [];
    const now = this.options.clock.monotonicMs();
    return status.peers
      .filter((peer) => peer.id !== this.options.nodeId)
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
}
