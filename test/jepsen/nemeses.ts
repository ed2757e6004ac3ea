// Every nemesis by name, and the group names --nemesis accepts
// (partition, kill, pause, all).

import { clockSkew } from './nemesis-clock.js';
import { diskFull } from './nemesis-disk.js';
import { leadership, membership } from './nemesis-membership.js';
import { PARTITIONS } from './nemesis-partition.js';
import { KILLS, PAUSES } from './nemesis-process.js';
import type { Nemesis } from './nemesis.js';

export const ALL_NEMESES: readonly Nemesis[] = [...PARTITIONS, ...KILLS, ...PAUSES, clockSkew, membership, leadership, diskFull];

const GROUPS: Record<string, readonly Nemesis[]> = {
  partition: PARTITIONS,
  kill: KILLS,
  pause: PAUSES,
  all: ALL_NEMESES,
  none: [],
};

/** The nemeses a comma-separated list names; throws naming an unknown entry. */
export function resolveNemeses(list: string): Nemesis[] {
  const chosen: Nemesis[] = [];
  for (const name of list.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const group = GROUPS[name] ?? ALL_NEMESES.filter((n) => n.name === name);
    if (group.length === 0 && GROUPS[name] === undefined) throw new Error(`--nemesis: unknown nemesis "${name}"; known: ${[...Object.keys(GROUPS), ...ALL_NEMESES.map((n) => n.name)].join(', ')}`);
    for (const nemesis of group) if (!chosen.includes(nemesis)) chosen.push(nemesis);
  }
  return chosen;
}
