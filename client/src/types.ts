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
