// Cluster status and operator actions. GET /v1/cluster reports this node's own
// view (members' progress is known on the leader); GET /v1/cluster/nodes asks
// every member for its own (the operator console's member table); the
// mutations go through the leader like writes and need the admin scope.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { ClusterStatus, MemberStatus } from '../../node/service.js';
import { unreachable } from '../../lib/assert.js';
import { submitAdmin } from '../flows.js';
import { clusterStatusSchema, errorBodySchema, type clusterNodesSchema } from '../response-schemas.js';
import { addRoute, ok, type RouteContext } from '../route.js';

/** A member that does not answer its status within this (a paused or partitioned node) is reported as not answering. */
export const NODE_STATUS_TIMEOUT_MS = 1500;

type NodeView = z.output<typeof clusterNodesSchema>['nodes'][number];

export function registerClusterRoutes(app: FastifyInstance, context: RouteContext): void {
  const { service, limits, routes } = context;

  addRoute(app, context, routes.getCluster, async () => ok(renderCluster(service.clusterStatus())));

  addRoute(app, context, routes.getClusterNodes, async (_input, request) => {
    const local = service.clusterStatus();
    const nodes = await Promise.all(local.members.map((member): Promise<NodeView> | NodeView =>
      member.id === local.id ? { id: member.id, url: member.url ?? null, status: renderCluster(local), error: null } : askMember(context, request, member)));
    return ok({ nodes });
  });

  addRoute(app, context, routes.addMember, ({ query, body }, request, reply) => {
    const voter = body.voter ?? true;
    return submitAdmin(context, request, reply, query.redirect ?? false, () => service.addMember(body.id, body.url, voter, limits.adminTimeoutMs),
      ({ index }) => ({ id: body.id, url: body.url, voter, index }));
  });

  addRoute(app, context, routes.removeMember, ({ params, query }, request, reply) =>
    submitAdmin(context, request, reply, query.redirect ?? false, () => service.removeMember(params.id, limits.adminTimeoutMs),
      ({ index }) => ({ id: params.id, index })));

  addRoute(app, context, routes.transferLeadership, ({ query, body }, request, reply) =>
    submitAdmin(context, request, reply, query.redirect ?? false, () => service.transferLeadership(body.to, limits.adminTimeoutMs),
      ({ leader }) => ({ leader })));

  addRoute(app, context, routes.takeSnapshot, ({ query }, request, reply) =>
    submitAdmin(context, request, reply, query.redirect ?? false, () => service.takeSnapshot(), ({ index }) => ({ index })));
}

/** One member's GET /v1/cluster, with the caller's token; what went wrong instead when it did not answer 200 in time. */
async function askMember(context: RouteContext, request: FastifyRequest, member: MemberStatus): Promise<NodeView> {
  const view = (status: NodeView['status'], code: string, message: string): NodeView =>
    ({ id: member.id, url: member.url ?? null, status, error: status === null ? { code, message } : null });
  if (member.url === undefined) return view(null, 'no_url', `this node knows no URL for ${member.id}`);
  const asked = await context.forwarder.ask(request, member.url, '/v1/cluster', NODE_STATUS_TIMEOUT_MS);
  if (!asked.ok) {
    const silent = asked.error.code === 'forward_timeout';
    return view(null, silent ? 'no_answer' : 'unreachable', silent ? `${member.id} did not answer within ${NODE_STATUS_TIMEOUT_MS} ms` : `${member.id} could not be reached`);
  }
  const body = parseJson(asked.answer.body.toString('utf8'));
  if (asked.answer.status !== 200) {
    const error = errorBodySchema.safeParse(body);
    return view(null, error.success ? error.data.error.code : 'bad_answer', error.success ? error.data.error.message : `${member.id} answered ${asked.answer.status}`);
  }
  const status = clusterStatusSchema.safeParse(body);
  return status.success ? view(status.data, '', '') : view(null, 'bad_answer', `${member.id} answered a status this node cannot read`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Role names in the API are snake_case like every other name in it. */
function roleName(role: ClusterStatus['role']): 'follower' | 'candidate' | 'leader' | 'pre_candidate' {
  switch (role) {
    case 'follower':
    case 'candidate':
    case 'leader':
      return role;
    case 'preCandidate':
      return 'pre_candidate';
    default:
      return unreachable(role, 'role');
  }
}

function renderMember(member: MemberStatus) {
  return {
    id: member.id,
    url: member.url ?? null,
    voter: member.voter,
    match_index: member.matchIndex ?? null,
    lag_entries: member.lagEntries ?? null,
    last_contact_ms: member.lastContactMs ?? null,
    lag_ms: member.lagMs === undefined ? null : Math.round(member.lagMs),
  };
}

export function renderCluster(status: ClusterStatus) {
  return {
    id: status.id,
    role: roleName(status.role),
    term: status.term,
    leader: status.leader === '' ? null : status.leader,
    commit_index: status.commitIndex,
    applied_index: status.appliedIndex,
    last_log_index: status.lastLogIndex,
    snapshot_index: status.snapshotIndex,
    members: status.members.map(renderMember),
    leader_changes: status.leaderChanges.map((change) => ({ leader: change.leader, term: change.term, at_ms: change.atWallMs })),
  };
}
