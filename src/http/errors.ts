// The one catalogue of HTTP error codes (STYLE habit 10) and the contract's
// error body `{"error": {"code", "message", "details"?}}`. Every non-2xx answer
// of the API is built here, including the framework's own refusals (bad JSON,
// wrong content type, body too large), so a client never sees another shape.
// Codes are stable snake_case strings: add new ones, never rename.

import type { z } from 'zod';

export interface CatalogueEntry {
  readonly status: number;
  /** What the client should do about it; appended to every message of this code. */
  readonly fix: string;
}

export const errorCatalogue = {
  // 307 (asked for with ?redirect=true): a non-2xx answer, so it carries the error body too.
  leader_redirect: { status: 307, fix: 'send the same request to the URL in Location' },
  // 400: the request itself is wrong; sending it again unchanged fails again.
  invalid_body: { status: 400, fix: 'fix the fields listed in details.issues and send the request again' },
  invalid_query: { status: 400, fix: 'fix the query parameters listed in details.issues' },
  invalid_path: { status: 400, fix: 'ids and skus are 1..128 characters of [A-Za-z0-9_.:-]' },
  malformed_json: { status: 400, fix: 'send one well-formed JSON value with Content-Type: application/json' },
  bad_request: { status: 400, fix: 'check the request line, headers and Content-Length' },
  // 401/403: auth.
  unauthorized: { status: 401, fix: 'send Authorization: Bearer <token> with a configured token' },
  forbidden: { status: 403, fix: 'use a token that has the scope named in details.required_scope' },
  // 404.
  route_not_found: { status: 404, fix: 'see docs/api.md for the routes' },
  account_not_found: { status: 404, fix: 'create the account first with POST /v1/accounts' },
  transfer_not_found: { status: 404, fix: 'check the transfer id; a refused transfer is not stored' },
  item_not_found: { status: 404, fix: 'create the item first with POST /v1/items' },
  reservation_not_found: { status: 404, fix: 'check the reservation id; a refused reservation is not stored' },
  // 409: an operator request that the cluster refuses in its current state.
  cluster_change_refused: { status: 409, fix: 'read GET /v1/cluster, then change the request or wait for the running change' },
  // 408: the request did not arrive in time (answered by the HTTP server itself, then the connection closes).
  request_timeout: { status: 408, fix: 'send the whole request without pausing; check the Content-Length' },
  // 413/414/415/431.
  body_too_large: { status: 413, fix: 'split the batch into smaller requests' },
  uri_too_long: { status: 414, fix: 'ids and skus are at most 128 characters' },
  headers_too_large: { status: 431, fix: 'send a shorter URL and fewer or smaller headers' },
  unsupported_media_type: { status: 415, fix: 'send the body as JSON with Content-Type: application/json' },
  // 429.
  overloaded: { status: 429, fix: 'retry after Retry-After seconds; retrying with the same ids is safe' },
  // 500: a bug in this service, never the client's doing.
  internal_error: { status: 500, fix: 'retrying with the same ids is safe; report the X-Request-Id' },
  // 503: this node cannot serve now; another node or a later try may.
  no_leader: { status: 503, fix: 'retry after Retry-After seconds, once an election has finished' },
  not_leader: { status: 503, fix: 'retry after Retry-After seconds; leadership is moving' },
  leader_unreachable: { status: 503, fix: 'retry after Retry-After seconds, or send the request to the leader directly' },
  staleness_bound_exceeded: {
    status: 503,
    fix: 'retry later, raise max_staleness_ms or wait_ms, add on_stale=forward, or read with consistency=linearizable',
  },
  index_not_reached: { status: 503, fix: 'retry after Retry-After seconds or raise wait_ms' },
  read_timeout: { status: 503, fix: 'retry after Retry-After seconds' },
  storage_failed: { status: 503, fix: 'send the request to another node; this node takes no writes until its disk is repaired' },
  shutting_down: { status: 503, fix: 'send the request to another node' },
  not_ready: { status: 503, fix: 'wait until the node knows a leader and has caught up' },
  // 504: the outcome is unknown.
  commit_timeout: { status: 504, fix: 'the outcome is unknown: retry with the same ids, which is safe' },
  forward_timeout: { status: 504, fix: 'the outcome is unknown: retry with the same ids, which is safe' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface ApiError {
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
  /** Sent as Retry-After (whole seconds). */
  readonly retryAfterSeconds?: number;
  /** Extra response headers (WWW-Authenticate, Location). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ErrorBody {
  /** `details` is always an object (empty when there is nothing more to say), as the contract shows it. */
  error: { code: string; message: string; details: Readonly<Record<string, unknown>> };
}

interface ErrorExtras {
  readonly details?: Readonly<Record<string, unknown>>;
  readonly retryAfterMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Overrides the catalogue's status (only for bad_request, which carries the framework's 4xx). */
  readonly status?: number;
}

/** `what` says what went wrong (naming the field); the catalogue adds the fix. */
export function apiError(code: ErrorCode, what: string, extras: ErrorExtras = {}): ApiError {
  const entry: CatalogueEntry = errorCatalogue[code];
  return {
    code,
    status: extras.status ?? entry.status,
    message: `${what}: ${entry.fix}`,
    ...(extras.details === undefined ? {} : { details: extras.details }),
    ...(extras.retryAfterMs === undefined ? {} : { retryAfterSeconds: retryAfterSeconds(extras.retryAfterMs) }),
    ...(extras.headers === undefined ? {} : { headers: extras.headers }),
  };
}

export function errorBody(error: ApiError): ErrorBody {
  return {
    error: { code: error.code, message: error.message, details: error.details ?? {} },
  };
}

/** Retry-After is in whole seconds; never 0, which would invite a tight retry loop. */
export function retryAfterSeconds(milliseconds: number): number {
  return Math.max(1, Math.ceil(milliseconds / 1000));
}

/** At most this many issues are listed; a batch of 8190 bad items would otherwise make a huge 400. */
export const MAX_LISTED_ISSUES = 100;

export interface ListedIssue {
  path: string;
  code: string;
  message: string;
}

export type ValidationCode = 'invalid_body' | 'invalid_query' | 'invalid_path';

const subjects: Record<ValidationCode, string> = {
  invalid_body: 'the body',
  invalid_query: 'the query string',
  invalid_path: 'the path',
};

/** A 400 whose details.issues lists every bad field by its path (e.g. `transfers.3.amount`). */
export function validationError(code: ValidationCode, error: z.ZodError): ApiError {
  return issuesError(code, error.issues.flatMap(listIssue));
}

/** The same 400 from issues found outside a schema (the exact JSON parser's: inexact numbers, duplicate keys). */
export function issuesError(code: ValidationCode, issues: readonly ListedIssue[]): ApiError {
  const listed = issues.slice(0, MAX_LISTED_ISSUES);
  const first = listed[0];
  const where = first === undefined || first.path === '' ? subjects[code] : first.path;
  const more = issues.length > 1 ? ` (${issues.length - 1} more in details.issues)` : '';
  return apiError(code, `${where}: ${first?.message ?? 'invalid'}${more}`, {
    details: { issues: listed, issue_count: issues.length },
  });
}

function listIssue(issue: z.core.$ZodIssue): ListedIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...path, key].join('.'), code: 'unknown_field', message: `unknown field "${key}": remove it` }));
  }
  // The ledger's amount schema marks amounts above 2^63-1 with this prefix; the contract calls that `overflow`.
  const code = issue.message.startsWith('overflow') ? 'overflow' : issue.code;
  return [{ path: path.join('.'), code, message: issue.message }];
}
