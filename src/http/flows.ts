// The two ways a route reaches the node. A write proposes one command and
// answers `{"results": [...], "index"}` with the committed entry's index (200
// even when items failed: business refusals are results, not statuses); a
// follower forwards it to the leader or redirects. A read runs a query at the
// consistency the client asked for and sets the headers that describe the
// state it saw; on_stale=forward sends it to the leader instead of a 503.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Command, type CommandResult, type LedgerQueries } from '../ledger/index.js';
import type { NodeError, Outcome } from '../node/service.js';
import { apiError } from './errors.js';
import { wasForwarded } from './forward.js';
import { nodeErrorToApi } from './node-errors.js';
import type { ReadQuery } from './request-schemas.js';
import { failed, ok, type Answer, type RouteContext } from './route.js';

export const RAFT_INDEX_HEADER = 'x-raft-index';

export async function submitWrite(context: RouteContext, request: FastifyRequest, reply: FastifyReply, command: Command, redirect: boolean): Promise<Answer> {
  const outcome = await context.service.write(command, context.limits.writeTimeoutMs);
  if (!outcome.ok) return onNodeError(context, request, reply, outcome.error, redirect);
  const { index, result } = outcome.value;
  reply.header(RAFT_INDEX_HEADER, String(index));
  const results = resultsOf(result);
  if (results === undefined) {
    request.log.error({ command: command.type, result_type: result.type }, 'the state machine answered a write without per-item results');
    return failed(apiError('internal_error', `entry ${index} was applied but its result has type ${result.type}`));
  }
  return ok({ results, index });
}

function resultsOf(result: CommandResult): readonly unknown[] | undefined {
  return 'results' in result ? result.results : undefined;
}

/** Runs an operator action (membership, leadership, snapshot) with the same not_leader handling as writes. */
export async function submitAdmin<T>(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  redirect: boolean,
  action: () => Promise<Outcome<T>>,
  present: (value: T) => unknown,
): Promise<Answer> {
  const outcome = await action();
  if (!outcome.ok) return onNodeError(context, request, reply, outcome.error, redirect);
  return ok(present(outcome.value));
}

async function onNodeError(context: RouteContext, request: FastifyRequest, reply: FastifyReply, error: NodeError, redirect: boolean): Promise<Answer> {
  if (error.code !== 'not_leader') return failed(nodeErrorToApi(error));
  return context.forwarder.toLeader(request, reply, error, redirect);
}

/**
 * Reads at the requested consistency; `present` turns the query's value into
 * the answer (a 404 when the query found nothing). The Raft index and, for
 * stale reads, X-Staleness-Ms and X-Raft-Lag-Entries describe the state served.
 */
export async function serveRead<T>(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  read: ReadQuery,
  query: (queries: LedgerQueries) => T,
  present: (value: T) => Answer,
): Promise<Answer> {
  const outcome = await context.service.read(read.options, query);
  if (outcome.ok) {
    const { value, appliedIndex, stalenessMs, lagEntries } = outcome.value;
    reply.header(RAFT_INDEX_HEADER, String(appliedIndex));
    if (stalenessMs !== undefined) reply.header('x-staleness-ms', String(Math.ceil(stalenessMs)));
    if (lagEntries !== undefined) reply.header('x-raft-lag-entries', String(lagEntries));
    return present(value);
  }
  const error = outcome.error;
  if (error.code === 'not_leader') return context.forwarder.toLeader(request, reply, error, read.redirect, read.options.waitMs);
  // A node that is the leader, or got the read forwarded already, answers the staleness error itself.
  const leaderId = context.service.raftHeaders().leaderId;
  if (error.code === 'staleness_bound_exceeded' && read.forwardOnStale && !wasForwarded(request) && leaderId !== context.service.nodeId) {
    const target = { leaderId, leaderUrl: leaderId === '' ? undefined : context.service.peerUrl(leaderId) };
    return context.forwarder.toLeader(request, reply, target, read.redirect, read.options.waitMs);
  }
  return failed(nodeErrorToApi(error));
}
