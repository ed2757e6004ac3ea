// Clock-rate faults: one node's clocks, the monotonic one included, run
// faster or slower than the others'. That is what attacks leader leases:
// a leader may serve reads alone for leaseTicks of its own ticks after a
// quorum answered it, because followers refuse to vote for electionTicks of
// theirs after hearing from it (src/raft/config.ts, leaseTicks); the
// margin between the two is maxClockDriftRatio (ledgerd --max-clock-drift,
// 0.1 by default). The `clock` nemesis (nemesis-clock.ts) moves the wall
// clock only and cannot reach this.
//
// Changing the rate of a running process would make its monotonic clock
// jump (libfaketime computes every reading from the process's start), so
// the node is SIGKILLed and restarted on its data with the rate in effect
// from its first instruction: LD_PRELOAD=libfaketime, FAKETIME="+0 x<rate>",
// monotonic faking on (cluster.ts, clockRateEnv). At the end of the window it
// is SIGKILLed again and restarted at the normal rate.
//
// Measured with Node 20.20 under libfaketime 0.9.10 (Debian 0.9.10-2.1), a
// child printing its clocks every 500 faked ms, timed by an unfaked parent
// over 1.2-5 s of real time:
// - FAKETIME="+0 x2": performance.now(), process.hrtime and Date.now() all
//   advance 2.02 ms per real ms; x0.5: 0.503; x0.92: 0.925; x1.08: 1.087;
//   x1: 1.006 (the same ~0.5% excess with no preload at all: the parent's
//   timing of the first line);
// - libuv's timers follow the faked clock: setInterval(25) fires 39 times
//   per faked second at every rate (79 per real second at x2, 19.7 at x0.5),
//   so ledgerd's ticker and every timeout run at the rate too;
// - with a rate and the offset "+0" CLOCK_MONOTONIC does not keep the
//   system's value: process.hrtime reads the faked wall time (1.8e12 ms
//   instead of the machine's uptime). The process sees that value from its
//   first reading on and it never jumps afterwards, so nothing in ledgerd
//   notices; only a rate change of a running process would jump.
// The wall clock runs at the rate too: a node restarted at x0.5 for 40 s is
// 20 s behind, inside ledgerd's 60 s peer-signature window.
//
// Each window, with the seed's choices:
// - the target: the leader half of the time (restarted, then handed
//   leadership back with POST /v1/cluster/leadership, so the lease in use is
//   the one its slow clock measures), a follower otherwise (its fast clock
//   ends its vote refusal early and starts its elections early);
// - the rate, from maxClockDriftRatio d: `clock-rate` stays inside the
//   bound, leader 1 - f·d and follower 1 + f·d with f in {0.5, 0.9}, where
//   lease reads must stay linearizable; `clock-rate-beyond` exceeds it by
//   a factor: leader 1/(B·k), follower B·1.5, with B = (1+d)/(1-d) the rate
//   ratio the lease allows and k in {1.5, 2.5, 4} (d 0.1: leader 0.545,
//   0.327 or 0.205, follower 1.833), where a lease may outlast the
//   followers' refusal, so lease reads may be stale, and the slowed node's
//   stale reads may be older than their max_staleness_ms (it measures its
//   staleness on its own clock): the runner requires --no-lease-linearizable
//   and --no-staleness-bounds (nemeses.ts, clockCheckRefusal). At 0.205 the
//   lease (15 of its ticks: 3.7 s) outlasts the whole cut, while the others
//   elect within 1-2 s;
// - then, so that the lease is put to use: while heartbeats flow no
//   follower campaigns, whatever its clock, so one election timeout later
//   (the leader has had time to anchor a lease) the leader's peer links are
//   cut both ways for ISOLATE_ELECTION_TIMEOUTS election timeouts (clients
//   still reach it and it serves lease reads for as long as it believes
//   its lease), then opened again.
// The window starts with the kill; the restart, the transfer and the cut run
// in the window, and its stop waits for them before restarting the node at
// the normal rate.

import { leaseTicks } from '../../src/raft/config.js';
import { sleep } from './cluster.js';
import { bothWays } from './net.js';
import type { Nemesis, NemesisContext } from './nemesis.js';
import { followerOf, leaderOrAny } from './nemesis.js';
import { faketimeLibrary } from './nemesis-clock.js';

export type ClockRateVariant = 'within' | 'beyond';
export type ClockRateTarget = 'leader' | 'follower';

/** Tries to hand leadership back to a restarted leader before the window goes on without. */
const HANDOVER_ATTEMPTS = 3;

/** The leader's links stay cut for this many election timeouts (3 s with ledgerd's defaults). */
export const ISOLATE_ELECTION_TIMEOUTS = 3;

/**
 * The rate of the target's clocks, from the drift ratio the cluster's
 * leases allow for; `pick` is the seed's choice among the variant's factors.
 * Rounded to 3 decimals (libfaketime reads it from FAKETIME).
 */
export function clockRate(variant: ClockRateVariant, target: ClockRateTarget, maxClockDriftRatio: number, pick: <T>(items: readonly T[]) => T): number {
  const d = maxClockDriftRatio;
  const allowedRatio = (1 + d) / (1 - d);
  let rate: number;
  if (variant === 'within') {
    const f = pick([0.5, 0.9]);
    rate = target === 'leader' ? 1 - f * d : 1 + f * d;
  } else {
    rate = target === 'leader' ? 1 / (allowedRatio * pick([1.5, 2.5, 4])) : allowedRatio * 1.5;
  }
  return Math.round(rate * 1000) / 1000;
}

/**
 * Whether a lease can outlast a follower's vote refusal, in real time, when
 * the leader's clock runs at `leaderRate` and the follower's at
 * `followerRate`: the lease lasts leaseTicks of the leader's ticks after the
 * tick its round left in (up to one more tick of real time), the refusal
 * electionTicks of the follower's after it heard the round (at least one
 * fewer, the first may come at once).
 */
export function leaseCanOutlastRefusal(leaderRate: number, followerRate: number, electionTicks: number, maxClockDriftRatio: number): boolean {
  const leaseRealTicks = (leaseTicks({ electionTicks, maxClockDriftRatio }) + 1) / leaderRate;
  const refusalRealTicks = (electionTicks - 1) / followerRate;
  return leaseRealTicks >= refusalRealTicks;
}

export function clockRateUnavailable(): string | undefined {
  return faketimeLibrary() ? undefined : 'libfaketime not found (run scripts/jepsen-install.sh, which installs Debian\'s faketime)';
}

/** What happened after the kill: the restart under the rate, the leadership handed back, the cut. */
interface Attack {
  restarted?: boolean;
  error?: string;
  leadership?: Record<string, unknown>;
  isolated?: string | null;
  /** History time (ms since the run started) of the cut and of the heal. */
  isolated_at_ms?: number;
  healed_at_ms?: number;
}

/** Whether the leader sees `node` caught up and in contact (a transfer to it can finish within an election timeout). */
async function caughtUp(context: NemesisContext, leader: string, node: string): Promise<boolean> {
  const outcome = await context.cluster.client.send(context.cluster.node(leader).url, { method: 'GET', path: '/v1/cluster' });
  if (outcome.kind !== 'answer' || outcome.answer.status !== 200 || !Array.isArray(outcome.answer.body?.members)) return false;
  const view = (outcome.answer.body.members as { id: string; lagEntries?: number; lastContactMs?: number }[]).find((m) => m.id === node);
  return view?.lagEntries === 0 && view.lastContactMs !== undefined && view.lastContactMs < 500;
}

/**
 * Hands leadership to `node` (just restarted, it follows). The leader
 * abandons a transfer its target does not complete within an election
 * timeout, and a node restarted a moment ago may not be reached or caught up
 * yet, so each attempt waits until the leader sees it caught up.
 */
async function handLeadershipTo(context: NemesisContext, node: string): Promise<Record<string, unknown>> {
  const cluster = context.cluster;
  let last: Record<string, unknown> = { ok: false, error: 'no leader' };
  for (let attempt = 1; attempt <= HANDOVER_ATTEMPTS; attempt++) {
    const leader = await cluster.findLeader();
    if (leader === node) return { ok: true, attempts: attempt - 1 };
    if (leader) {
      for (const deadline = Date.now() + 5_000; Date.now() < deadline && !(await caughtUp(context, leader, node)); ) await sleep(100);
      const outcome = await cluster.adminClient.send(cluster.node(leader).url, { method: 'POST', path: '/v1/cluster/leadership', body: { to: node } });
      if (outcome.kind === 'answer' && outcome.answer.status < 300) return { ok: true, from: leader, attempts: attempt };
      last = { ok: false, from: leader, attempts: attempt, ...(outcome.kind === 'error' ? { error: outcome.error } : { status: outcome.answer.status, body: outcome.answer.body }) };
    }
    await sleep(500);
  }
  return last;
}

async function attack(context: NemesisContext, node: string, rate: number, target: ClockRateTarget): Promise<Attack> {
  const cluster = context.cluster;
  const done: Attack = {};
  try {
    await cluster.restart(node, rate);
    done.restarted = true;
    if (target === 'leader') done.leadership = await handLeadershipTo(context, node);
    // A leader has a lease only once a quorum answered one of its heartbeat
    // rounds in its term; cut at once after the hand-over, it never had one.
    await sleep(cluster.options.electionTicks * cluster.options.tickMs);
    const leader = (await cluster.findLeader()) ?? null;
    done.isolated = leader;
    if (leader === null) return done;
    const others = cluster.memberIds().filter((id) => id !== leader);
    const isolateMs = ISOLATE_ELECTION_TIMEOUTS * cluster.options.electionTicks * cluster.options.tickMs;
    await cluster.net.drop(bothWays([leader], others));
    done.isolated_at_ms = Math.round(context.history.nowNs() / 1e6);
    await sleep(isolateMs);
    await cluster.net.healAll();
    done.healed_at_ms = Math.round(context.history.nowNs() / 1e6);
  } catch (error) {
    done.error = String(error);
  }
  return done;
}

function clockRateNemesis(name: string, variant: ClockRateVariant): Nemesis {
  return {
    name,
    startF: 'clock-rate',
    stopF: 'clock-rate-reset',
    unavailable: clockRateUnavailable,
    start: async (context) => {
      const cluster = context.cluster;
      const target: ClockRateTarget = context.rng.chance(0.5) ? 'leader' : 'follower';
      const rate = clockRate(variant, target, cluster.maxClockDriftRatio, (items) => context.rng.pick(items));
      const node = target === 'leader' ? await leaderOrAny(context) : await followerOf(context);
      cluster.kill(node);
      await cluster.waitExited(node);
      // Never rejects: every step's failure is recorded in what it answers.
      const attacked = attack(context, node, rate, target);
      return {
        details: { node, target, rate, variant, max_clock_drift_ratio: cluster.maxClockDriftRatio },
        stop: async () => {
          const steps = await attacked;
          cluster.kill(node);
          await cluster.waitExited(node);
          let restartError: string | undefined;
          await cluster.restart(node).catch((error: unknown) => {
            restartError = String(error);
          });
          return { node, rate: 1, ...steps, ...(restartError !== undefined ? { reset_error: restartError } : {}) };
        },
      };
    },
  };
}

export const clockRateWithin = clockRateNemesis('clock-rate', 'within');
export const clockRateBeyond = clockRateNemesis('clock-rate-beyond', 'beyond');
export const CLOCK_RATES: readonly Nemesis[] = [clockRateWithin, clockRateBeyond];
