// Inventory: stock records, adjustments and reservations that hold stock for
// all lines or none until confirmed, released or expired.

import type { FastifyInstance } from 'fastify';
import { adjustRequestSchema, itemsRequestSchema, renderJson, reservationRequestSchema } from '../../ledger/index.js';
import { serveRead, submitWrite } from '../flows.js';
import { emptyBodySchema, idParamsSchema, readQuerySchema, skuParamsSchema, writeQuerySchema } from '../request-schemas.js';
import { addRoute, ignoredBody, noParams, notFound, ok, type RouteContext } from '../route.js';

export function registerInventoryRoutes(app: FastifyInstance, context: RouteContext): void {
  const readQuery = readQuerySchema(context.limits.maxWaitMs, {});

  addRoute(app, context, {
    method: 'POST', url: '/v1/items', scope: 'write', params: noParams, query: writeQuerySchema, body: itemsRequestSchema,
    handle: ({ query, body }, request, reply) => submitWrite(context, request, reply, { type: 'create_items', items: body }, query.redirect ?? false),
  });

  addRoute(app, context, {
    method: 'POST', url: '/v1/items/:sku/adjust', scope: 'write', params: skuParamsSchema, query: writeQuerySchema, body: adjustRequestSchema,
    handle: ({ params, query, body }, request, reply) =>
      submitWrite(context, request, reply, { type: 'adjust_stock', adjustments: [{ id: body.id, sku: params.sku, delta: body.delta }] }, query.redirect ?? false),
  });

  addRoute(app, context, {
    method: 'GET', url: '/v1/items/:sku', scope: 'read', params: skuParamsSchema, query: readQuery, body: ignoredBody,
    handle: ({ params, query }, request, reply) =>
      serveRead(context, request, reply, query.read, (queries) => queries.item(params.sku), (item) =>
        item === undefined ? notFound('item_not_found', 'item', params.sku, 'sku') : ok(renderJson(item))),
  });

  addRoute(app, context, {
    method: 'POST', url: '/v1/reservations', scope: 'write', params: noParams, query: writeQuerySchema, body: reservationRequestSchema,
    handle: ({ query, body }, request, reply) =>
      submitWrite(context, request, reply, { type: 'create_reservations', reservations: [body] }, query.redirect ?? false),
  });

  for (const action of ['confirm', 'release'] as const) {
    addRoute(app, context, {
      method: 'POST', url: `/v1/reservations/:id/${action}`, scope: 'write', params: idParamsSchema, query: writeQuerySchema, body: emptyBodySchema,
      handle: ({ params, query }, request, reply) =>
        submitWrite(context, request, reply, { type: action === 'confirm' ? 'confirm_reservations' : 'release_reservations', ids: [params.id] }, query.redirect ?? false),
    });
  }

  addRoute(app, context, {
    method: 'GET', url: '/v1/reservations/:id', scope: 'read', params: idParamsSchema, query: readQuery, body: ignoredBody,
    handle: ({ params, query }, request, reply) =>
      serveRead(context, request, reply, query.read, (queries) => queries.reservation(params.id), (reservation) =>
        reservation === undefined ? notFound('reservation_not_found', 'reservation', params.id) : ok(renderJson(reservation))),
  });
}
