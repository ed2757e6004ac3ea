// Accounts and transfers (double entry): create in batches, read one, read
// several from one snapshot, and page through an account's transfers.

import type { FastifyInstance } from 'fastify';
import { accountsRequestSchema, renderJson, transfersRequestSchema, type LedgerQueries } from '../../ledger/index.js';
import { serveRead, submitWrite } from '../flows.js';
import {
  accountIdsShape,
  DEFAULT_TRANSFERS_PAGE,
  idParamsSchema,
  readQuerySchema,
  transfersPageShape,
  writeQuerySchema,
} from '../request-schemas.js';
import { addRoute, ignoredBody, noParams, notFound, ok, type RouteContext } from '../route.js';

export function registerLedgerRoutes(app: FastifyInstance, context: RouteContext): void {
  const readQuery = readQuerySchema(context.limits.maxWaitMs, {});

  addRoute(app, context, {
    method: 'POST', url: '/v1/accounts', scope: 'write', params: noParams, query: writeQuerySchema, body: accountsRequestSchema,
    handle: ({ query, body }, request, reply) =>
      submitWrite(context, request, reply, { type: 'create_accounts', accounts: body }, query.redirect ?? false),
  });

  addRoute(app, context, {
    method: 'GET', url: '/v1/accounts', scope: 'read', params: noParams, query: readQuerySchema(context.limits.maxWaitMs, accountIdsShape), body: ignoredBody,
    handle: ({ query }, request, reply) =>
      serveRead(context, request, reply, query.read, (queries) => queries.accounts(query.query.ids), (accounts) =>
        ok({ accounts: accounts.map((account) => (account === undefined ? null : renderJson(account))) })),
  });

  addRoute(app, context, {
    method: 'GET', url: '/v1/accounts/:id', scope: 'read', params: idParamsSchema, query: readQuery, body: ignoredBody,
    handle: ({ params, query }, request, reply) =>
      serveRead(context, request, reply, query.read, (queries) => queries.account(params.id), (account) =>
        account === undefined ? notFound('account_not_found', 'account', params.id) : ok(renderJson(account))),
  });

  addRoute(app, context, {
    method: 'GET', url: '/v1/accounts/:id/transfers', scope: 'read', params: idParamsSchema,
    query: readQuerySchema(context.limits.maxWaitMs, transfersPageShape), body: ignoredBody,
    handle: ({ params, query }, request, reply) => {
      const limit = query.query.limit ?? DEFAULT_TRANSFERS_PAGE;
      const page = (queries: LedgerQueries) =>
        queries.account(params.id) === undefined ? undefined : queries.accountTransfers(params.id, query.query.after ?? 0, limit);
      return serveRead(context, request, reply, query.read, page, (transfers) => {
        if (transfers === undefined) return notFound('account_not_found', 'account', params.id);
        const last = transfers.at(-1);
        return ok({ transfers: renderJson(transfers), next_after: transfers.length === limit && last !== undefined ? last.seq : null });
      });
    },
  });

  addRoute(app, context, {
    method: 'POST', url: '/v1/transfers', scope: 'write', params: noParams, query: writeQuerySchema, body: transfersRequestSchema,
    handle: ({ query, body }, request, reply) =>
      submitWrite(context, request, reply, { type: 'create_transfers', transfers: body }, query.redirect ?? false),
  });

  addRoute(app, context, {
    method: 'GET', url: '/v1/transfers/:id', scope: 'read', params: idParamsSchema, query: readQuery, body: ignoredBody,
    handle: ({ params, query }, request, reply) =>
      serveRead(context, request, reply, query.read, (queries) => queries.transfer(params.id), (transfer) =>
        transfer === undefined ? notFound('transfer_not_found', 'transfer', params.id) : ok(renderJson(transfer))),
  });
}
