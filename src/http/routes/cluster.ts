// Cluster status and operator actions. GET /v1/cluster reports this node's own
// view (members' progress is known on the leader); the mutations go through
// the leader like writes and need the admin scope.

import type { FastifyInstance } from 'fastify';
import type { ClusterStatus, MemberStatus } from '../../node/service.js';
import { unreachable } from '../../lib/assert.js';
import { submitAdmin } from '../flows.js';
import { addRoute, ok, type RouteContext } from '../route.js';

export function registerClusterRoutes(app: FastifyInstance, context: RouteContext): void {
  const { service, limits, routes } = context;

  addRoute(app, context, routes.getCluster, async () => ok(renderCluster(service.clusterStatus())));

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

/** Role names in the API are snake_case like every other name in it. */
function roleName(role: ClusterStatus['role']): string {
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
  };
}
