// Process faults: SIGKILL and restart on the same data (one node, a minority,
// the leader, every member), and SIGSTOP/SIGCONT of the leader or a follower.

import type { Nemesis, NemesisContext } from './nemesis.js';
import { followerOf, leaderOrAny } from './nemesis.js';

function kill(name: string, victims: (context: NemesisContext) => Promise<string[]>): Nemesis {
  return {
    name,
    startF: 'kill',
    stopF: 'restart',
    start: async (context) => {
      const nodes = await victims(context);
      for (const id of nodes) context.cluster.kill(id);
      for (const id of nodes) await context.cluster.waitExited(id);
      return {
        details: { nodes },
        stop: async () => {
          const failed: Record<string, string> = {};
          await Promise.all(
            nodes.map((id) => context.cluster.restart(id).catch((error: unknown) => {
              failed[id] = String(error);
            })),
          );
          return { nodes, ...(Object.keys(failed).length > 0 ? { failed } : {}) };
        },
      };
    },
  };
}

export const killOne = kill('kill-one', async (context) => [context.rng.pick(context.cluster.memberIds())]);
export const killMinority = kill('kill-minority', async (context) => {
  const members = context.rng.shuffle(context.cluster.memberIds());
  return members.slice(0, Math.max(1, Math.floor((members.length - 1) / 2)));
});
export const killLeader = kill('kill-leader', async (context) => [await leaderOrAny(context)]);
export const killAll = kill('kill-all', async (context) => context.cluster.memberIds());

function pause(name: string, victim: (context: NemesisContext) => Promise<string>): Nemesis {
  return {
    name,
    startF: 'pause',
    stopF: 'resume',
    start: async (context) => {
      const node = await victim(context);
      context.cluster.pause(node);
      return {
        details: { node },
        stop: async () => {
          context.cluster.resume(node);
          return { node };
        },
      };
    },
  };
}

export const pauseLeader = pause('pause-leader', leaderOrAny);
export const pauseFollower = pause('pause-follower', followerOf);

export const KILLS: readonly Nemesis[] = [killOne, killMinority, killLeader, killAll];
export const PAUSES: readonly Nemesis[] = [pauseLeader, pauseFollower];
