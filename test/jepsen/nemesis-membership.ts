// Membership changes and leadership transfers under load, through the API
// (POST /v1/cluster/members, DELETE /v1/cluster/members/:id, POST
// /v1/cluster/leadership), sent to the leader (or any member, which forwards).
//
// Two changes, picked by the seed:
// - remove a follower, and at the end of the window stop it, wipe its data
//   and add it again (it joins with --join and is promoted once caught up);
// - add the spare node (n<N+1>) as a learner that is promoted to voter, and at
//   the end of the window remove it and stop it.
// A joining node learns its peers' URLs from the member it joins through, so
// its outgoing links are that member's proxied links (docs/jepsen.md).

import type { Answer } from './client.js';
import type { Cluster } from './cluster.js';
import type { Nemesis, NemesisContext } from './nemesis.js';
import { followerOf, leaderOrAny } from './nemesis.js';

async function admin(cluster: Cluster, target: string, method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const outcome = await cluster.adminClient.send(cluster.node(target).url, { method, path, ...(body !== undefined ? { body } : {}) });
  if (outcome.kind === 'error') return { ok: false, error: outcome.error };
  const answer: Answer = outcome.answer;
  return { ok: answer.status >= 200 && answer.status < 300, status: answer.status, body: answer.body };
}

async function addMember(context: NemesisContext, id: string): Promise<Record<string, unknown>> {
  const leader = await leaderOrAny(context);
  const added = await admin(context.cluster, leader, 'POST', '/v1/cluster/members', { id, url: context.cluster.peerUrl(leader, id), voter: true });
  if (added.ok !== true) return { add: added };
  context.cluster.node(id).member = true;
  let started: string = 'ok';
  await context.cluster.startJoiner(id).catch((error: unknown) => {
    started = String(error);
  });
  return { add: added, started };
}

async function removeMember(context: NemesisContext, id: string): Promise<Record<string, unknown>> {
  const target = (await context.cluster.findLeader()) ?? context.cluster.reachableMembers().find((n) => n.id !== id)?.id ?? id;
  const removed = await admin(context.cluster, target, 'DELETE', `/v1/cluster/members/${id}`);
  if (removed.ok === true) context.cluster.node(id).member = false;
  return { remove: removed };
}

/** The members in the leader's GET /v1/cluster (voters only if asked), if a leader answers. */
async function memberIdsSeenByLeader(context: NemesisContext, votersOnly = false): Promise<string[] | undefined> {
  const leader = await context.cluster.findLeader();
  if (!leader) return undefined;
  const outcome = await context.cluster.client.send(context.cluster.node(leader).url, { method: 'GET', path: '/v1/cluster' });
  if (outcome.kind !== 'answer' || outcome.answer.status !== 200 || !Array.isArray(outcome.answer.body?.members)) return undefined;
  return (outcome.answer.body.members as { id: string; voter: boolean }[]).filter((m) => !votersOnly || m.voter).map((m) => m.id);
}

export const membership: Nemesis = {
  name: 'membership',
  startF: 'member-change',
  stopF: 'member-restore',
  start: async (context) => {
    const cluster = context.cluster;
    const spare = cluster.ids().find((id) => !cluster.node(id).member);
    if (spare !== undefined && context.rng.chance(0.5)) {
      const details = { change: 'add-learner-promote', node: spare, ...(await addMember(context, spare)) };
      return {
        details,
        stop: async () => {
          if (!cluster.node(spare).member) {
            cluster.kill(spare);
            return { node: spare, note: 'was not added' };
          }
          const result = await removeMember(context, spare);
          if (!cluster.node(spare).member) {
            cluster.kill(spare);
            await cluster.waitExited(spare);
          }
          return { node: spare, ...result };
        },
      };
    }
    const victim = await followerOf(context);
    const details = { change: 'remove-readd', node: victim, ...(await removeMember(context, victim)) };
    return {
      details,
      stop: async () => {
        if (cluster.node(victim).member) return { node: victim, note: 'was not removed' };
        // An acknowledged removal must be in the configuration. If it is not,
        // say so (the history keeps it) and keep the node: wiping a voter's
        // data would break Raft's assumptions, not test them.
        const members = await memberIdsSeenByLeader(context);
        if (members?.includes(victim)) {
          cluster.node(victim).member = true;
          context.log(`ANOMALY: removal of ${victim} was acknowledged but ${victim} is still a member: ${JSON.stringify(members)}`);
          return { node: victim, anomaly: 'acknowledged removal not in effect', members };
        }
        cluster.kill(victim);
        await cluster.waitExited(victim);
        return { node: victim, ...(await addMember(context, victim)) };
      },
    };
  },
};

export const leadership: Nemesis = {
  name: 'leadership',
  startF: 'leadership-transfer',
  stopF: 'leadership-settled',
  start: async (context) => {
    const leader = await leaderOrAny(context);
    // Only a voter can take over; a learner still catching up would be refused.
    const voters = (await memberIdsSeenByLeader(context, true)) ?? context.cluster.memberIds();
    const to = voters.filter((id) => id !== leader);
    const target = to.length > 0 ? context.rng.pick(to) : undefined;
    const result = await admin(context.cluster, leader, 'POST', '/v1/cluster/leadership', target !== undefined ? { to: target } : {});
    return {
      details: { from: leader, to: target, result },
      stop: async () => ({ leader: await context.cluster.findLeader() }),
    };
  },
};
