// The client's types, taken from the server's own zod schemas (compiled
// together, see ../tsconfig.json): what a method accepts is z.input of the
// schema the route validates with, what it answers is z.output of the schema
// the route's answer is described (and tested) with.

import type { z } from 'zod';
import type {
  accountSchema, itemSchema, reservationSchema, transferSchema,
} from '../../src/ledger/schemas.js';
import type * as answers from '../../src/http/response-schemas.js';

export type NewAccount = z.input<typeof accountSchema>;
export type NewTransfer = z.input<typeof transferSchema>;
export type NewItem = z.input<typeof itemSchema>;
export type NewReservation = z.input<typeof reservationSchema>;

export type AccountResults = z.output<typeof answers.accountResultsSchema>;
export type TransferResults = z.output<typeof answers.transferResultsSchema>;
export type ItemResults = z.output<typeof answers.itemResultsSchema>;
export type AdjustResults = z.output<typeof answers.adjustResultsSchema>;
export type ReservationResults = z.output<typeof answers.reservationResultsSchema>;
export type ConfirmResults = z.output<typeof answers.confirmResultsSchema>;
export type ReleaseResults = z.output<typeof answers.releaseResultsSchema>;
export type Account = z.output<typeof answers.accountViewSchema>;
export type Accounts = z.output<typeof answers.accountsViewSchema>;
export type Transfer = z.output<typeof answers.transferViewSchema>;
export type TransferPage = z.output<typeof answers.transferPageSchema>;
export type Item = z.output<typeof answers.itemViewSchema>;
export type Reservation = z.output<typeof answers.reservationViewSchema>;
export type ClusterStatus = z.output<typeof answers.clusterStatusSchema>;
export type MemberAdded = z.output<typeof answers.memberAddedSchema>;
export type MemberRemoved = z.output<typeof answers.memberRemovedSchema>;
export type LeadershipMoved = z.output<typeof answers.leadershipMovedSchema>;
export type SnapshotTaken = z.output<typeof answers.snapshotTakenSchema>;
export type Health = z.output<typeof answers.healthSchema>;
export type Ready = z.output<typeof answers.readySchema>;
export type ErrorBody = z.output<typeof answers.errorBodySchema>;

export type ClusterNodes = z.output<typeof answers.clusterNodesSchema>;

/** One change of GET /v1/events (docs/api.md, "Change stream"): records are rendered as the reads render them. */
export type LedgerEvent = {
  /** The SSE id: `<index>` or `<index>.<n>` (the n-th change of that entry); pass it as lastEventId to resume after it. */
  readonly id: string;
  /** The log index of the entry that made the change. */
  readonly index: number;
} & (
  | { readonly kind: 'account_created'; readonly record: Account }
  | { readonly kind: 'transfer_created' | 'transfer_status_changed'; readonly record: Transfer }
  | { readonly kind: 'item_created'; readonly record: Item & { readonly created_at: number } }
  | { readonly kind: 'stock_adjusted'; readonly record: { readonly id: string; readonly sku: string; readonly delta: number; readonly created_at: number } }
  | { readonly kind: 'reservation_created' | 'reservation_status_changed'; readonly record: Reservation }
);

export interface EventsOptions {
  /** The first log index to deliver (default 0: everything); ignored when lastEventId is given. */
  readonly fromIndex?: number;
  /** Resume right after this event id (one the stream delivered earlier, on any node). */
  readonly lastEventId?: string;
  /** Aborting ends the iteration (the for-await loop simply finishes). */
  readonly signal?: AbortSignal;
  /** A connection silent this long is taken for dead and resumed elsewhere (default 40000; the node sends a keep-alive every 15 s). */
  readonly idleTimeoutMs?: number;
  /** Called each time a stream is opened: which URL, which node serves it, and where it resumes. */
  readonly onConnect?: (connection: { readonly url: string; readonly servedBy: string; readonly lastEventId: string | undefined }) => void;
}

/** ?consistency= and its companions (docs/api.md, Consistency). */
export interface ReadOptions {
  readonly consistency?: 'linearizable' | 'lease' | 'stale';
  /** Only with consistency 'stale': the node must prove its state is at most this old. */
  readonly maxStalenessMs?: number;
  /** Only with consistency 'stale': forward to the leader instead of answering 503 when the bound is not met. */
  readonly onStale?: 'error' | 'forward';
  /** How long the node may wait for min_index or the staleness bound (server default 1000). */
  readonly waitMs?: number;
  /** Read at least this index; the client also adds its session index (read-your-writes) unless told not to. */
  readonly minIndex?: number;
  /** false: do not carry the session index into this read. */
  readonly readYourWrites?: boolean;
}

/** What every answer says beside its body: the Raft headers. */
export interface Answered<T> {
  readonly value: T;
  /** X-Raft-Index: the committed entry of a write, or the applied index a read reflects. */
  readonly index: number;
  readonly term: number;
  /** X-Raft-Leader (empty when the node knew none). */
  readonly leader: string;
  readonly servedBy: string;
  readonly stalenessMs?: number;
  readonly lagEntries?: number;
  /** How many requests it took (1 = no retry). */
  readonly attempts: number;
}
