// What the HTTP layer asks of a node: submit a ledger command through Raft,
// read the ledger at a chosen consistency, report cluster state, and run
// operator actions. The node (src/node/node.ts) implements it; the HTTP layer
// (src/http/) depends only on this file and the ledger's schemas and queries.
// Operating errors are typed outcomes, never exceptions.

import type { Command, CommandResult, LedgerQueries } from '../ledger/index.js';
import type { NodeId, Role } from '../raft/types.js';

export type ReadLevel = 'linearizable' | 'lease' | 'stale';

export interface ReadOptions {
  readonly level: ReadLevel;
  /** stale only: answer only if the state is provably no older than this. */
  readonly maxStalenessMs?: number;
  /** Read-your-writes: wait until this index is applied. */
  readonly minIndex?: number;
  /** How long to wait for min_index, for the staleness bound, or for a ReadIndex round. */
  readonly waitMs: number;
}

/** Why a request could not be served here; the HTTP layer maps each to a status. */
export type NodeError =
  /** This node is not the leader; the caller forwards to leaderUrl (its own URL for that peer) or redirects. */
  | { readonly code: 'not_leader'; readonly leaderId: NodeId; readonly leaderUrl: string | undefined }
  /** No leader is known (election under way, no quorum). */
  | { readonly code: 'no_leader'; readonly retryAfterMs: number }
  /** The entry was proposed but its outcome is unknown: retrying with the same ids is safe. */
  | { readonly code: 'commit_timeout'; readonly index: number | undefined }
  /** Too much is in flight; retry later. */
  | { readonly code: 'overloaded'; readonly retryAfterMs: number }
  /** stale reads: the bound could not be met within wait_ms. */
  | { readonly code: 'staleness_bound_exceeded'; readonly retryAfterMs: number; readonly provenStalenessMs: number | undefined }
  /** min_index not applied within wait_ms. */
  | { readonly code: 'index_not_reached'; readonly minIndex: number; readonly appliedIndex: number; readonly retryAfterMs: number }
  /** A linearizable or lease read could not confirm leadership in time. */
  | { readonly code: 'read_timeout'; readonly retryAfterMs: number }
  /** The disk failed (full, fsync error): this node takes no writes. */
  | { readonly code: 'storage_failed'; readonly message: string }
  /** The node is shutting down. */
  | { readonly code: 'shutting_down' }
  /** An operator request that cannot be done now or at all (message says why). */
  | { readonly code: 'cluster_change_refused'; readonly message: string };

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: NodeError };

export interface WriteResult {
  /** The log index of the committed entry. */
  readonly index: number;
  readonly result: CommandResult;
}

export interface ReadResult<T> {
  readonly value: T;
  /** The applied index the answer reflects. */
  readonly appliedIndex: number;
  /** stale reads: a proven upper bound on how old the state is (absent when nothing was proven). */
  readonly stalenessMs?: number;
  /** stale reads: how far the served state is behind the leader's commit index as last heard. */
  readonly lagEntries?: number;
}

/** The values of the Raft headers on every response. */
export interface RaftHeaderValues {
  readonly term: number;
  readonly appliedIndex: number;
  readonly leaderId: NodeId;
  readonly servedBy: NodeId;
}

export interface MemberStatus {
  readonly id: NodeId;
  readonly url: string | undefined;
  readonly voter: boolean;
  /** Known on the leader only. */
  readonly matchIndex: number | undefined;
  readonly lagEntries: number | undefined;
  readonly lastContactMs: number | undefined;
  /** Known on the leader only: how long the member has been behind the commit index (0 when it is not). */
  readonly lagMs: number | undefined;
}

/** A leader this node came to know: who, in which term, and when by this node's wall clock. */
export interface LeaderChange {
  readonly leader: NodeId;
  readonly term: number;
  readonly atWallMs: number;
}

export interface ClusterStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastLogIndex: number;
  readonly snapshotIndex: number;
  readonly members: readonly MemberStatus[];
  /** The last leaders this node saw since it started, oldest first (a bounded number: 20). */
  readonly leaderChanges: readonly LeaderChange[];
}

export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

export interface LedgerService {
  readonly nodeId: NodeId;
  /** Proposes one command, waits for commit and apply here; a follower answers not_leader. */
  write(command: Command, timeoutMs: number): Promise<Outcome<WriteResult>>;
  /** Runs `query` against the local state once the requested consistency holds. */
  read<T>(options: ReadOptions, query: (queries: LedgerQueries) => T): Promise<Outcome<ReadResult<T>>>;
  raftHeaders(): RaftHeaderValues;
  clusterStatus(): ClusterStatus;
  readiness(): Readiness;
  /** This node's URL for a peer (from --peers or the membership log), for forwarding. */
  peerUrl(id: NodeId): string | undefined;
  /** Adds a node as a learner; with voter, promotes it once it has caught up. */
  addMember(id: NodeId, url: string, voter: boolean, timeoutMs: number): Promise<Outcome<{ readonly index: number }>>;
  removeMember(id: NodeId, timeoutMs: number): Promise<Outcome<{ readonly index: number }>>;
  /** Hands leadership to `to` (or the most caught-up voter); resolves once it moved. */
  transferLeadership(to: NodeId | undefined, timeoutMs: number): Promise<Outcome<{ readonly leader: NodeId }>>;
  /** Takes a snapshot at the applied index now. */
  takeSnapshot(): Promise<Outcome<{ readonly index: number }>>;
}
