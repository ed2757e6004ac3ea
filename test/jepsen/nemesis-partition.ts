// Partitions of the peer links, through the proxy mesh (proxy.ts): every one
// cuts links between current members and heals by opening every link. Client
// traffic does not go through the proxies (clients reach every node, as in
// Jepsen); a follower's forwarding to the leader does.

import type { Nemesis, NemesisContext } from './nemesis.js';
import { leaderOrAny } from './nemesis.js';

function partition(name: string, cut: (context: NemesisContext) => Promise<Record<string, unknown>>): Nemesis {
  return {
    name,
    startF: 'start-partition',
    stopF: 'stop-partition',
    start: async (context) => {
      const details = await cut(context);
      return {
        details: { ...details, blocked: context.cluster.mesh.blocked() },
        stop: async () => {
          context.cluster.mesh.healAll();
          return {};
        },
      };
    },
  };
}

function shuffledMembers(context: NemesisContext): string[] {
  return context.rng.shuffle(context.cluster.memberIds());
}

/** Cuts both directions between the two groups; answers the groups. */
function cutGroups(context: NemesisContext, groups: string[][]): Record<string, unknown> {
  for (let i = 0; i < groups.length; i++) {
    for (let j = i + 1; j < groups.length; j++) context.cluster.mesh.cut(groups[i] as string[], groups[j] as string[]);
  }
  return { groups };
}

export const partitionRandomHalves = partition('partition-random-halves', async (context) => {
  const members = shuffledMembers(context);
  const half = Math.floor(members.length / 2);
  return cutGroups(context, [members.slice(0, half), members.slice(half)]);
});

export const partitionLeader = partition('partition-leader', async (context) => {
  const leader = await leaderOrAny(context);
  const others = context.cluster.memberIds().filter((id) => id !== leader);
  return { isolated: leader, ...cutGroups(context, [[leader], others]) };
});

/**
 * Every node sees a majority, and no two see the same one: on a ring, links
 * beyond ring distance d are cut, where d lets a node see a majority. With 3
 * nodes that is the whole ring, so one link is cut instead (each node still
 * sees a majority, two of them a different one).
 */
export const partitionMajoritiesRing = partition('partition-majorities-ring', async (context) => {
  const ring = shuffledMembers(context);
  const n = ring.length;
  const majority = Math.floor(n / 2) + 1;
  const reach = Math.ceil((majority - 1) / 2);
  const cuts: string[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const distance = Math.min(j - i, n - (j - i));
      if (distance > reach || (n === 3 && i === 0 && j === 1)) {
        context.cluster.mesh.cut([ring[i] as string], [ring[j] as string]);
        cuts.push(`${ring[i]}<->${ring[j]}`);
      }
    }
  }
  return { ring, cuts };
});

/** Two halves that only one node (the bridge) connects. */
export const partitionBridge = partition('partition-bridge', async (context) => {
  const members = shuffledMembers(context);
  const middle = Math.floor(members.length / 2);
  const left = members.slice(0, middle);
  const right = members.slice(middle + 1);
  context.cluster.mesh.cut(left, right);
  return { bridge: members[middle], groups: [left, right] };
});

/** One node's outgoing (or incoming) links only: it cannot reach the others, they still reach it (or the reverse). */
export const partitionOneWay = partition('partition-one-way', async (context) => {
  const target = context.rng.chance(0.5) ? await leaderOrAny(context) : context.rng.pick(context.cluster.memberIds());
  const direction = context.rng.chance(0.5) ? 'outbound' : 'inbound';
  for (const other of context.cluster.memberIds()) {
    if (other === target) continue;
    if (direction === 'outbound') context.cluster.mesh.set(target, other, 'drop');
    else context.cluster.mesh.set(other, target, 'drop');
  }
  return { node: target, direction };
});

export const PARTITIONS: readonly Nemesis[] = [partitionRandomHalves, partitionLeader, partitionMajoritiesRing, partitionBridge, partitionOneWay];
