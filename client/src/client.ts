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
// - The change stream (events()): an async iterator over GET /v1/events that
//   resumes with Last-Event-ID on the next node when a connection drops (a
//   node stopped, a leader changed, a silent socket), so each change is
//   delivered once and in log order.

import { Agent, request, type Dispatcher } from 'undici';
import { DeadlineExceededError, EventsCompactedError, LedgerApiError } from './errors.js';
import { parseEventStream } from './sse.js';
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
/** The node sends `: keep-alive` every 15 s: a stream silent for longer than two of those is dead. */
const DEFAULT_EVENTS_IDLE_MS = 40_000;

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

  /** Every member's own view (role, term, commit and applied index), asked by one node (`url`, default any); null status where a member did not answer. */
  getClusterNodes(url?: string): Promise<T.Answered<T.ClusterNodes>> {
    return this.call({ kind: 'read', method: 'GET', path: '/v1/cluster/nodes', ...(url === undefined ? {} : { url }) });
  }

  /**
   * Follows GET /v1/events: every applied ledger change in log order, without
   * end (break out of the loop, or abort `signal`, to stop). Any node serves
   * it; when a connection drops, ends (the node stopped), or stays silent
   * past idleTimeoutMs, the iterator reconnects to the next node with
   * Last-Event-ID, so nothing is skipped or delivered twice. A node that is
   * behind the position asked (a lagging follower after a leader change)
   * is skipped for another. Throws EventsCompactedError (410) when the
   * position was compacted away, LedgerApiError for other refusals (401,
   * 403, 400), and DeadlineExceededError when no node served the stream
   * within the client's deadline.
   */
  async *events(options: T.EventsOptions = {}): AsyncGenerator<T.LedgerEvent, void, undefined> {
    let lastEventId = options.lastEventId;
    let avoid: string | undefined;
    let failures = 0;
    let failingSinceMs: number | undefined;
    let lastError: unknown;
    const stopped = (): boolean => options.signal?.aborted === true;
    while (!stopped()) {
      const url = this.pick('read', avoid);
      const opened = await this.openEvents(url, options, lastEventId);
      if (opened.kind === 'open') {
        failingSinceMs = undefined;
        options.onConnect?.({ url, servedBy: opened.servedBy, lastEventId });
        let delivered = 0;
        try {
          for await (const raw of parseEventStream(opened.body)) {
            const event = { id: raw.id ?? '', ...(JSON.parse(raw.data) as Omit<T.LedgerEvent, 'id'>) } as T.LedgerEvent;
            lastEventId = event.id;
            this.observeIndex(event.index);
            delivered++;
            yield event;
          }
        } catch (error) {
          lastError = error;
        } finally {
          opened.body.destroy();
        }
        if (stopped()) return;
        // The stream ended or broke: resume after the last event, on another node first; streams
        // that end before delivering anything (nodes shutting down) back off like failures.
        avoid = url;
        failures = delivered > 0 ? 0 : failures + 1;
        if (failures > 0) await new Promise((resolve) => setTimeout(resolve, this.backoffMs(failures)));
        continue;
      }
      if (stopped()) return;
      if (opened.kind === 'refused' && !opened.retry) throw opened.error;
      lastError = opened.error;
      avoid = url;
      failures++;
      failingSinceMs ??= Date.now();
      if (Date.now() - failingSinceMs > this.deadlineMs) throw new DeadlineExceededError('GET /v1/events', failures, lastError);
      await new Promise((resolve) => setTimeout(resolve, this.backoffMs(failures)));
    }
  }

  private async openEvents(url: string, options: T.EventsOptions, lastEventId: string | undefined): Promise<EventsOpened> {
    const target = new URL(`${url}/v1/events`);
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    else if (options.fromIndex !== undefined) target.searchParams.set('from_index', String(options.fromIndex));
    let response: Dispatcher.ResponseData;
    try {
      response = await request(target, {
        method: 'GET', headers, dispatcher: this.agent, headersTimeout: this.attemptTimeoutMs,
        bodyTimeout: options.idleTimeoutMs ?? DEFAULT_EVENTS_IDLE_MS, ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (error) {
      return { kind: 'unreachable', error };
    }
    const header = (name: string): string => {
      const value = response.headers[name];
      return typeof value === 'string' ? value : '';
    };
    this.learn(url, header('x-served-by'), header('x-raft-leader'));
    if (response.statusCode === 200) return { kind: 'open', body: response.body, servedBy: header('x-served-by') };
    const text = await response.body.text().catch(() => '');
    const error = (parseJson(text) as T.ErrorBody | undefined)?.error;
    const args = [response.statusCode, error?.code ?? 'unknown', error?.message ?? text.slice(0, 200), error?.details ?? {}, target.toString()] as const;
    if (response.statusCode === 410) return { kind: 'refused', error: new EventsCompactedError(...args), retry: false };
    return { kind: 'refused', error: new LedgerApiError(...args), retry: RETRY_STATUSES_WRITE.has(response.statusCode) || isBehindPosition(error) };
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
type EventsOpened =
  | { readonly kind: 'open'; readonly body: Dispatcher.ResponseData['body']; readonly servedBy: string }
  | { readonly kind: 'unreachable'; readonly error: unknown }
  | { readonly kind: 'refused'; readonly error: LedgerApiError; readonly retry: boolean };

/** The 400 of a node that has not yet committed the position asked: another node (or this one, later) can serve it. */
function isBehindPosition(error: T.ErrorBody['error'] | undefined): boolean {
  if (error?.code !== 'invalid_query') return false;
  const issues = error.details['issues'];
  return Array.isArray(issues) && issues.length > 0 && issues.every((issue: { path?: unknown; code?: unknown }) =>
    (issue.path === 'last-event-id' || issue.path === 'from_index') && issue.code === 'too_big');
}

type Outcome<Value> = { readonly kind: 'answered'; readonly answered: Omit<T.Answered<Value>, 'attempts'> } | Failed;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: 'not_json', message: text.slice(0, 200), details: {} } };
  }
}
