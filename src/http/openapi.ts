// The OpenAPI 3.1 description of the API, generated (with
// @asteasolutions/zod-to-openapi) from the route table and the zod schemas
// the routes validate with, never written by hand. GET /openapi.json serves
// the document built for the node's own limits; docs/openapi.json is the one
// for the default limits, and test/http/openapi.test.ts fails when it differs
// from what this module builds (regenerate with `node dist/src/cli/openapi.js
// > docs/openapi.json` after `npx tsc -p tsconfig.json`).
//
// Errors: each operation lists, per status, the codes of the one catalogue
// (errors.ts) that it can answer with; every answer carries the Raft headers.

import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { acceptedBodyForms } from '../ledger/index.js';
import { unreachable } from '../lib/assert.js';
import { eventsRoute, type ApiRoute, type ApiRoutes } from './api-routes.js';
import { errorCatalogue, type ErrorCode } from './errors.js';
import { OPENAPI_PATH } from './openapi-path.js';
import { UI_PATH } from './routes/ui.js';
import { errorBodySchema, healthSchema, readySchema } from './response-schemas.js';

const API_VERSION = '1.0.0';
type AnyRoute = ApiRoute<z.ZodType, z.ZodType, z.ZodType>;

const headers = {
  'X-Raft-Term': { description: "the answering node's current Raft term", schema: { type: 'integer' } },
  'X-Raft-Index': {
    description: 'for a write, the index of the committed entry; for a read, the applied index the answer reflects; otherwise the applied index',
    schema: { type: 'integer' },
  },
  'X-Raft-Leader': { description: 'the id of the leader this node knows, empty when none', schema: { type: 'string' } },
  'X-Served-By': { description: 'the id of the node that served the request', schema: { type: 'string' } },
  'X-Request-Id': { description: "the client's X-Request-Id when it is 1..128 characters of [A-Za-z0-9._:-], else a new UUID", schema: { type: 'string' } },
  'X-Ledger-Forwarded-By': { description: 'on an answer forwarded to the leader: the id of the node that forwarded it', schema: { type: 'string' } },
  'X-Staleness-Ms': { description: 'stale reads: an upper bound (not an estimate) on how old the served state is', schema: { type: 'integer' } },
  'X-Raft-Lag-Entries': { description: "stale reads: how far the served state is behind the leader's commit index as last heard", schema: { type: 'integer' } },
  'Retry-After': { description: 'whole seconds (at least 1) before a retry may succeed', schema: { type: 'integer', minimum: 1 } },
  Location: { description: "the leader's URL with the original path and query", schema: { type: 'string' } },
  'WWW-Authenticate': { description: 'Bearer realm="raft-ledger"', schema: { type: 'string' } },
} as const;
type HeaderName = keyof typeof headers;

const ref = (name: HeaderName) => ({ $ref: `#/components/headers/${name}` });
const headerRefs = (names: readonly HeaderName[]) => Object.fromEntries(names.map((name) => [name, ref(name)]));
const EVERY_ANSWER: readonly HeaderName[] = ['X-Raft-Term', 'X-Raft-Index', 'X-Raft-Leader', 'X-Served-By', 'X-Request-Id', 'X-Ledger-Forwarded-By'];

/** Which operations can answer with each error code (docs/api.md, Errors). */
function answersWith(code: ErrorCode, route: AnyRoute): boolean {
  switch (code) {
    case 'invalid_body':
      return route.method !== 'GET';
    case 'invalid_path':
      return route.url.includes(':');
    case 'account_not_found':
    case 'transfer_not_found':
    case 'item_not_found':
    case 'reservation_not_found':
      return route.notFound === code;
    case 'cluster_change_refused':
      return route.kind === 'admin';
    case 'staleness_bound_exceeded':
    case 'index_not_reached':
    case 'read_timeout':
      return route.kind === 'read';
    case 'commit_timeout':
    case 'storage_failed':
      return route.kind !== 'read';
    case 'route_not_found':
    case 'not_ready':
      return false;
    case 'leader_redirect':
    case 'invalid_query':
    case 'malformed_json':
    case 'bad_request':
    case 'unauthorized':
    case 'forbidden':
    case 'request_timeout':
    case 'body_too_large':
    case 'uri_too_long':
    case 'headers_too_large':
    case 'unsupported_media_type':
    case 'overloaded':
    case 'internal_error':
    case 'no_leader':
    case 'not_leader':
    case 'leader_unreachable':
    case 'shutting_down':
    case 'forward_timeout':
      return true;
    default:
      return unreachable(code, 'error code');
  }
}

function extraHeadersOf(status: number): HeaderName[] {
  if (status === 307) return ['Location'];
  if (status === 401) return ['WWW-Authenticate'];
  if (status === 429 || status === 503) return ['Retry-After'];
  return [];
}

/**
 * One response per status, its description listing the codes (and the
 * catalogue's fix for each). With `registry`, each distinct set of codes is a
 * component answer that operations refer to, which keeps the document small.
 */
export function errorResponses(codes: readonly ErrorCode[], registry?: OpenAPIRegistry): Record<string, ResponseConfig | { $ref: string }> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = errorCatalogue[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return Object.fromEntries([...byStatus].sort(([a], [b]) => a - b).map(([status, listed]) => {
    const response: ResponseConfig = {
      description: listed.map((code) => `\`${code}\`: ${errorCatalogue[code].fix}`).join('; '),
      headers: headerRefs([...EVERY_ANSWER, ...extraHeadersOf(status)]),
      content: { 'application/json': { schema: registry === undefined ? errorBodySchema : { $ref: '#/components/schemas/Error' } } },
    };
    if (registry === undefined) return [String(status), response];
    const everyCode = allCodes.filter((code) => errorCatalogue[code].status === status);
    const name = listed.length === everyCode.length ? `Error${status}` : `Error${status}-${listed.join('-')}`;
    registeredResponses.set(registry, registeredResponses.get(registry) ?? new Set());
    const names = registeredResponses.get(registry);
    if (names !== undefined && !names.has(name)) {
      names.add(name);
      registry.registerComponent('responses', name, response as never);
    }
    return [String(status), { $ref: `#/components/responses/${name}` }];
  }));
}

const registeredResponses = new WeakMap<OpenAPIRegistry, Set<string>>();

const allCodes = Object.keys(errorCatalogue) as ErrorCode[];

function operationOf(route: AnyRoute, registry: OpenAPIRegistry): RouteConfig {
  const documentedBody = acceptedBodyForms.get(route.body) ?? route.body;
  const okHeaders = route.kind === 'read' ? [...EVERY_ANSWER, 'X-Staleness-Ms', 'X-Raft-Lag-Entries'] as const : EVERY_ANSWER;
  return {
    method: route.method.toLowerCase() as 'get' | 'post' | 'delete',
    path: route.url.replace(/:([A-Za-z_]+)/g, '{$1}'),
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.kind],
    security: [{ bearerAuth: [route.scope] }, {}],
    request: {
      params: route.params as z.ZodObject,
      query: route.query as z.ZodObject,
      // confirm, release, leadership, snapshot and member removal take an absent body.
      ...(route.method === 'GET' ? {} : { body: { content: { 'application/json': { schema: documentedBody } }, required: !route.body.safeParse(undefined).success } }),
    },
    responses: {
      200: { description: 'answered', headers: headerRefs(okHeaders), content: { 'application/json': { schema: route.response } } },
      ...errorResponses(allCodes.filter((code) => answersWith(code, route)), registry),
    },
  };
}

const DESCRIPTION = [
  'A strongly consistent double-entry ledger and inventory service on Raft. Every node serves the whole API;',
  'a follower forwards writes to the leader (or answers 307 with ?redirect=true).',
  'Auth: with tokens configured, /v1 needs `Authorization: Bearer <token>` with the scope named in each operation',
  '(admin implies every scope); a node without tokens has no auth and binds loopback only.',
  'The probes and this document are open. Amounts are decimal digit strings in answers; see docs/api.md.',
].join(' ');

/** The OpenAPI 3.1 document for the routes of a node (apiRoutes(maxWaitMs)). */
export function buildOpenApiDocument(routes: ApiRoutes): object {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', description: 'scopes: read, write, admin' });
  for (const [name, header] of Object.entries(headers)) registry.registerComponent('headers', name, header);
  for (const route of Object.values(routes) as AnyRoute[]) registry.registerPath(operationOf(route, registry));
  registerEventStream(registry);
  registerOpenRoutes(registry);
  // Any unknown method or path; not an answer of a listed operation, but part of the contract.
  errorResponses(['route_not_found'], registry);
  return new OpenApiGeneratorV31([...registry.definitions, { type: 'schema', schema: errorBodySchema }]).generateDocument({
    openapi: '3.1.0',
    info: { title: 'raft-ledger', version: API_VERSION, description: DESCRIPTION, license: { name: 'Apache-2.0', identifier: 'Apache-2.0' } },
    tags: [
      { name: 'write', description: 'ledger and inventory writes: answered once committed by a majority and applied' },
      { name: 'read', description: 'reads at ?consistency=linearizable (default), lease or stale, with min_index for read-your-writes' },
      { name: 'admin', description: 'operator actions' },
      { name: 'probe', description: 'health, readiness, metrics, this document and the operator console (no auth)' },
    ],
  });
}

/** GET /v1/events: a read like the table's, answering a server-sent event stream instead of JSON (docs/api.md, "Change stream"). */
function registerEventStream(registry: OpenAPIRegistry): void {
  const operation = operationOf(eventsRoute as AnyRoute, registry);
  const described = 'text/event-stream: `id: <index>[.<n>]` and `data: {"kind", "index", "record"}` per change, in log order; `: keep-alive` comments while caught up';
  registry.registerPath({
    ...operation,
    request: { ...operation.request, headers: z.object({ 'last-event-id': z.string().optional().describe('resume after this event id (wins over from_index)') }) },
    responses: {
      ...operation.responses,
      200: { description: described, headers: headerRefs([...EVERY_ANSWER, 'X-Staleness-Ms', 'X-Raft-Lag-Entries']), content: { 'text/event-stream': { schema: z.string() } } },
    },
  });
}

/** The routes outside the table: probes, metrics and this document, none of which take a token. */
function registerOpenRoutes(registry: OpenAPIRegistry): void {
  const answered = { headers: headerRefs(EVERY_ANSWER) };
  registry.registerPath({
    method: 'get', path: '/healthz', operationId: 'getHealth', summary: 'The process serves HTTP', tags: ['probe'], security: [],
    responses: { 200: { description: 'up', ...answered, content: { 'application/json': { schema: healthSchema } } } },
  });
  registry.registerPath({
    method: 'get', path: '/readyz', operationId: 'getReady', summary: 'The node knows a leader and has applied up to the commit index it last heard',
    tags: ['probe'], security: [],
    responses: { 200: { description: 'ready', ...answered, content: { 'application/json': { schema: readySchema } } }, ...errorResponses(['not_ready'], registry) },
  });
  registry.registerPath({
    method: 'get', path: '/metrics', operationId: 'getMetrics', summary: 'Prometheus metrics (text exposition format)', tags: ['probe'], security: [],
    responses: { 200: { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
  });
  registry.registerPath({
    method: 'get', path: OPENAPI_PATH, operationId: 'getOpenApi', summary: 'This document', tags: ['probe'], security: [],
    responses: { 200: { description: 'the OpenAPI 3.1 document', ...answered, content: { 'application/json': { schema: { type: 'object' } } } } },
  });
  const page = (type: string) => ({ description: 'a file of the console, with a Content-Security-Policy that allows only this origin', ...answered, content: { [type]: { schema: z.string() } } });
  registry.registerPath({
    method: 'get', path: UI_PATH, operationId: 'getConsole', summary: "The operator console (docs/ui.md): static HTML; its calls to /v1 carry the operator's token",
    tags: ['probe'], security: [], responses: { 200: page('text/html') },
  });
  registry.registerPath({
    method: 'get', path: `${UI_PATH}/{asset}`, operationId: 'getConsoleAsset', summary: "The console's script and style sheet (console.js, console.css)",
    tags: ['probe'], security: [], request: { params: z.object({ asset: z.enum(['console.js', 'console.css']) }) },
    responses: { 200: page('text/javascript'), ...errorResponses(['route_not_found'], registry) },
  });
}
