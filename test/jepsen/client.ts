// The suite's HTTP client: one undici Agent for every node, a deadline per
// request, and the classification of an outcome into the history's three
// kinds (ok, fail = certainly no effect, info = unknown) by the API's error
// catalogue (docs/api.md, Errors).

import { Agent, request } from 'undici';
import { apiAnswer, type ApiAnswer } from '../support/api-json.js';

export type Answer = ApiAnswer;

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly path: string;
  readonly body?: unknown;
}

/** An answer, or the transport error with whether the request certainly never left. */
export type Outcome = { readonly kind: 'answer'; readonly answer: Answer } | { readonly kind: 'error'; readonly error: string; readonly notSent: boolean };

/**
 * 503 codes that the API answers before anything is proposed (or for reads,
 * which have no effect): the operation certainly did not take effect.
 */
const DEFINITE_503 = new Set(['no_leader', 'not_leader', 'leader_unreachable', 'staleness_bound_exceeded', 'index_not_reached', 'read_timeout', 'not_ready']);

/** Connection errors raised before a byte of the request was sent. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL']);

export class Client {
  private readonly agent = new Agent({ connections: 64, keepAliveTimeout: 4_000, connect: { timeout: 2_000 } });

  private readonly headers: Record<string, string>;

  /** `token`: sent as `Authorization: Bearer` on every request (the cluster's nodes require one). */
  constructor(readonly timeoutMs: number, token?: string) {
    this.headers = token !== undefined ? { authorization: `Bearer ${token}` } : {};
  }

  async send(baseUrl: string, req: HttpRequest): Promise<Outcome> {
    try {
      const response = await request(new URL(req.path, baseUrl), {
        dispatcher: this.agent,
        method: req.method,
        headers: req.body !== undefined ? { ...this.headers, 'content-type': 'application/json' } : this.headers,
        ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      return { kind: 'answer', answer: apiAnswer(response.statusCode, await response.body.text(), response.headers) };
    } catch (error) {
      const code = errorCode(error);
      return { kind: 'error', error: code, notSent: NOT_SENT_CODES.has(code) };
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

function errorCode(error: unknown): string {
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
    if (typeof e.code === 'string') return e.code;
    if (e.cause && typeof e.cause.code === 'string') return e.cause.code;
    if (typeof e.name === 'string') return e.name;
  }
  return String(error);
}

export function errorCodeOf(answer: Answer): string {
  const code = answer.body?.error?.code;
  return typeof code === 'string' ? code : `http_${answer.status}`;
}

/** fail (no effect) or info (unknown) for a non-2xx answer. */
export function classifyError(answer: Answer): 'fail' | 'info' {
  if (answer.status >= 400 && answer.status < 500) return 'fail';
  if (answer.status === 503 && DEFINITE_503.has(errorCodeOf(answer))) return 'fail';
  return 'info';
}

export function raftIndexOf(answer: Answer): number | undefined {
  const raw = answer.headers['x-raft-index'];
  if (raw === undefined) return undefined;
  const index = Number(raw);
  return Number.isSafeInteger(index) ? index : undefined;
}
