// The HTTP API of a node (docs/api.md), built as a fastify instance without
// listen: tests call app.inject, the server entry calls listen and close. The
// app depends on the node only through LedgerService. It owns the error body
// of every answer (including fastify's own refusals), the Raft headers, the
// request id, auth, and forwarding to the leader.
//
// Layout: the root instance carries the logger, request ids, the error
// handler and the extensions (metrics, peer RPC routes); the API routes live
// in one encapsulated scope with the JSON-only body parser and the Raft
// header hook, so neither leaks onto routes that others register.

import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerFactory } from 'fastify';
import type { DestinationStream, LevelWithSilent } from 'pino';
import { assert } from '../lib/assert.js';
import { exitOnAssertion, isAssertionFailure, type AssertionHandler } from '../lib/fatal.js';
import type { LedgerService } from '../node/service.js';
import { apiRoutes } from './api-routes.js';
import { Authenticator, type TokenGrant } from './auth.js';
import { BodyRefusedError, installJsonParser } from './body.js';
import { apiError, errorBody, type ApiError } from './errors.js';
import { Forwarder } from './forward.js';
import { shuttingDownError } from './node-errors.js';
import { sendError, type RouteContext } from './route.js';
import { registerEventRoutes } from './routes/events.js';
import { registerClusterRoutes } from './routes/cluster.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerInventoryRoutes } from './routes/inventory.js';
import { registerLedgerRoutes } from './routes/ledger.js';
import { registerUiRoutes } from './routes/ui.js';

export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_WRITE_TIMEOUT_MS = 5_000;
export const DEFAULT_ADMIN_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_WAIT_MS = 60_000;
export const DEFAULT_FORWARD_TIMEOUT_MS = 15_000;
/** Path parameters are ids of at most 128 characters; longer ones must reach zod (400), not the router (404). */
const MAX_PATH_PARAMETER_LENGTH = 512;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** An oversized body is read to its end (so the client sees the 413) only up to this much and this long. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;
const DRAIN_TIMEOUT_MS = 10_000;

/** Called with the root instance before the API routes, so hooks it adds see every API request. */
export type AppExtension = (app: FastifyInstance) => void;

export interface BuildAppOptions {
  readonly service: LedgerService;
  /** Bearer tokens; none (or an empty list) turns auth off. */
  readonly tokens?: readonly TokenGrant[];
  readonly bodyLimitBytes?: number;
  /** How long a write waits for commit and apply before 504 commit_timeout. */
  readonly writeTimeoutMs?: number;
  /** How long membership and leadership changes may take. */
  readonly adminTimeoutMs?: number;
  /** Upper bound of ?wait_ms. */
  readonly maxWaitMs?: number;
  /** Bound on a forwarded request (reads add their wait_ms); must exceed the write and admin timeouts. */
  readonly forwardTimeoutMs?: number;
  /** 'silent' disables logging (tests). */
  readonly logLevel?: LevelWithSilent;
  /** Where log lines go (default stdout). */
  readonly logStream?: DestinationStream;
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP. */
  readonly https?: { readonly cert: Buffer | string; readonly key: Buffer | string };
  /** CA that verifies the leader's https URL when forwarding (default: the system's CAs). */
  readonly forwardCa?: string | Buffer;
  /** Metrics plugin, peer RPC routes: see AppExtension. */
  readonly extensions?: readonly AppExtension[];
  /** The whole request (headers and body) must arrive within this, else 408 (default: no bound beyond Node's 60 s for headers). */
  readonly requestTimeoutMs?: number;
  /** What a failed assertion in a handler does (default: log and exit the process, see src/lib/fatal.ts); tests observe it. */
  readonly onAssertionFailure?: AssertionHandler;
}

export function buildApp(options: BuildAppOptions): FastifyInstance {
  const limits = {
    writeTimeoutMs: options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS,
    adminTimeoutMs: options.adminTimeoutMs ?? DEFAULT_ADMIN_TIMEOUT_MS,
    maxWaitMs: options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
  };
  const forwardTimeoutMs = options.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
  assert(forwardTimeoutMs > limits.writeTimeoutMs && forwardTimeoutMs > limits.adminTimeoutMs,
    'forwardTimeoutMs must exceed writeTimeoutMs and adminTimeoutMs, or a forwarded request times out before the leader answers');
  const bodyLimit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;

  const app = fastify<Server>({
    logger: { level: options.logLevel ?? 'info', ...(options.logStream === undefined ? {} : { stream: options.logStream }) },
    genReqId: requestIdOf,
    // Two info lines per request cost more than the request at load: requests log at debug, plus a summary a minute.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    bodyLimit,
    routerOptions: { maxParamLength: MAX_PATH_PARAMETER_LENGTH },
    // fastify's own 503 while closing has its own body; shutting_down below answers in the contract's.
    return503OnClosing: false,
    // A URL that does not decode never reaches a route; answer it in the contract's shape too.
    ...(options.https === undefined ? {} : { serverFactory: httpsServerFactory(options.https) }),
    ...(options.requestTimeoutMs === undefined ? {} : {
      requestTimeout: options.requestTimeoutMs,
      // Node checks request deadlines this often (default 30 s); check often enough to keep the bound.
      http: { connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.floor(options.requestTimeoutMs / 4))) },
    }),
    // Requests that never reach fastify (unparsable framing, headers too large, timeouts) in the contract's shape too.
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket, options.service),
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id);
      setRaftHeaders(reply, options.service);
      return sendError(reply, frameworkError(error, bodyLimit));
    },
  });
  const forwarder = new Forwarder(options.service.nodeId, forwardTimeoutMs, options.forwardCa);
  const context: RouteContext = {
    service: options.service, forwarder, authenticator: new Authenticator(options.tokens ?? []), limits, routes: apiRoutes(limits.maxWaitMs),
  };
  let closing = false;

  // The hooks every request runs are callback-style: an async hook costs a promise and its scheduling per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  const summary = new RequestSummary(app.log, REQUEST_SUMMARY_INTERVAL_MS);
  app.addHook('onResponse', (request, reply, done) => {
    summary.count(reply.statusCode);
    request.log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, responseTimeMs: reply.elapsedTime }, 'request completed');
    done();
  });
  app.addHook('preClose', async () => {
    closing = true;
    summary.stop();
  });
  app.addHook('onClose', async () => forwarder.close());
  const onAssertionFailure = options.onAssertionFailure ?? exitOnAssertion;
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (isAssertionFailure(error)) {
      // The node may be half-way through a change: never answer and serve on (docs/node.md, "When an assertion fails").
      request.log.fatal({ err: error }, 'assertion failed while handling a request');
      onAssertionFailure(error, `${request.method} ${request.url}`);
    }
    const mapped = frameworkError(error, bodyLimit);
    if (mapped.status >= 500) request.log.error({ err: error }, 'request failed inside the API');
    // Read (and drop) the rest of a refused oversized body first, so the client gets the 413 instead of EPIPE.
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') await drainRequest(request.raw, MAX_DRAIN_BYTES, DRAIN_TIMEOUT_MS);
    return sendError(reply, mapped);
  });
  for (const extend of options.extensions ?? []) extend(app);

  void app.register(async (api) => {
    installJsonParser(api);
    api.addHook('onRequest', (_request, reply, done) => {
      // Answered here: fastify then skips the rest of the request, so done() is not called.
      if (closing) sendError(reply, shuttingDownError());
      else done();
    });
    api.addHook('onSend', (_request, reply, payload, done) => {
      setRaftHeaders(reply, options.service);
      done(null, payload);
    });
    api.setNotFoundHandler((request, reply) =>
      sendError(reply, apiError('route_not_found', `no route matches ${request.method} ${request.url.split('?')[0] ?? ''}`)));
    registerHealthRoutes(api, options.service, context.routes);
    registerLedgerRoutes(api, context);
    registerInventoryRoutes(api, context);
    registerClusterRoutes(api, context);
    registerEventRoutes(api, context);
    registerUiRoutes(api);
  });
  return app;
}

const REQUEST_SUMMARY_INTERVAL_MS = 60_000;

/** One info line per interval with the requests answered, by status class (nothing when idle). */
class RequestSummary {
  private byClass = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly log: FastifyBaseLogger, intervalMs: number) {
    this.timer = setInterval(() => this.flush(intervalMs), intervalMs);
    this.timer.unref();
  }

  count(statusCode: number): void {
    const key = `${Math.floor(statusCode / 100)}xx`;
    this.byClass.set(key, (this.byClass.get(key) ?? 0) + 1);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private flush(intervalMs: number): void {
    if (this.byClass.size === 0) return;
    const counts = Object.fromEntries(this.byClass);
    this.byClass = new Map();
    this.log.info({ intervalMs, requests: counts }, 'requests answered');
  }
}

/**
 * Answers a request that Node's HTTP parser refused before fastify saw it,
 * with the contract's error body and the Raft headers, then closes the
 * connection (its framing can no longer be trusted).
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket, service: LedgerService): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const refusal = clientErrorOf(error);
  if (socket.writable) {
    const body = JSON.stringify(errorBody(refusal));
    const values = service.raftHeaders();
    const headers = [
      `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Error'}`,
      'content-type: application/json; charset=utf-8',
      `content-length: ${Buffer.byteLength(body)}`,
      'connection: close',
      `x-raft-term: ${values.term}`,
      `x-raft-index: ${values.appliedIndex}`,
      `x-raft-leader: ${values.leaderId}`,
      `x-served-by: ${values.servedBy}`,
    ];
    socket.write(`${headers.join('\r\n')}\r\n\r\n${body}`);
  }
  socket.destroy();
}

function clientErrorOf(error: NodeJS.ErrnoException): ApiError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return apiError('request_timeout', 'the request did not arrive in time');
    case 'HPE_HEADER_OVERFLOW':
      return apiError('headers_too_large', 'the request line and headers are larger than the server accepts');
    default:
      return apiError('bad_request', `the request could not be parsed as HTTP/1.1 (${error.code ?? 'no code'})`);
  }
}

/** An https server is an http.Server to fastify, so the instance keeps one type with or without TLS. */
function httpsServerFactory(tls: NonNullable<BuildAppOptions['https']>): FastifyServerFactory<Server> {
  return (handler) => createHttpsServer({ cert: tls.cert, key: tls.key }, handler);
}

/** Consumes what is left of a request body, up to a bound in bytes and time; past the bound the connection closes. */
function drainRequest(raw: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<void> {
  if (raw.readableEnded || raw.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = (): void => {
      clearTimeout(timer);
      raw.off('data', onData);
      raw.off('end', done);
      raw.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      seen += chunk.length;
      if (seen > maxBytes) done();
    };
    const timer = setTimeout(done, timeoutMs);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('error', done);
    raw.resume();
  });
}

/** An incoming X-Request-Id is kept when it is a plain token (it goes into logs); otherwise a new one. */
function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Fills the Raft headers a handler (or the leader's forwarded answer) did not set already. */
function setRaftHeaders(reply: FastifyReply, service: LedgerService): void {
  const values = service.raftHeaders();
  const defaults: Record<string, string> = {
    'x-raft-term': String(values.term),
    'x-raft-index': String(values.appliedIndex),
    'x-raft-leader': values.leaderId,
    'x-served-by': values.servedBy,
  };
  for (const [name, value] of Object.entries(defaults)) {
    if (!reply.hasHeader(name)) reply.header(name, value);
  }
}

/** fastify's refusals (body, content type, JSON) in the contract's error body; anything else is a 500. */
function frameworkError(error: FastifyError, bodyLimit: number): ApiError {
  if (error instanceof BodyRefusedError) return error.apiError;
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return apiError('body_too_large', `the body is larger than the limit of ${bodyLimit} bytes`, { details: { limit_bytes: bodyLimit } });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return apiError('unsupported_media_type', 'the body has a Content-Type other than application/json');
    case 'FST_ERR_BAD_URL':
      return apiError('invalid_path', 'the URL path is not validly percent-encoded');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return apiError('uri_too_long', `a path segment is longer than ${MAX_PATH_PARAMETER_LENGTH} characters`);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return apiError('malformed_json', 'the body is not valid JSON');
    default:
      break;
  }
  const status = error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return apiError('bad_request', `the request was refused (${error.code ?? 'no code'}: ${error.message})`, { status });
  }
  return apiError('internal_error', 'the request failed inside the service');
}
