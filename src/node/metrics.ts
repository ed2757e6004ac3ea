// The node's Prometheus metrics (prom-client). Gauges that mirror Raft state
// are read from the node at scrape time, so they are never stale; counters and
// histograms are pushed by the driver as things happen. Labels stay bounded:
// `peer` is a member id, `result` a result code from the ledger's catalogue,
// never a client-chosen id.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PeerSendStats } from './transport.js';

export interface PeerLag {
  readonly peer: string;
  readonly matchIndex: number;
  readonly lagEntries: number;
  readonly lagSeconds: number;
  readonly lastContactSeconds: number;
}

/** What the metrics read from the node at each scrape. */
export interface MetricsSource {
  term(): number;
  isLeader(): boolean;
  commitIndex(): number;
  appliedIndex(): number;
  lastLogIndex(): number;
  snapshotIndex(): number;
  /** On the leader: one row per other member; elsewhere empty. */
  peers(): readonly PeerLag[];
  /** What the peer transport sent to each peer so far. */
  peerLinks(): readonly PeerSendStats[];
  /** The ledger's background WAL checkpoints so far (undefined for an in-memory ledger). */
  walCheckpoints(): { readonly checkpoints: number; readonly failures: number } | undefined;
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Entries per batch: how well group commit and batched apply are working. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

export class NodeMetrics {
  readonly registry = new Registry();
  readonly leaderChanges: Counter;
  readonly elections: Counter;
  readonly proposalCommitSeconds: Histogram;
  readonly appendEntriesSeconds: Histogram;
  readonly walFsyncSeconds: Histogram;
  readonly applySeconds: Histogram;
  readonly walSyncEntries: Histogram;
  readonly applyBatchEntries: Histogram;
  readonly readStalenessSeconds: Histogram;
  readonly transfers: Counter<'result'>;
  readonly reservations: Counter<'result'>;
  readonly httpRequestSeconds: Histogram<'route' | 'method' | 'status'>;

  constructor(nodeId: string, source: MetricsSource) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('raft_term', 'Current Raft term of this node.', () => source.term());
    gauge('raft_is_leader', '1 if this node is the leader, else 0.', () => (source.isLeader() ? 1 : 0));
    gauge('raft_commit_index', 'Highest log index known committed.', () => source.commitIndex());
    gauge('raft_applied_index', 'Highest log index applied to the ledger.', () => source.appliedIndex());
    gauge('raft_last_log_index', 'Last index in the local log.', () => source.lastLogIndex());
    gauge('raft_snapshot_index', 'Index of the latest snapshot.', () => source.snapshotIndex());
    gauge('raft_follower_apply_lag_entries', 'Entries committed but not yet applied on this node.', () =>
      Math.max(0, source.commitIndex() - source.appliedIndex()),
    );
    // Series with one sample per peer, read from `rows` at scrape time: a gauge, or a counter whose row holds the running total.
    const perPeer = <Row extends { readonly peer: string }>(
      kind: 'gauge' | 'counter', rows: () => readonly Row[], name: string, help: string, read: (row: Row) => number,
    ): void => {
      const settings = { name, help, labelNames: ['peer'] as const, registers };
      if (kind === 'gauge') {
        new Gauge({ ...settings, collect() { this.reset(); for (const row of rows()) this.set({ peer: row.peer }, read(row)); } });
      } else {
        new Counter({ ...settings, collect() { this.reset(); for (const row of rows()) this.inc({ peer: row.peer }, read(row)); } });
      }
    };
    const lagGauge = (name: string, help: string, read: (lag: PeerLag) => number): void => perPeer('gauge', () => source.peers(), name, help, read);
    lagGauge('raft_follower_match_index', 'On the leader: highest index known replicated on the peer.', (l) => l.matchIndex);
    lagGauge('raft_replication_lag_entries', "On the leader: entries the peer is behind the leader's commit index.", (l) => l.lagEntries);
    lagGauge('raft_replication_lag_seconds', "On the leader: how long the peer has been behind the leader's commit index.", (l) => l.lagSeconds);
    lagGauge('raft_peer_last_contact_seconds', 'On the leader: seconds since the peer last answered.', (l) => l.lastContactSeconds);

    const links = (): readonly PeerSendStats[] => source.peerLinks();
    perPeer('counter', links, 'raft_peer_requests_sent_total', 'Requests (message batches) sent to the peer.', (l) => l.sentRequests);
    perPeer('counter', links, 'raft_peer_messages_sent_total', 'Raft messages delivered to the peer.', (l) => l.sentMessages);
    perPeer('counter', links, 'raft_peer_messages_dropped_total', 'Raft messages to the peer dropped (full queue, failed request); the core resends.', (l) => l.droppedMessages);
    perPeer('counter', links, 'raft_peer_requests_failed_total', 'Requests to the peer that failed or timed out.', (l) => l.failedRequests);
    perPeer('gauge', links, 'raft_peer_queued_messages', 'Raft messages waiting to be sent to the peer.', (l) => l.queuedMessages);

    const cumulative = (name: string, help: string, read: () => number | undefined): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          const value = read();
          this.reset();
          if (value !== undefined) this.inc(value);
        },
      });
    };
    cumulative('ledger_wal_checkpoints_total', "Background checkpoints of the ledger's SQLite WAL.", () => source.walCheckpoints()?.checkpoints);
    cumulative('ledger_wal_checkpoint_failures_total', 'Background WAL checkpoints that failed (the WAL then grows until one succeeds).', () =>
      source.walCheckpoints()?.failures,
    );

    this.leaderChanges = new Counter({ name: 'raft_leader_changes_total', help: 'Times this node saw the leader change.', registers });
    this.elections = new Counter({ name: 'raft_elections_total', help: 'Elections this node started as a candidate.', registers });
    const histogram = (name: string, help: string): Histogram =>
      new Histogram({ name, help, buckets: LATENCY_BUCKETS, registers });
    this.proposalCommitSeconds = histogram('raft_proposal_commit_seconds', 'From proposing a write to applying it on the leader.');
    this.appendEntriesSeconds = histogram('raft_append_entries_seconds', 'From sending an append to a follower to its acknowledgement.');
    this.walFsyncSeconds = histogram('raft_wal_fsync_seconds', 'One group-commit fdatasync of the write-ahead log.');
    this.applySeconds = histogram('ledger_apply_seconds', 'Applying one batch of committed entries to the SQLite ledger (one transaction).');
    const batchHistogram = (name: string, help: string): Histogram => new Histogram({ name, help, buckets: BATCH_BUCKETS, registers });
    this.walSyncEntries = batchHistogram('raft_wal_sync_entries', 'Log entries made durable by one fdatasync (group commit).');
    this.applyBatchEntries = batchHistogram('ledger_apply_batch_entries', 'Log entries applied in one SQLite transaction.');
    this.readStalenessSeconds = histogram('ledger_read_staleness_seconds', 'Proven staleness bound of the stale reads served.');
    this.transfers = new Counter({ name: 'ledger_transfers_total', help: 'Transfers applied, by result.', labelNames: ['result'], registers });
    this.reservations = new Counter({
      name: 'ledger_reservations_total',
      help: 'Reservation operations applied, by result.',
      labelNames: ['result'],
      registers,
    });
    this.httpRequestSeconds = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by route template, method and status.',
      labelNames: ['route', 'method', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
  }
}
