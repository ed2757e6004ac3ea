// Every nemesis by name, and the group names --nemesis accepts
// (partition, kill, pause, all). `all` leaves out clock-rate-beyond: its
// stale lease reads are expected, so it runs only with lease reads not held
// to linearizability (leaseCheckRefusal).

import { clockSkew } from './nemesis-clock.js';
import { clockRateBeyond, clockRateWithin } from './nemesis-clock-rate.js';
import { diskFull } from './nemesis-disk.js';
import { leadership, membership } from './nemesis-membership.js';
import { PARTITIONS } from './nemesis-partition.js';
import { KILLS, PAUSES } from './nemesis-process.js';
import type { Nemesis } from './nemesis.js';

export const ALL_NEMESES: readonly Nemesis[] = [...PARTITIONS, ...KILLS, ...PAUSES, clockSkew, clockRateWithin, clockRateBeyond, membership, leadership, diskFull];

const GROUPS: Record<string, readonly Nemesis[]> = {
  partition: PARTITIONS,
  kill: KILLS,
  pause: PAUSES,
  all: ALL_NEMESES.filter((n) => n !== clockRateBeyond),
  none: [],
};

/**
 * Why these nemeses cannot run with lease reads held to linearizability, or
 * undefined: clock-rate-beyond runs a clock past the drift the leases allow
 * for, where a stale lease read is the documented consequence, not a bug.
 */
export function leaseCheckRefusal(nemeses: readonly Nemesis[], leaseLinearizable: boolean): string | undefined {
  if (!leaseLinearizable || !nemeses.includes(clockRateBeyond)) return undefined;
  return (
    '--nemesis clock-rate-beyond runs one node\'s clock beyond the drift ratio the leases allow for, where lease reads ' +
    'may be stale by design: add --no-lease-linearizable (lease reads are then checked like stale reads without a bound), and re-check ' +
    'the run folder with --check DIR --lease-linearizable to see whether any lease read was stale'
  );
}

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
