// The nemesis: named faults, each started and later stopped ("healed") by
// the schedule, one at a time. The schedule (which fault, when, for how long,
// and the random choices inside a fault) comes from one seeded PRNG, so a seed
// replays the same schedule; which node is the leader at that moment is the
// cluster's business and may differ between runs.

import type { Prng } from '../../src/lib/prng.js';
import type { Cluster } from './cluster.js';
import type { HistoryWriter } from './history-writer.js';

export interface NemesisContext {
  readonly cluster: Cluster;
  readonly history: HistoryWriter;
  readonly rng: Prng;
  /** Progress lines for the console. */
  readonly log: (line: string) => void;
}

/** A fault in place: what was done, and how to undo it. */
export interface ActiveFault {
  readonly details: Record<string, unknown>;
  readonly stop: () => Promise<Record<string, unknown>>;
}

export interface Nemesis {
  readonly name: string;
  /** History `f` of the start and stop events (e.g. start-partition / stop-partition). */
  readonly startF: string;
  readonly stopF: string;
  /** Why it cannot run here, if it cannot (printed, and recorded in run.json). */
  readonly unavailable?: () => string | undefined;
  readonly start: (context: NemesisContext) => Promise<ActiveFault>;
}

export interface ScheduleOptions {
  readonly timeLimitMs: number;
  /** Quiet time before each fault, ms. */
  readonly quietMs: readonly [number, number];
  /** How long each fault lasts, ms. */
  readonly faultMs: readonly [number, number];
}

export interface ScheduledFault {
  readonly nemesis: Nemesis;
  /** Quiet time after the previous fault healed. */
  readonly quietMs: number;
  /** When it starts if every start and heal took no time (they do take time: a restart may take seconds). */
  readonly atMs: number;
  readonly durationMs: number;
  /** Part of the first round, which runs whole even past the time limit. */
  readonly required: boolean;
}

/**
 * The faults of a run, in order: every selected nemesis once in a seeded
 * order first (`required`: the run lasts past its time limit until they have
 * all run, so a short run or a slow restart still sees each), then seeded
 * picks while they fit in the time limit.
 */
export function schedule(nemeses: readonly Nemesis[], rng: Prng, options: ScheduleOptions): ScheduledFault[] {
  const faults: ScheduledFault[] = [];
  if (nemeses.length === 0) return faults;
  const firstRound = rng.shuffle([...nemeses]);
  let atMs = 0;
  for (let i = 0; ; i++) {
    const quietMs = rng.int(options.quietMs[0], options.quietMs[1]);
    atMs += quietMs;
    const durationMs = rng.int(options.faultMs[0], options.faultMs[1]);
    const required = i < firstRound.length;
    if (!required && atMs + durationMs > options.timeLimitMs) break;
    const nemesis = required ? (firstRound[i] as Nemesis) : rng.pick(nemeses);
    faults.push({ nemesis, quietMs, atMs, durationMs, required });
    atMs += durationMs;
  }
  return faults;
}

/** Current leader, or a random reachable member when none is known. */
export async function leaderOrAny(context: NemesisContext): Promise<string> {
  const leader = await context.cluster.findLeader();
  if (leader) return leader;
  return context.rng.pick(context.cluster.reachableMembers().map((n) => n.id));
}

export async function followerOf(context: NemesisContext): Promise<string> {
  const leader = await context.cluster.findLeader();
  const others = context.cluster.reachableMembers().map((n) => n.id).filter((id) => id !== leader);
  return context.rng.pick(others.length > 0 ? others : context.cluster.memberIds());
}
