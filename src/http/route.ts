// How every API route is registered: an entry of the route table
// (api-routes.ts: method, URL, required scope and one zod schema each for
// path parameters, query and body) plus its handler. The wrapper checks auth
// before the body is read (onRequest), validates params, then query, then
// body (the first failing part answers 400 with every bad field listed), and
// only then calls the handler, which returns an Answer instead of writing to
// the reply itself. Nothing reaches the node before validation passed.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { jsonText } from '../ledger/index.js';
import { unreachable } from '../lib/assert.js';
import type { LedgerService } from '../node/service.js';
import type { ApiRoute, ApiRoutes } from './api-routes.js';
import type { Authenticator } from './auth.js';
import { apiError, errorBody, validationError, type ApiError, type ErrorCode, type ValidationCode } from './errors.js';
import type { ForwardedAnswer, Forwarder } from './forward.js';

export interface RouteLimits {
  readonly writeTimeoutMs: number;
  readonly adminTimeoutMs: number;
  readonly maxWaitMs: number;
}

/** What the route handlers share: the node, the forwarder, the limits and the route table built for them. */
export interface RouteContext {
  readonly routes: ApiRoutes;
  readonly service: LedgerService;
  readonly forwarder: Forwarder;
  readonly authenticator: Authenticator;
  readonly limits: RouteLimits;
}

export type Answer =
  | { readonly kind: 'json'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'error'; readonly error: ApiError }
  | { readonly kind: 'forwarded'; readonly answer: ForwardedAnswer }
  /** The handler took over the socket (reply.hijack) and answered on it itself. */
  | { readonly kind: 'streamed' };

export const ok = (body: unknown): Answer => ({ kind: 'json', status: 200, body });
export const failed = (error: ApiError): Answer => ({ kind: 'error', error });

/** A 404 for a record the query did not find; `key` names the id field (id or sku). */
export function notFound(code: ErrorCode, noun: string, id: string, key = 'id'): Answer {
  return failed(apiError(code, `no ${noun} has ${key} "${id}"`, { details: { [key]: id } }));
}

export interface RouteInput<Params extends z.ZodType, Query extends z.ZodType, Body extends z.ZodType> {
  readonly params: z.output<Params>;
  readonly query: z.output<Query>;
  readonly body: z.output<Body>;
}

export type RouteHandler<Params extends z.ZodType, Query extends z.ZodType, Body extends z.ZodType> =
  (input: RouteInput<Params, Query, Body>, request: FastifyRequest, reply: FastifyReply) => Promise<Answer>;

/** Registers one entry of the route table (api-routes.ts) with its handler. */
export function addRoute<Params extends z.ZodType, Query extends z.ZodType, Body extends z.ZodType>(
  app: FastifyInstance,
  context: RouteContext,
  spec: ApiRoute<Params, Query, Body>,
  handle: RouteHandler<Params, Query, Body>,
): void {
  app.route({
    method: spec.method,
    url: spec.url,
    onRequest: (request, reply, done) => {
      const auth = context.authenticator.check(request.headers.authorization, spec.scope);
      // A refusal is answered here and ends the request (done() is not called).
      if (!auth.ok) sendError(reply, auth.error);
      else done();
    },
    handler: async (request, reply) => {
      const input = validate(spec, request);
      if (!input.ok) return sendError(reply, input.error);
      return sendAnswer(reply, await handle(input.value, request, reply));
    },
  });
}

type Validated<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ApiError };

function validate<Params extends z.ZodType, Query extends z.ZodType, Body extends z.ZodType>(
  spec: ApiRoute<Params, Query, Body>,
  request: FastifyRequest,
): Validated<RouteInput<Params, Query, Body>> {
  const params = parsePart(spec.params, request.params, 'invalid_path');
  if (!params.ok) return params;
  const query = parsePart(spec.query, request.query, 'invalid_query');
  if (!query.ok) return query;
  const body = parsePart(spec.body, request.body, 'invalid_body');
  if (!body.ok) return body;
  return { ok: true, value: { params: params.value, query: query.value, body: body.value } };
}

function parsePart<Schema extends z.ZodType>(schema: Schema, value: unknown, code: ValidationCode): Validated<z.output<Schema>> {
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: validationError(code, parsed.error) };
}

export function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  reply.code(error.status);
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  for (const [name, value] of Object.entries(error.headers ?? {})) reply.header(name, value);
  return reply.type('application/json; charset=utf-8').send(errorBody(error));
}

export function sendAnswer(reply: FastifyReply, answer: Answer): FastifyReply {
  switch (answer.kind) {
    case 'json':
      // Serialized here, once, with amounts as decimal strings (fastify sends a string as it is).
      return reply.code(answer.status).type('application/json; charset=utf-8').send(jsonText(answer.body));
    case 'error':
      return sendError(reply, answer.error);
    case 'forwarded':
      return reply.code(answer.answer.status).headers(answer.answer.headers).send(answer.answer.body);
    case 'streamed':
      return reply;
    default:
      return unreachable(answer, 'answer');
  }
}
