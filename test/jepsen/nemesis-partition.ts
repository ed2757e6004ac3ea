// Partitions of the peer links, through the run's network (net.ts: the proxy
// mesh, or iptables rules between network namespaces): every one drops
// directed links between current members and heals by opening every link.
// Client traffic is never cut (clients reach every node, as in Jepsen); a
// follower's forwarding to the leader is.

import { bothWays, type DirectedLink } from './net.js';
import type { Nemesis, NemesisContext } from './nemesis.js';
import { leaderOrAny } from './nemesis.js';

/** A partition: `cut` chooses the links to drop and answers what it chose. */
function partition(name: string, cut: (context: NemesisContext) => Promise<{ links: DirectedLink[]; details: Record<string, unknown> }>): Nemesis {
  return {
    name,
    startF: 'start-partition',
    stopF: 'stop-partition',
    start: async (context) => {
      const { links, details } = await cut(context);
      await context.cluster.net.drop(links);
      return {
        details: { ...details, blocked: context.cluster.net.blocked() },
        stop: async () => {
          await context.cluster.net.healAll();
          return {};
        },
      };
    },
  };
}

function shuffledMembers(context: NemesisContext): string[] {
  return context.rng.shuffle(context.cluster.memberIds());
}

/** Both directions between every two groups. */
function between(groups: readonly string[][]): DirectedLink[] {
  const links: DirectedLink[] = [];
  for (let i = 0; i < groups.length; i++) {
    for (let j = i + 1; j < groups.length; j++) links.push(...bothWays(groups[i] as string[], groups[j] as string[]));
  }
  return links;
}

export const partitionRandomHalves = partition('partition-random-halves', async (context) => {
  const members = shuffledMembers(context);
  const half = Math.floor(members.length / 2);
  const groups = [members.slice(0, half), members.slice(half)];
  return { links: between(groups), details: { groups } };
});

export const partitionLeader = partition('partition-leader', async (context) => {
  const leader = await leaderOrAny(context);
  const others = context.cluster.memberIds().filter((id) => id !== leader);
  const groups = [[leader], others];
  return { links: between(groups), details: { isolated: leader, groups } };
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
  const links: DirectedLink[] = [];
  const cuts: string[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const distance = Math.min(j - i, n - (j - i));
      if (distance > reach || (n === 3 && i === 0 && j === 1)) {
        links.push(...bothWays([ring[i] as string], [ring[j] as string]));
        cuts.push(`${ring[i]}<->${ring[j]}`);
      }
    }
  }
  return { links, details: { ring, cuts } };
});

/** Two halves that only one node (the bridge) connects. */
export const partitionBridge = partition('partition-bridge', async (context) => {
  const members = shuffledMembers(context);
  const middle = Math.floor(members.length / 2);
  const left = members.slice(0, middle);
  const right = members.slice(middle + 1);
  return { links: bothWays(left, right), details: { bridge: members[middle], groups: [left, right] } };
});

/** One node's outgoing (or incoming) links only: it cannot reach the others, they still reach it (or the reverse). */
export const partitionOneWay = partition('partition-one-way', async (context) => {
  const target = context.rng.chance(0.5) ? await leaderOrAny(context) : context.rng.pick(context.cluster.memberIds());
  const direction = context.rng.chance(0.5) ? 'outbound' : 'inbound';
  const others = context.cluster.memberIds().filter((other) => other !== target);
  const links = others.map((other): DirectedLink => (direction === 'outbound' ? [target, other] : [other, target]));
  return { links, details: { node: target, direction } };
});

export const PARTITIONS: readonly Nemesis[] = [partitionRandomHalves, partitionLeader, partitionMajoritiesRing, partitionBridge, partitionOneWay];
