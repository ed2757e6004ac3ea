// The bodies the API answers with, as zod schemas: the OpenAPI document
// (openapi.ts) describes responses with them, the route tests parse real
// answers with them (so the description cannot drift from what is sent), and
// the client (client/) takes its response types from them. Amounts are decimal
// digit strings, times milliseconds of entry time, as docs/api.md says.

import { z } from 'zod';
// Imports stay within zod-only modules: the client (client/) compiles this file.
import { resultCodes } from '../ledger/codes.js';
import { idSchema } from '../ledger/schemas.js';
import { errorCatalogue, type ErrorCode } from './errors.js';

const decimalString = z.string().regex(/^(0|-?[1-9][0-9]*)$/).meta({ description: 'an exact integer in minor units, as a decimal digit string' });
const index = z.number().int().min(0).meta({ description: 'a Raft log index' });
const entryTimeMs = z.number().int().meta({ description: 'milliseconds since the epoch, from the log entry (leader time)' });
const metadata = z.record(z.string(), z.unknown()).meta({ description: 'the metadata object given at creation' });
const resultCode = z.enum(resultCodes);

/** One result per item of a write, in the order sent; refusals are results, not statuses. */
function results<Key extends 'id' | 'sku', Done extends string>(key: Key, done: readonly [Done, ...Done[]], withSku = false) {
  const keyShape = { [key]: idSchema } as { [K in Key]: typeof idSchema };
  return z.union([
    z.object({ ...keyShape, status: z.enum([...done, 'exists'] as [Done | 'exists', ...(Done | 'exists')[]]) }),
    z.object({ ...keyShape, status: z.literal('error'), code: resultCode, ...(withSku ? { sku: idSchema.optional() } : {}) }),
  ]);
}

const writeResponse = <Result extends z.ZodType>(result: Result, id: string) =>
  z.object({ results: z.array(result), index: index.meta({ description: 'the index of the committed entry that carried the write' }) }).meta({ id });

export const accountResultsSchema = writeResponse(results('id', ['created']), 'AccountResults');
export const transferResultsSchema = writeResponse(results('id', ['created']), 'TransferResults');
export const itemResultsSchema = writeResponse(results('sku', ['created']), 'ItemResults');
export const adjustResultsSchema = writeResponse(results('id', ['created']), 'AdjustResults');
export const reservationResultsSchema = writeResponse(results('id', ['created'], true), 'ReservationResults');
export const confirmResultsSchema = writeResponse(results('id', ['confirmed']), 'ConfirmResults');
export const releaseResultsSchema = writeResponse(results('id', ['released']), 'ReleaseResults');

export const accountViewSchema = z
  .object({
    id: idSchema,
    ledger: z.string(),
    code: z.number().int(),
    flags: z.object({ debits_must_not_exceed_credits: z.boolean(), credits_must_not_exceed_debits: z.boolean() }),
    debits_pending: decimalString,
    debits_posted: decimalString,
    credits_pending: decimalString,
    credits_posted: decimalString,
    balance: decimalString.meta({ description: 'credits_posted - debits_posted' }),
    available: decimalString.meta({ description: 'balance minus pending debits' }),
    metadata: metadata.optional(),
    created_at: entryTimeMs,
  })
  .meta({ id: 'Account' });

export const accountsViewSchema = z.object({ accounts: z.array(z.union([accountViewSchema, z.null()])) }).meta({ id: 'Accounts' });

export const transferViewSchema = z
  .object({
    seq: z.number().int().min(1).meta({ description: 'commit order of the transfer (pass as after= to page)' }),
    id: idSchema,
    debit_account_id: idSchema,
    credit_account_id: idSchema,
    amount: decimalString,
    ledger: z.string(),
    code: z.number().int(),
    pending: z.boolean(),
    post_pending_id: idSchema.optional(),
    void_pending_id: idSchema.optional(),
    expires_at: entryTimeMs.optional(),
    status: z.enum(['posted', 'pending', 'voided', 'expired']),
    metadata: metadata.optional(),
    created_at: entryTimeMs,
    index,
  })
  .meta({ id: 'Transfer' });

export const transferPageSchema = z
  .object({ transfers: z.array(transferViewSchema), next_after: z.number().int().nullable() })
  .meta({ id: 'TransferPage' });

export const itemViewSchema = z
  .object({ sku: idSchema, on_hand: z.number().int(), reserved: z.number().int(), available: z.number().int(), metadata: metadata.optional() })
  .meta({ id: 'Item' });

export const reservationViewSchema = z
  .object({
    id: idSchema,
    status: z.enum(['held', 'confirmed', 'released', 'expired']),
    lines: z.array(z.object({ sku: idSchema, qty: z.number().int() })),
    expires_at: entryTimeMs,
  })
  .meta({ id: 'Reservation' });

const memberSchema = z.object({
  id: idSchema,
  url: z.string().nullable(),
  voter: z.boolean(),
  match_index: index.nullable(),
  lag_entries: z.number().int().nullable(),
  last_contact_ms: z.number().nullable(),
  /** Extension: how long the member has been behind the leader's commit index (0 when it is not); known on the leader. */
  lag_ms: z.number().int().nullable(),
});

export const clusterStatusSchema = z
  .object({
    id: idSchema,
    role: z.enum(['follower', 'pre_candidate', 'candidate', 'leader']),
    term: z.number().int(),
    leader: idSchema.nullable(),
    commit_index: index,
    applied_index: index,
    last_log_index: index,
    snapshot_index: index,
    members: z.array(memberSchema),
    /** Extension: the last leaders this node saw since it started (at most 20, oldest first); at_ms is this node's wall clock. */
    leader_changes: z.array(z.object({ leader: idSchema, term: z.number().int(), at_ms: z.number().int() })),
  })
  .meta({ id: 'ClusterStatus' });

/** GET /v1/cluster/nodes: each member's own view, asked by the node that answers (null status where the member did not answer). */
export const clusterNodesSchema = z
  .object({
    nodes: z.array(z.object({
      id: idSchema,
      url: z.string().nullable(),
      status: clusterStatusSchema.nullable(),
      error: z.object({ code: z.string(), message: z.string() }).nullable(),
    })),
  })
  .meta({ id: 'ClusterNodes' });

export const memberAddedSchema = z.object({ id: idSchema, url: z.string(), voter: z.boolean(), index }).meta({ id: 'MemberAdded' });
export const memberRemovedSchema = z.object({ id: idSchema, index }).meta({ id: 'MemberRemoved' });
export const leadershipMovedSchema = z.object({ leader: idSchema }).meta({ id: 'LeadershipMoved' });
export const snapshotTakenSchema = z.object({ index }).meta({ id: 'SnapshotTaken' });

export const healthSchema = z.object({ status: z.literal('ok'), id: idSchema }).meta({ id: 'Health' });
export const readySchema = z.object({ ready: z.literal(true), reason: z.string() }).meta({ id: 'Ready' });

const errorCodes = Object.keys(errorCatalogue) as [ErrorCode, ...ErrorCode[]];

/** The contract's error body, on every non-2xx answer. */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(errorCodes),
      message: z.string().meta({ description: 'what is wrong, naming the field, and how to fix it' }),
      details: z.record(z.string(), z.unknown()).meta({ description: 'issues (400), required_scope (403), leader_url (503), index (504), ...; {} when nothing more' }),
    }),
  })
  .meta({ id: 'Error' });
