// The table of API routes: for each operation its method, URL, scope and the
// zod schemas of path, query, body and answer. The routes (routes/*.ts)
// register exactly these entries with their handlers, the OpenAPI document
// (openapi.ts) is generated from them, and the client (client/) calls them by
// the same names, so the three cannot describe different APIs.

import { z } from 'zod';
import { accountsRequestSchema, adjustRequestSchema, itemsRequestSchema, reservationRequestSchema, transfersRequestSchema } from '../ledger/index.js';
import type { Scope } from './auth.js';
import type { ErrorCode } from './errors.js';
import {
  accountIdsShape, addMemberSchema, emptyBodySchema, eventsQuerySchema, idParamsSchema, ignoredBody, leadershipSchema, noParams, readQuerySchema, skuParamsSchema, transfersPageShape,
  writeQuerySchema,
} from './request-schemas.js';
import * as answers from './response-schemas.js';

/** write: a ledger command through Raft; admin: an operator action; read: a GET at a consistency level. */
export type RouteKind = 'write' | 'admin' | 'read';

export interface ApiRoute<Params extends z.ZodType, Query extends z.ZodType, Body extends z.ZodType> {
  readonly operationId: string;
  readonly summary: string;
  readonly kind: RouteKind;
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  readonly scope: Scope;
  readonly params: Params;
  readonly query: Query;
  readonly body: Body;
  /** The 200 body. */
  readonly response: z.ZodType;
  /** The 404 of a GET of one record. */
  readonly notFound?: ErrorCode;
}

function route<Params extends z.ZodType, Query extends z.ZodType, Body extends z.ZodType>(spec: ApiRoute<Params, Query, Body>): ApiRoute<Params, Query, Body> {
  return spec;
}

const write = <Body extends z.ZodType, Params extends z.ZodType = typeof noParams>(
  operationId: string, summary: string, url: string, body: Body, response: z.ZodType, params?: Params,
) => route({ operationId, summary, kind: 'write', method: 'POST', url, scope: 'write', params: params ?? (noParams as unknown as Params), query: writeQuerySchema, body, response });

/** Every API route, for a node whose `?wait_ms` bound is `maxWaitMs`. */
export function apiRoutes(maxWaitMs: number) {
  const readQuery = readQuerySchema(maxWaitMs, {});
  const read = <Params extends z.ZodType, Query extends z.ZodType>(
    operationId: string, summary: string, url: string, params: Params, query: Query, response: z.ZodType, notFound?: ErrorCode,
  ) => route({ operationId, summary, kind: 'read', method: 'GET', url, scope: 'read', params, query, body: ignoredBody, response, ...(notFound === undefined ? {} : { notFound }) });
  const admin = <Params extends z.ZodType, Body extends z.ZodType>(
    operationId: string, summary: string, method: 'POST' | 'DELETE', url: string, params: Params, body: Body, response: z.ZodType,
  ) => route({ operationId, summary, kind: 'admin', method, url, scope: 'admin', params, query: writeQuerySchema, body, response });

  return {
    createAccounts: write('createAccounts', 'Create accounts (one, or a batch of 1..8190); idempotent by id', '/v1/accounts', accountsRequestSchema, answers.accountResultsSchema),
    getAccounts: read('getAccounts', 'Several accounts from one consistent snapshot, in the order asked (null where unknown)', '/v1/accounts',
      noParams, readQuerySchema(maxWaitMs, accountIdsShape), answers.accountsViewSchema),
    getAccount: read('getAccount', 'One account with its balances', '/v1/accounts/:id', idParamsSchema, readQuery, answers.accountViewSchema, 'account_not_found'),
    getAccountTransfers: read('getAccountTransfers', "An account's transfers in commit order, a page at a time", '/v1/accounts/:id/transfers',
      idParamsSchema, readQuerySchema(maxWaitMs, transfersPageShape), answers.transferPageSchema, 'account_not_found'),
    createTransfers: write('createTransfers', 'Create transfers (one, or a batch of 1..8190); idempotent by id', '/v1/transfers', transfersRequestSchema, answers.transferResultsSchema),
    getTransfer: read('getTransfer', 'One transfer with its status and log index', '/v1/transfers/:id', idParamsSchema, readQuery, answers.transferViewSchema, 'transfer_not_found'),
    createItems: write('createItems', 'Create stock records (one, or a batch); idempotent by sku', '/v1/items', itemsRequestSchema, answers.itemResultsSchema),
    adjustItem: write('adjustItem', "Change an item's on_hand by delta; idempotent by id", '/v1/items/:sku/adjust', adjustRequestSchema, answers.adjustResultsSchema, skuParamsSchema),
    getItem: read('getItem', 'One item with on_hand, reserved and available', '/v1/items/:sku', skuParamsSchema, readQuery, answers.itemViewSchema, 'item_not_found'),
    createReservation: write('createReservation', 'Hold stock for all lines or none until confirmed, released or expired', '/v1/reservations',
      reservationRequestSchema, answers.reservationResultsSchema),
    confirmReservation: write('confirmReservation', 'Turn a hold into a sale (on_hand decreases)', '/v1/reservations/:id/confirm',
      emptyBodySchema, answers.confirmResultsSchema, idParamsSchema),
    releaseReservation: write('releaseReservation', 'Give a hold back', '/v1/reservations/:id/release', emptyBodySchema, answers.releaseResultsSchema, idParamsSchema),
    getReservation: read('getReservation', 'One reservation with its status', '/v1/reservations/:id', idParamsSchema, readQuery, answers.reservationViewSchema, 'reservation_not_found'),
    getCluster: read('getCluster', "This node's view of the cluster (members' progress is known on the leader)", '/v1/cluster', noParams, readQuery, answers.clusterStatusSchema),
    getClusterNodes: read('getClusterNodes', "Every member's own view of the cluster (role, term, commit and applied index), asked by this node in parallel",
      '/v1/cluster/nodes', noParams, noParams, answers.clusterNodesSchema),
    addMember: admin('addMember', 'Add a node (as a learner first; promoted once caught up when voter)', 'POST', '/v1/cluster/members', noParams, addMemberSchema, answers.memberAddedSchema),
    removeMember: admin('removeMember', 'Remove a node from the cluster', 'DELETE', '/v1/cluster/members/:id', idParamsSchema, emptyBodySchema, answers.memberRemovedSchema),
    transferLeadership: admin('transferLeadership', 'Move leadership (to a given node, or the most caught-up one)', 'POST', '/v1/cluster/leadership',
      noParams, leadershipSchema, answers.leadershipMovedSchema),
    takeSnapshot: admin('takeSnapshot', 'Take a snapshot on the node that receives the request and compact its log', 'POST', '/v1/cluster/snapshot',
      noParams, emptyBodySchema, answers.snapshotTakenSchema),
  };
}

export type ApiRoutes = ReturnType<typeof apiRoutes>;

/**
 * GET /v1/events, the change stream: registered and documented like the table's
 * routes, but kept out of the table, whose operations answer JSON (the client
 * and the answer-shape checks walk it); this one answers text/event-stream.
 */
export const eventsRoute = route({
  operationId: 'getEvents',
  summary: 'Every applied ledger change in log order, as server-sent events; resumable with Last-Event-ID, served by any node',
  kind: 'read', method: 'GET', url: '/v1/events', scope: 'read', params: noParams, query: eventsQuerySchema, body: ignoredBody,
  response: z.string(),
});
export type OperationId = keyof ApiRoutes;
