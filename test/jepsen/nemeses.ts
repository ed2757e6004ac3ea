// Every nemesis by name, and the group names --nemesis accepts
// (partition, kill, pause, all). `all` leaves out clock-rate-beyond: its
// stale lease reads and broken staleness bounds are expected, so it runs
// only with the checks that rely on clock rates relaxed (clockCheckRefusal).

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

/** What the checkers hold that a node proves with its own clock's rate. */
export interface ClockChecks {
  /** Lease reads are linearizable (the lease assumes clock rates within the drift). */
  readonly leaseLinearizable: boolean;
  /** Stale reads keep their max_staleness_ms (a node measures its staleness on its own clock). */
  readonly stalenessBounds: boolean;
}

/**
 * Why these nemeses cannot run with these checks, or undefined:
 * clock-rate-beyond runs a clock past the drift ratio the cluster allows
 * for, where a stale lease read, or a stale read older than its bound on
 * the slowed node, is the documented consequence, not a bug.
 */
export function clockCheckRefusal(nemeses: readonly Nemesis[], checks: ClockChecks): string | undefined {
  if (!nemeses.includes(clockRateBeyond) || (!checks.leaseLinearizable && !checks.stalenessBounds)) return undefined;
  return (
    '--nemesis clock-rate-beyond runs one node\'s clocks beyond the drift ratio the cluster allows for, where lease reads ' +
    'may be stale and a stale read may be older than its max_staleness_ms by design: add --no-lease-linearizable and ' +
    '--no-staleness-bounds (such reads are then held to min_index only), and re-check the run folder with ' +
    '--check DIR --strict to see whether any was'
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
