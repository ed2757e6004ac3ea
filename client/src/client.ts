// LedgerClient: every endpoint of the raft-ledger API as a typed method, over
// undici, given the URLs of any nodes of one cluster.
//
// - Leader discovery: every answer names the leader (X-Raft-Leader) and the
//   node that served it (X-Served-By); the client learns which of its URLs
//   is which node and sends writes to the leader's (a follower would forward
//   them anyway, one hop more).
// - Failover and retries: a request that fails with a connection error, 429,
//   500, 503 or 504 is sent again, to another node when the one asked seems
//   down, with exponential backoff and full jitter, until the call's
//   deadline. Writes are retried with the same body and so the same ids:
//   the ledger applies an id once, and a repeat answers `exists`
//   (docs/api.md). Operator calls are retried only when the request surely
//   did not run (connection refused, 429, 503), as they carry no ids.
// - Read-your-writes: the client keeps a session index, the highest index it
//   saw (a write's committed entry, a read's X-Raft-Index), and sends it as
//   min_index with every read, so a read on any node, at any consistency
//   level, reflects every earlier write and read of this client. Pass
//   `sessionIndex` to another client (observeIndex) to carry it further.

import { Agent, request, type Dispatcher } from 'undici';
import { DeadlineExceededError, LedgerApiError } from './errors.js';
import type * as T from './types.js';

export interface ClientOptions {
  /** Base URLs of any nodes of the cluster (one is enough; more give failover). */
  readonly urls: readonly string[];
  /** Bearer token, when the nodes have tokens configured. */
  readonly token?: string;
  /** Bound on one call, retries included (default 10000). */
  readonly deadlineMs?: number;
  /** Bound on one request (default 8000; a write waits up to the server's writeTimeoutMs, 5000 by default). */
  readonly attemptTimeoutMs?: number;
  /** First retry delay and its cap (defaults 50 and 1000 ms); each retry doubles it, with full jitter. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Where reads go: 'any' node in turn (default), or the 'leader'. */
  readonly readFrom?: 'any' | 'leader';
  /** Randomness for the jitter (tests). */
  readonly random?: () => number;
}

type Kind = 'write' | 'admin' | 'read' | 'probe';
type Method = 'GET' | 'POST' | 'DELETE';
type Query = Record<string, string | number | undefined>;

interface Attempt {
  readonly kind: Kind;
  readonly method: Method;
  readonly path: string;
  readonly query?: Query;
  readonly body?: unknown;
  /** Probes go to one given node, without failover. */
  readonly url?: string;
}

const RETRY_STATUSES_WRITE = new Set([429, 500, 503, 504]);
const RETRY_STATUSES_ADMIN = new Set([429, 503]);
const MAX_ATTEMPTS = 1000;

export class LedgerClient {
  private readonly urls: readonly string[];
  private readonly idsByUrl = new Map<string, string>();
  private leaderUrl: string | undefined;
  private session = 0;
  private nextRead = 0;
  private readonly agent: Agent;
  private readonly deadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly random: () => number;

  constructor(private readonly options: ClientOptions) {
    if (options.urls.length === 0) throw new Error('LedgerClient needs at least one node URL');
    this.urls = options.urls.map((url) => url.replace(/\/+$/, ''));
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 8_000;
    this.initialBackoffMs = options.backoff?.initialMs ?? 50;
    this.maxBackoffMs = options.backoff?.maxMs ?? 1_000;
    this.random = options.random ?? Math.random;
    this.agent = new Agent({ connect: { timeout: Math.min(2_000, this.attemptTimeoutMs) }, keepAliveTimeout: 4_000 });
  }

  /** The highest index this client has seen: what its reads wait for. */
  get sessionIndex(): number {
    return this.session;
  }

  /** Carries an index seen elsewhere (another client, another process) into this client's reads. */
  observeIndex(index: number): void {
    if (Number.isSafeInteger(index) && index > this.session) this.session = index;
  }

  /** The URL the client currently takes for the leader's, if it knows it. */
  get knownLeaderUrl(): string | undefined {
    return this.leaderUrl;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  // Writes (docs/api.md, Writes). Each answers the per-item results and the committed index.
  createAccounts(accounts: T.NewAccount | readonly T.NewAccount[]): Promise<T.Answered<T.AccountResults>> {
    return this.call({ kind: 'write', method: 'POST', path: '/v1/accounts', body: Array.isArray(accounts) ? { accounts } : accounts });
  }

  createTransfers(transfers: T.NewTransfer | readonly T.NewTransfer[]): Promise<T.Answered<T.TransferResults>> {
    return this.call({ kind: 'write', method: 'POST', path: '/v1/transfers', body: Array.isArray(transfers) ? { transfers } : transfers });
  }

  createItems(items: T.NewItem | readonly T.NewItem[]): Promise<T.Answered<T.ItemResults>> {
    return this.call({ kind: 'write', method: 'POST', path: '/v1/items', body: Array.isArray(items) ? { items } : items });
  }

  adjustItem(sku: string, adjustment: { readonly id: string; readonly delta: number }): Promise<T.Answered<T.AdjustResults>> {
    return this.call({ kind: 'write', method: 'POST', path: `/v1/items/${encodeURIComponent(sku)}/adjust`, body: adjustment });
  }

  createReservation(reservation: T.NewReservation): Promise<T.Answered<T.ReservationResults>> {
    return this.call({ kind: 'write', method: 'POST', path: '/v1/reservations', body: reservation });
  }

  confirmReservation(id: string): Promise<T.Answered<T.ConfirmResults>> {
    return this.call({ kind: 'write', method: 'POST', path: `/v1/reservations/${encodeURIComponent(id)}/confirm` });
  }

  releaseReservation(id: string): Promise<T.Answered<T.ReleaseResults>> {
    return this.call({ kind: 'write', method: 'POST', path: `/v1/reservations/${encodeURIComponent(id)}/release` });
  }

  // Reads (docs/api.md, Reads): each takes the consistency options.
  getAccount(id: string, options: T.ReadOptions = {}): Promise<T.Answered<T.Account>> {
    return this.read(`/v1/accounts/${encodeURIComponent(id)}`, options);
  }

  getAccounts(ids: readonly string[], options: T.ReadOptions = {}): Promise<T.Answered<T.Accounts>> {
    return this.read('/v1/accounts', options, { ids: ids.join(',') });
  }

  getAccountTransfers(id: string, page: { readonly after?: number; readonly limit?: number } = {}, options: T.ReadOptions = {}): Promise<T.Answered<T.TransferPage>> {
    return this.read(`/v1/accounts/${encodeURIComponent(id)}/transfers`, options, { after: page.after, limit: page.limit });
  }

  getTransfer(id: string, options: T.ReadOptions = {}): Promise<T.Answered<T.Transfer>> {
    return this.read(`/v1/transfers/${encodeURIComponent(id)}`, options);
  }

  getItem(sku: string, options: T.ReadOptions = {}): Promise<T.Answered<T.Item>> {
    return this.read(`/v1/items/${encodeURIComponent(sku)}`, options);
  }

  getReservation(id: string, options: T.ReadOptions = {}): Promise<T.Answered<T.Reservation>> {
    return this.read(`/v1/reservations/${encodeURIComponent(id)}`, options);
  }

  /** This node's view of the cluster (the leader's view, which has the members' progress, with readFrom 'leader'). */
  getCluster(options: T.ReadOptions = {}): Promise<T.Answered<T.ClusterStatus>> {
    return this.read('/v1/cluster', options);
  }

  // Operator actions (admin scope).
  addMember(member: { readonly id: string; readonly url: string; readonly voter?: boolean }): Promise<T.Answered<T.MemberAdded>> {
    return this.call({ kind: 'admin', method: 'POST', path: '/v1/cluster/members', body: member });
  }

  removeMember(id: string): Promise<T.Answered<T.MemberRemoved>> {
    return this.call({ kind: 'admin', method: 'DELETE', path: `/v1/cluster/members/${encodeURIComponent(id)}` });
  }

  transferLeadership(to?: string): Promise<T.Answered<T.LeadershipMoved>> {
    return this.call({ kind: 'admin', method: 'POST', path: '/v1/cluster/leadership', body: to === undefined ? {} : { to } });
  }

  /** Snapshots are per node: this one goes to `url` (default: the first URL). */
  takeSnapshot(url: string = this.urls[0] as string): Promise<T.Answered<T.SnapshotTaken>> {
    return this.call({ kind: 'admin', method: 'POST', path: '/v1/cluster/snapshot', url });
  }

  // Probes of one node (no token needed).
  health(url: string = this.urls[0] as string): Promise<T.Answered<T.Health>> {
    return this.call({ kind: 'probe', method: 'GET', path: '/healthz', url });
  }

  ready(url: string = this.urls[0] as string): Promise<T.Answered<T.Ready>> {
    return this.call({ kind: 'probe', method: 'GET', path: '/readyz', url });
  }

  /** The node's OpenAPI 3.1 document. */
  openApi(url: string = this.urls[0] as string): Promise<T.Answered<Record<string, unknown>>> {
    return this.call({ kind: 'probe', method: 'GET', path: '/openapi.json', url });
  }

  private read<Value>(path: string, options: T.ReadOptions, extra: Query = {}): Promise<T.Answered<Value>> {
    const carried = options.readYourWrites === false ? options.minIndex : Math.max(this.session, options.minIndex ?? 0);
    const query: Query = {
      ...extra,
      consistency: options.consistency,
      max_staleness_ms: options.maxStalenessMs,
      on_stale: options.onStale,
      wait_ms: options.waitMs,
      min_index: carried === undefined || carried === 0 ? undefined : carried,
    };
    return this.call({ kind: 'read', method: 'GET', path, query });
  }

  private async call<Value>(attempt: Attempt): Promise<T.Answered<Value>> {
    const deadline = Date.now() + this.deadlineMs;
    const operation = `${attempt.method} ${attempt.path}`;
    let lastError: unknown;
    let avoid: string | undefined;
    let attempts = 0;
    while (attempts < MAX_ATTEMPTS) {
      attempts++;
      const url = attempt.url ?? this.pick(attempt.kind, avoid);
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const outcome = await this.send<Value>(url, attempt, Math.min(this.attemptTimeoutMs, remaining));
      if (outcome.kind === 'answered') {
        this.observeIndex(outcome.answered.index);
        return { ...outcome.answered, attempts };
      }
      lastError = outcome.error;
      const retry = attempt.kind !== 'probe' && this.retryable(attempt.kind, outcome);
      if (!retry) throw outcome.error;
      avoid = outcome.kind === 'unreachable' || outcome.moveOn ? url : undefined;
      if (avoid !== undefined && avoid === this.leaderUrl) this.leaderUrl = undefined;
      const delayMs = Math.min(this.backoffMs(attempts), Math.max(0, deadline - Date.now()));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    throw new DeadlineExceededError(operation, attempts, lastError);
  }

  private retryable(kind: Kind, outcome: Failed): boolean {
    if (outcome.kind === 'unreachable') return kind !== 'admin' || outcome.beforeSending;
    return (kind === 'admin' ? RETRY_STATUSES_ADMIN : RETRY_STATUSES_WRITE).has(outcome.error.status);
  }

  /** Full jitter: a random delay up to initial * 2^(n-1), capped. */
  private backoffMs(attempts: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(20, attempts - 1));
    return Math.floor(this.random() * ceiling);
  }

  /** Writes to the leader when known; reads in turn over every node (or the leader); never `avoid` when another exists. */
  private pick(kind: Kind, avoid: string | undefined): string {
    const toLeader = kind === 'write' || kind === 'admin' || this.options.readFrom === 'leader';
    if (toLeader && this.leaderUrl !== undefined && this.leaderUrl !== avoid) return this.leaderUrl;
    for (let tries = 0; tries < this.urls.length; tries++) {
      const url = this.urls[this.nextRead++ % this.urls.length] as string;
      if (url !== avoid) return url;
    }
    return this.urls[0] as string;
  }

  private async send<Value>(url: string, attempt: Attempt, timeoutMs: number): Promise<Outcome<Value>> {
    const target = new URL(url + attempt.path);
    for (const [key, value] of Object.entries(attempt.query ?? {})) if (value !== undefined) target.searchParams.set(key, String(value));
    const headers: Record<string, string> = {};
    if (this.options.token !== undefined && attempt.kind !== 'probe') headers.authorization = `Bearer ${this.options.token}`;
    if (attempt.body !== undefined) headers['content-type'] = 'application/json';
    let response: Dispatcher.ResponseData;
    try {
      response = await request(target, {
        method: attempt.method,
        headers,
        ...(attempt.body === undefined ? {} : { body: JSON.stringify(attempt.body) }),
        dispatcher: this.agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (error) {
      const code = (error as { code?: string }).code;
      return { kind: 'unreachable', error, beforeSending: code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' };
    }
    const text = await response.body.text().catch(() => '');
    const header = (name: string): string => {
      const value = response.headers[name];
      return typeof value === 'string' ? value : '';
    };
    // A forwarded answer carries the leader's headers; the node asked is the one that forwarded it.
    this.learn(url, header('x-ledger-forwarded-by') || header('x-served-by'), header('x-raft-leader'));
    const body: unknown = text.length === 0 ? undefined : parseJson(text);
    if (response.statusCode >= 200 && response.statusCode < 300) {
      const written = (body as { index?: unknown } | undefined)?.index;
      const index = attempt.kind === 'write' && typeof written === 'number' ? written : Number(header('x-raft-index') || 0);
      const staleness = header('x-staleness-ms');
      const lag = header('x-raft-lag-entries');
      return {
        kind: 'answered',
        answered: {
          value: body as Value, index, term: Number(header('x-raft-term') || 0), leader: header('x-raft-leader'), servedBy: header('x-served-by'),
          ...(staleness === '' ? {} : { stalenessMs: Number(staleness) }),
          ...(lag === '' ? {} : { lagEntries: Number(lag) }),
        },
      };
    }
    const error = (body as T.ErrorBody | undefined)?.error;
    const apiError = new LedgerApiError(response.statusCode, error?.code ?? 'unknown', error?.message ?? text.slice(0, 200), error?.details ?? {}, target.toString());
    // This node cannot serve now (no leader known, stopping, behind): ask another one next.
    return { kind: 'refused', error: apiError, moveOn: response.statusCode === 503 || response.statusCode === 504 };
  }

  /** Which URL is which node, and which node leads. */
  private learn(url: string, servedBy: string, leader: string): void {
    if (servedBy !== '') this.idsByUrl.set(url, servedBy);
    if (leader === '') return;
    for (const [known, id] of this.idsByUrl) {
      if (id === leader) {
        this.leaderUrl = known;
        return;
      }
    }
  }
}

type Failed =
  | { readonly kind: 'unreachable'; readonly error: unknown; readonly beforeSending: boolean }
  | { readonly kind: 'refused'; readonly error: LedgerApiError; readonly moveOn: boolean };
type Outcome<Value> = { readonly kind: 'answered'; readonly answered: Omit<T.Answered<Value>, 'attempts'> } | Failed;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: 'not_json', message: text.slice(0, 200), details: {} } };
  }
}
