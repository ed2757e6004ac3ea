// Majority arithmetic over a set of voters: the commit index a quorum has
// reached, and the outcome of a vote. Pure functions; the callers supply the
// numbers (Raft §5.3, §5.2).

import type { NodeId } from './types.js';

/** How many voters make a majority of `voterCount` voters. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a majority of voters has acknowledged. With no
 * voters there is no quorum to wait for, so the answer is +Infinity, the
 * identity for min() (a node outside the membership never commits on its own).
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => number): number {
  if (voters.length === 0) return Number.POSITIVE_INFINITY;
  const indexes = voters.map(acked).sort((a, b) => b - a);
  return indexes[quorumSize(voters.length) - 1] as number;
}

export type VoteResult = 'won' | 'lost' | 'pending';

export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    else if (vote === false) rejected++;
  }
  const needed = quorumSize(voters.length);
  if (granted >= needed) return 'won';
  if (voters.length - rejected < needed) return 'lost';
  return 'pending';
}
