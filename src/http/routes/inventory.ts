// Inventory: stock records, adjustments and reservations that hold stock for
// all lines or none until confirmed, released or expired.

import type { FastifyInstance } from 'fastify';
import { serveRead, submitWrite } from '../flows.js';
import { addRoute, notFound, ok, type RouteContext } from '../route.js';

export function registerInventoryRoutes(app: FastifyInstance, context: RouteContext): void {
  const { routes } = context;

  addRoute(app, context, routes.createItems, ({ query, body }, request, reply) =>
    submitWrite(context, request, reply, { type: 'create_items', items: body }, query.redirect ?? false));

  addRoute(app, context, routes.adjustItem, ({ params, query, body }, request, reply) =>
    submitWrite(context, request, reply, { type: 'adjust_stock', adjustments: [{ id: body.id, sku: params.sku, delta: body.delta }] }, query.redirect ?? false));

  addRoute(app, context, routes.getItem, ({ params, query }, request, reply) =>
    serveRead(context, request, reply, query.read, (queries) => queries.item(params.sku), (item) =>
      item === undefined ? notFound('item_not_found', 'item', params.sku, 'sku') : ok(item)));

  addRoute(app, context, routes.createReservation, ({ query, body }, request, reply) =>
    submitWrite(context, request, reply, { type: 'create_reservations', reservations: [body] }, query.redirect ?? false));

  addRoute(app, context, routes.confirmReservation, ({ params, query }, request, reply) =>
    submitWrite(context, request, reply, { type: 'confirm_reservations', ids: [params.id] }, query.redirect ?? false));

  addRoute(app, context, routes.releaseReservation, ({ params, query }, request, reply) =>
    submitWrite(context, request, reply, { type: 'release_reservations', ids: [params.id] }, query.redirect ?? false));

  addRoute(app, context, routes.getReservation, ({ params, query }, request, reply) =>
    serveRead(context, request, reply, query.read, (queries) => queries.reservation(params.id), (reservation) =>
      reservation === undefined ? notFound('reservation_not_found', 'reservation', params.id) : ok(reservation)));
}
