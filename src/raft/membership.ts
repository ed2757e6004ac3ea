// Membership: the encoding of a one-server change as a log entry and how it
// transforms a ConfState. A configuration takes effect as soon as its entry is
// in a server's log, committed or not (Raft thesis §4.1); the core keeps the
// list of configurations in its log so that a truncated suffix takes its
// configurations with it.

import { assert } from '../lib/assert.js';
import type { ConfChange, ConfState, Entry, HardState, NodeId } from './types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(change: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: change.type, nodeId: change.nodeId, context: change.context }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const value: unknown = JSON.parse(decoder.decode(data));
  assert(typeof value === 'object' && value !== null, 'conf change is not an object');
  const { type, nodeId, context } = value as Record<string, unknown>;
  assert(type === 'addVoter' || type === 'addLearner' || type === 'removeNode', `bad conf change type ${String(type)}`);
  assert(typeof nodeId === 'string' && nodeId.length > 0, 'conf change without node id');
  assert(typeof context === 'string', 'conf change context must be a string');
  return { type, nodeId, context };
}

/** Why a change cannot apply to a configuration, or undefined if it can. */
export function validateConfChange(conf: ConfState, change: ConfChange): string | undefined {
  const isVoter = conf.voters.includes(change.nodeId);
  const isLearner = conf.learners.includes(change.nodeId);
  switch (change.type) {
    case 'addVoter':
      return isVoter ? `${change.nodeId} is already a voter` : undefined;
    case 'addLearner':
      if (isVoter) return `${change.nodeId} is a voter; remove it before adding it as a learner`;
      return isLearner ? `${change.nodeId} is already a learner` : undefined;
    case 'removeNode':
      if (!isVoter && !isLearner) return `${change.nodeId} is not a member`;
      if (isVoter && conf.voters.length === 1) return 'cannot remove the last voter';
      return undefined;
  }
}

/**
 * Applies a change. Invalid changes leave the configuration as it is, the same
 * way on every replica (the leader validates before proposing; this guards
 * against a change that raced with another).
 */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  if (validateConfChange(conf, change) !== undefined) return conf;
  const without = (ids: readonly NodeId[]): NodeId[] => ids.filter((id) => id !== change.nodeId);
  switch (change.type) {
    case 'addVoter':
      return { voters: sorted([...conf.voters, change.nodeId]), learners: without(conf.learners) };
    case 'addLearner':
      return { voters: [...conf.voters], learners: sorted([...conf.learners, change.nodeId]) };
    case 'removeNode':
      return { voters: without(conf.voters), learners: without(conf.learners) };
  }
}

function sorted(ids: NodeId[]): NodeId[] {
  return ids.sort();
}

export function sameConf(a: ConfState, b: ConfState): boolean {
  return a.voters.join(',') === b.voters.join(',') && a.learners.join(',') === b.learners.join(',');
}

/**
 * The first entries of a new cluster's log: one addVoter per initial member,
 * at term 1, already committed. Every founding node writes the same bytes, so
 * the membership travels in the log to nodes that join later, like any other
 * change. The URLs stay out (context is empty): each node has its own list.
 */
export function bootstrapLog(voters: readonly NodeId[]): { entries: Entry[]; hardState: HardState } {
  assert(voters.length > 0, 'bootstrap needs at least one voter');
  assert(new Set(voters).size === voters.length, 'bootstrap voters must be distinct');
  const entries = [...voters].sort().map(
    (nodeId, i): Entry => ({
      term: 1,
      index: i + 1,
      type: 'conf',
      data: encodeConfChange({ type: 'addVoter', nodeId, context: '' }),
    }),
  );
  return { entries, hardState: { term: 1, vote: '', commit: entries.length } };
}
