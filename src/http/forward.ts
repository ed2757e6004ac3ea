// Sends a request this node cannot serve to the leader, one hop only, or
// answers 307 to it. A follower forwards writes (service.write answered
// not_leader) and reads that asked for it (on_stale=forward); the forwarded
// request carries the same method, path, query, body and Authorization, plus
// FORWARDED_HEADER, and a node never forwards a request that has that header:
// it answers 503 instead, so a stale view of the leader cannot loop.
// The leader's answer (status, body, headers including its Raft headers and
// its X-Served-By) is passed back unchanged.

import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { rawBodyOf } from './body.js';
import { apiError, type ApiError } from './errors.js';
import { leaderUnknownError, notLeaderError } from './node-errors.js';

/** Marks a forwarded request; its value is the id of the node that forwarded it. */
export const FORWARDED_HEADER = 'x-ledger-forwarded-by';

/** Headers of the client's request that travel to the leader. */
const REQUEST_HEADERS = ['authorization', 'content-type', 'accept', 'user-agent'] as const;
/** Headers of the leader's answer that belong to that connection, not to the answer. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date', 'upgrade', 'trailer', 'te', 'x-request-id']);
/** Errors raised before anything was sent: the leader surely did not act on the request. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export function wasForwarded(request: FastifyRequest): boolean {
  return request.headers[FORWARDED_HEADER] !== undefined;
}

export interface LeaderTarget {
  readonly leaderId: string;
  readonly leaderUrl: string | undefined;
}

export interface ForwardedAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

type Forwarded = { readonly ok: true; readonly answer: ForwardedAnswer } | { readonly ok: false; readonly error: ApiError };

export class Forwarder {
  private readonly agent: Agent;

  constructor(
    private readonly nodeId: string,
    private readonly timeoutMs: number,
    /** CA certificates that verify the leader's https URL (the cluster's own CA). */
    ca?: string | Buffer,
  ) {
    this.agent = new Agent({ connect: { timeout: timeoutMs, ...(ca === undefined ? {} : { ca }) }, keepAliveTimeout: 10_000 });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /**
   * Answers a request that only the leader can serve: 503 when it was forwarded
   * already or the leader is unknown, 307 when the client asked for redirect,
   * else the leader's own answer. `extraWaitMs` extends the timeout for reads that wait.
   */
  async toLeader(request: FastifyRequest, reply: FastifyReply, target: LeaderTarget, redirect: boolean, extraWaitMs = 0): Promise<LeaderAnswer> {
    if (wasForwarded(request)) return { kind: 'error', error: notLeaderError(target.leaderId, target.leaderUrl) };
    if (target.leaderUrl === undefined || target.leaderId === '' || target.leaderId === this.nodeId) {
      return { kind: 'error', error: leaderUnknownError(target.leaderId) };
    }
    const url = joinUrl(target.leaderUrl, request.url);
    if (redirect) return { kind: 'error', error: redirectError(target.leaderId, url) };
    const forwarded = await this.send(request, url, this.timeoutMs + extraWaitMs);
    if (!forwarded.ok) return { kind: 'error', error: forwarded.error };
    reply.header(FORWARDED_HEADER, this.nodeId);
    return { kind: 'forwarded', answer: forwarded.answer };
  }

  /**
   * Sends this GET request (its Authorization and request id) to another
   * member at `baseUrl` + `path`, marked forwarded, and answers what came back.
   */
  ask(request: FastifyRequest, baseUrl: string, path: string, timeoutMs: number): Promise<Forwarded> {
    return this.send(request, joinUrl(baseUrl, path), timeoutMs);
  }

  private async send(request: FastifyRequest, url: string, timeoutMs: number): Promise<Forwarded> {
    const headers: Record<string, string> = { [FORWARDED_HEADER]: this.nodeId, 'x-request-id': request.id };
    for (const name of REQUEST_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const body = rawBodyOf(request);
    try {
      const response = await undiciRequest(url, {
        dispatcher: this.agent,
        method: request.method as Dispatcher.HttpMethod,
        headers,
        ...(body === undefined ? {} : { body }),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const answerBody = Buffer.from(await response.body.arrayBuffer());
      return { ok: true, answer: { status: response.statusCode, headers: passedHeaders(response.headers), body: answerBody } };
    } catch (error: unknown) {
      return { ok: false, error: forwardFailure(error, url) };
    }
  }
}

export type LeaderAnswer = { readonly kind: 'forwarded'; readonly answer: ForwardedAnswer } | { readonly kind: 'error'; readonly error: ApiError };

function joinUrl(base: string, pathAndQuery: string): string {
  return `${base.replace(/\/+$/, '')}${pathAndQuery}`;
}

function redirectError(leaderId: string, location: string): ApiError {
  return apiError('leader_redirect', `this node is not the leader; the leader is ${leaderId}`, {
    details: { leader_id: leaderId, location },
    headers: { location },
  });
}

function passedHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_HEADERS.has(name)) continue;
    passed[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return passed;
}

function forwardFailure(error: unknown, url: string): ApiError {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  const cause = error instanceof Error ? error.message : String(error);
  if (NOT_SENT_CODES.has(code)) {
    return apiError('leader_unreachable', `the leader at ${url} could not be reached (${code})`, { retryAfterMs: 1000, details: { cause } });
  }
  return apiError('forward_timeout', `the leader at ${url} did not answer in time`, { details: { cause } });
}
