// Accounts and transfers (double entry): create in batches, read one, read
// several from one snapshot, and page through an account's transfers.

import type { FastifyInstance } from 'fastify';
import { type LedgerQueries } from '../../ledger/index.js';
import { serveRead, submitWrite } from '../flows.js';
import { DEFAULT_TRANSFERS_PAGE } from '../request-schemas.js';
import { addRoute, notFound, ok, type RouteContext } from '../route.js';

export function registerLedgerRoutes(app: FastifyInstance, context: RouteContext): void {
  const { routes } = context;

  addRoute(app, context, routes.createAccounts, ({ query, body }, request, reply) =>
    submitWrite(context, request, reply, { type: 'create_accounts', accounts: body }, query.redirect ?? false));

  addRoute(app, context, routes.getAccounts, ({ query }, request, reply) =>
    serveRead(context, request, reply, query.read, (queries) => queries.accounts(query.query.ids), (accounts) =>
      ok({ accounts: accounts.map((account) => account ?? null) })));

  addRoute(app, context, routes.getAccount, ({ params, query }, request, reply) =>
    serveRead(context, request, reply, query.read, (queries) => queries.account(params.id), (account) =>
      account === undefined ? notFound('account_not_found', 'account', params.id) : ok(account)));

  addRoute(app, context, routes.getAccountTransfers, ({ params, query }, request, reply) => {
    const limit = query.query.limit ?? DEFAULT_TRANSFERS_PAGE;
    const page = (queries: LedgerQueries) =>
      queries.account(params.id) === undefined ? undefined : queries.accountTransfers(params.id, query.query.after ?? 0, limit);
    return serveRead(context, request, reply, query.read, page, (transfers) => {
      if (transfers === undefined) return notFound('account_not_found', 'account', params.id);
      const last = transfers.at(-1);
      return ok({ transfers, next_after: transfers.length === limit && last !== undefined ? last.seq : null });
    });
  });

  addRoute(app, context, routes.createTransfers, ({ query, body }, request, reply) =>
    submitWrite(context, request, reply, { type: 'create_transfers', transfers: body }, query.redirect ?? false));

  addRoute(app, context, routes.getTransfer, ({ params, query }, request, reply) =>
    serveRead(context, request, reply, query.read, (queries) => queries.transfer(params.id), (transfer) =>
      transfer === undefined ? notFound('transfer_not_found', 'transfer', params.id) : ok(transfer)));
}
