// The data the Raft core exchanges with its driver: log entries, hard state,
// snapshot metadata, membership, messages and the Ready batch. Plain data
// only: every value here can be persisted or sent as it is.

export type NodeId = string;

/** The absence of a node id (no vote, no leader). */
export const NONE: NodeId = '';

export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Application command (normal) or an encoded ConfChange (conf); empty for the leader's no-op. */
  readonly data: Uint8Array;
}

/** What must be durable before any message that depends on it leaves the node. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

/** The membership of the cluster: voters decide, learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  /** The last log index the snapshot covers. */
  readonly index: number;
  /** The term of that entry. */
  readonly term: number;
  /** The membership in effect at `index`. */
  readonly conf: ConfState;
}

/**
 * A snapshot: metadata and the opaque state-machine image. The core handles
 * only the metadata; the driver streams `data` to followers in chunks and
 * restores the state machine from it.
 */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export type ConfChangeType = 'addVoter' | 'addLearner' | 'removeNode';

/**
 * One membership change. `context` is opaque to the core; the node stores the
 * new member's URL there so that every replica learns it from the log.
 */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  readonly context: string;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export type MessageType =
  | 'preVote'
  | 'preVoteResp'
  | 'vote'
  | 'voteResp'
  | 'app'
  | 'appResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'snap'
  | 'snapResp'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp';

/**
 * One message between peers. A single shape keeps the transport simple; the
 * fields each type uses are documented on the type in docs/raft.md.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** app: index of the entry before `entries`; appResp: last index matched or the rejected index; votes: candidate's last index. */
  readonly index: number;
  /** app: term of the entry at `index`; votes: candidate's last term. */
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  /** Leader's commit index (app, heartbeat, snap). */
  readonly commit: number;
  /** appResp/voteResp/snapResp/readIndexResp: the request was refused. */
  readonly reject: boolean;
  /** appResp on reject: the follower's hint for the next probe (index and its term). */
  readonly rejectHint: number;
  readonly rejectHintTerm: number;
  /** snap: the snapshot being installed (metadata; the driver carries the data). */
  readonly snapshot?: SnapshotMeta;
  /** heartbeat/heartbeatResp: the read round this heartbeat confirms leadership for. */
  readonly readRound: number;
  /** readIndex/readIndexResp: request ids of the reads being served. */
  readonly readIds: readonly string[];
  /** vote/preVote from a leadership transfer: voters must not refuse it for lease reasons. */
  readonly force: boolean;
}

/** A message as the core writes it: the fields a type does not use take their zero values when it is sent. */
export type OutgoingMessage = Partial<Message> & Pick<Message, 'type' | 'to'>;

export interface ReadState {
  readonly id: string;
  /** The read may be served once the state machine has applied this index. */
  readonly index: number;
}

export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/**
 * The batch of work the driver does, strictly in this order:
 * 1. send `messages` (may overlap with step 2: leader replication only);
 * 2. persist `snapshot`, `entries` and `hardState` durably (one sync);
 * 3. send `messagesAfterPersist`;
 * 4. apply `committedEntries`, answer `readStates` once applied covers them;
 * 5. call `advance(ready)`.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  /** An incoming snapshot to install: the driver restores the state machine from the data it received with it. */
  readonly snapshot: SnapshotMeta | undefined;
  readonly entries: readonly Entry[];
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** Reads the core refused (not leader, leadership lost, transfer in progress); the driver answers them with an error. */
  readonly droppedReads: readonly string[];
  /** True when hardState term/vote or entries changed: the persist step must fsync. */
  readonly mustSync: boolean;
}

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
