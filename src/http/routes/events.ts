// GET /v1/events: change data capture as server-sent events. Every applied
// ledger change in log order, `id: <index>` (or `<index>.<n>` when an entry
// made several changes), resumable with Last-Event-ID, served by any node from
// what it has applied (like a stale read, with the same headers).
//
// Back-pressure: one bounded page is read from SQLite at a time, and the next
// only once the socket took the previous one (write() returned true or
// 'drain' fired), so a consumer that stops reading stops the reads too. When
// caught up, the stream waits on the node's applied-index wake-up (min_index)
// and sends a comment line every KEEPALIVE_MS so proxies keep it open.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { assert } from '../../lib/assert.js';
import { jsonText, type EventPage, type EventPosition, type PositionedEvent } from '../../ledger/index.js';
import type { NodeError, Outcome, ReadResult } from '../../node/service.js';
import { issuesError, type ApiError } from '../errors.js';
import { RAFT_INDEX_HEADER } from '../flows.js';
import { nodeErrorToApi } from '../node-errors.js';
import { eventsRoute } from '../api-routes.js';
import { addRoute, failed, type Answer, type RouteContext } from '../route.js';

export const KEEPALIVE_MS = 15_000;
/** Open streams per node: each holds a socket and at most one page, so a bound on both. */
export const MAX_OPEN_STREAMS = 64;
const STREAMS_RETRY_AFTER_MS = 5000;
const LAST_EVENT_ID = /^([0-9]{1,16})(?:\.([1-9][0-9]{0,5}))?$/;

export function registerEventRoutes(app: FastifyInstance, context: RouteContext): void {
  const open = new Set<() => void>();
  // Streams never end on their own: end them when the server closes, or close would wait for them.
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  addRoute(app, context, eventsRoute, async ({ query }, request, reply) => {
    const start = startOf(request.headers['last-event-id'], query.from_index ?? 0);
    if (!start.ok) return failed(start.error);
    const known = Math.max(context.service.clusterStatus().commitIndex, context.service.raftHeaders().appliedIndex);
    if (start.position.index > known + 1) {
      return failed(issuesError('invalid_query', [{
        path: start.field, code: 'too_big', message: `${start.field} ${start.position.index} is beyond this node's commit index ${known}; resume from at most ${known + 1}`,
      }]));
    }
    const full = (): Answer => failed(nodeErrorToApi({ code: 'overloaded', retryAfterMs: STREAMS_RETRY_AFTER_MS }));
    if (open.size >= MAX_OPEN_STREAMS) return full();
    const first = await readPage(context, start.position, undefined);
    // Others may have opened streams while this one read its first page.
    if (open.size >= MAX_OPEN_STREAMS) return full();
    if (!first.ok) {
      const error = first.error;
      // A stale read is served where it arrives: it never answers not_leader.
      assert(error.code !== 'not_leader', 'a stale read answered not_leader');
      return failed(nodeErrorToApi(error));
    }
    return streamEvents(context, request, reply, first.value, open);
  });
}

type Start = { ok: true; position: EventPosition; field: string } | { ok: false; error: ApiError };

/** Last-Event-ID `N` resumes after entry N, `N.k` after its k-th change; from_index=N starts at entry N. */
function startOf(lastEventId: string | string[] | undefined, fromIndex: number): Start {
  if (lastEventId === undefined) return { ok: true, position: { index: fromIndex, skip: 0 }, field: 'from_index' };
  const match = typeof lastEventId === 'string' ? LAST_EVENT_ID.exec(lastEventId.trim()) : null;
  if (match === null) {
    const message = 'Last-Event-ID must be an event id this stream sent: <index> or <index>.<n>';
    return { ok: false, error: issuesError('invalid_query', [{ path: 'last-event-id', code: 'invalid_format', message }]) };
  }
  const index = Number(match[1]);
  const position = match[2] === undefined ? { index: index + 1, skip: 0 } : { index, skip: Number(match[2]) };
  return { ok: true, position, field: 'last-event-id' };
}

/** Reads the page at `from`; with waitMs, first waits (on the applied-index wake-up) until entry from.index is applied. */
function readPage(context: RouteContext, from: EventPosition, waitMs: number | undefined): Promise<Outcome<ReadResult<EventPage>>> {
  const options = waitMs === undefined ? { level: 'stale' as const, waitMs: 0 } : { level: 'stale' as const, minIndex: from.index, waitMs };
  return context.service.read(options, (queries) => queries.eventPage(from));
}

async function streamEvents(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  first: ReadResult<EventPage>,
  open: Set<() => void>,
): Promise<Answer> {
  const raw = reply.raw;
  reply.hijack();
  raw.writeHead(200, streamHeaders(context, request, first));
  // A consumer that is caught up must see the 200 now, not with the first event.
  raw.flushHeaders();
  const closed = new Promise<void>((resolve) => raw.once('close', resolve));
  const end = (): void => void raw.end();
  open.add(end);
  try {
    let page = first.value;
    while (!raw.destroyed && !raw.writableEnded) {
      if (!(await writePage(raw, page.events, closed))) break;
      const next = await nextPage(context, page.next, raw, closed);
      if (next === undefined) break;
      page = next;
    }
  } finally {
    open.delete(end);
    if (!raw.writableEnded) raw.end();
  }
  return { kind: 'streamed' };
}

function streamHeaders(context: RouteContext, request: FastifyRequest, first: ReadResult<EventPage>): Record<string, string> {
  const raft = context.service.raftHeaders();
  return {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
    'x-request-id': request.id,
    'x-raft-term': String(raft.term),
    'x-raft-leader': raft.leaderId,
    'x-served-by': raft.servedBy,
    [RAFT_INDEX_HEADER]: String(first.appliedIndex),
    ...(first.stalenessMs === undefined ? {} : { 'x-staleness-ms': String(Math.ceil(first.stalenessMs)) }),
    ...(first.lagEntries === undefined ? {} : { 'x-raft-lag-entries': String(first.lagEntries) }),
  };
}

/** Writes the page, waiting for 'drain' whenever the socket is full; false if the client went away. */
async function writePage(raw: ServerResponse, events: readonly PositionedEvent[], closed: Promise<void>): Promise<boolean> {
  for (const { index, sub, event } of events) {
    const id = sub === 0 ? String(index) : `${index}.${sub}`;
    const data = jsonText({ kind: event.kind, index, record: event.record });
    if (!(await writeDrained(raw, `id: ${id}\ndata: ${data}\n\n`, closed))) return false;
  }
  return !raw.destroyed;
}

/** Writes `text`; when the socket is full, resolves only once it drained (true) or closed (false). */
async function writeDrained(raw: ServerResponse, text: string, closed: Promise<void>): Promise<boolean> {
  if (raw.write(text)) return true;
  return Promise.race([new Promise<boolean>((resolve) => raw.once('drain', () => resolve(true))), closed.then(() => false)]);
}

/** The next page once there is something new, with keep-alive comments while idle; undefined to end the stream. */
async function nextPage(context: RouteContext, from: EventPosition, raw: ServerResponse, closed: Promise<void>): Promise<EventPage | undefined> {
  for (;;) {
    const startedMs = Date.now();
    const outcome = await Promise.race([readPage(context, from, KEEPALIVE_MS), closed.then(() => undefined)]);
    if (outcome === undefined || raw.destroyed) return undefined;
    if (outcome.ok) {
      if (outcome.value.value.events.length > 0 || outcome.value.value.next.index !== from.index) return outcome.value.value;
    } else if (!isIdle(outcome.error)) {
      return undefined;
    }
    // Nothing new: a service that answered before the wait was up must not make this loop spin.
    const leftMs = KEEPALIVE_MS - (Date.now() - startedMs);
    if (leftMs > 0 && !(await sleepUnlessClosed(leftMs, closed))) return undefined;
    if (!(await writeDrained(raw, ': keep-alive\n\n', closed))) return undefined;
  }
}

function isIdle(error: NodeError): boolean {
  return error.code === 'index_not_reached';
}

async function sleepUnlessClosed(ms: number, closed: Promise<void>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const slept = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), ms);
  });
  const result = await Promise.race([slept, closed.then(() => false)]);
  clearTimeout(timer);
  return result;
}
