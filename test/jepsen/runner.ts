// One Jepsen-style run: start the cluster, set up the workload, drive
// concurrent clients against random members for the time limit while the
// nemesis schedule injects faults, heal everything, read on every node, and
// write the run folder (history.jsonl, nemesis.jsonl, run.json, report.json,
// report.html, logs/). The verdict comes from a `Checker`; the runner itself
// only records.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_FORWARD_TIMEOUT_MS } from '../../src/http/app.js';
import { Prng } from '../../src/lib/prng.js';
import { Client, classifyError, errorCodeOf, raftIndexOf, type Answer, type HttpRequest } from './client.js';
import { Cluster, sleep } from './cluster.js';
import { faketimeLibrary } from './nemesis-clock.js';
import { CLOCK_RATES } from './nemesis-clock-rate.js';
import { clockCheckRefusal, type ClockChecks } from './nemeses.js';
import { DISK_TMPFS_MIB } from './nemesis-disk.js';
import { HistoryWriter, type HistoryEvent } from './history-writer.js';
import type { NetKind } from './net.js';
import { schedule, type ActiveFault, type Nemesis, type NemesisContext, type ScheduledFault } from './nemesis.js';
import { renderReport, summarize, type RunSummary } from './report.js';
import { BankWorkload, notFoundIsEmptyRead } from './workloads/bank.js';
import { ReservationsWorkload } from './workloads/reservations.js';
import type { ClientState, Operation, Workload } from './workloads/workload.js';

/** A checker's verdict: `valid` false is a violation, "unknown" means it could not decide. */
export interface Report {
  readonly valid: boolean | 'unknown';
  readonly [key: string]: unknown;
}

/**
 * Checks a whole history. The real checkers (history.ts, checkers/) plug in
 * here: cli.ts passes `(events, run) => checkHistory(events, options)`.
 * `run` is what run.json holds: the workload's name and its setup (the bank's
 * accounts and initial balance, the reservation skus and their stock), which
 * a checker needs beyond the history.
 */
export type Checker = (events: HistoryEvent[], run: Readonly<Record<string, unknown>>) => Promise<Report>;

/** The default until the checkers are wired in: counts operations, decides nothing. */
export const countOnlyChecker: Checker = async (events) => {
  const counts: Record<string, Record<string, number>> = {};
  for (const event of events) {
    if (event.process < 0 || event.type === 'invoke') continue;
    const perF = (counts[event.f] ??= {});
    perF[event.type] = (perF[event.type] ?? 0) + 1;
  }
  return { valid: 'unknown', checker: 'count-only', note: 'no checker wired in; counts only', counts };
};

export type WorkloadName = 'bank' | 'reservations';

export interface RunOptions {
  readonly nodes: number;
  readonly timeLimitS: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly nemeses: readonly Nemesis[];
  readonly workload: WorkloadName;
  readonly out: string;
  /** Client deadline per request (then the outcome is info). */
  readonly opTimeoutMs: number;
  readonly quietMs: readonly [number, number];
  readonly faultMs: readonly [number, number];
  readonly tickMs: number;
  readonly electionTicks: number;
  /** How nodes reach each other and partitions cut them (net.ts; default proxy). */
  readonly net?: NetKind;
  /** Which clock-dependent promises the checker holds (default both; run.json's lease_linearizable and staleness_bounds). */
  readonly clockChecks?: ClockChecks;
  readonly checker: Checker;
  readonly log: (line: string) => void;
}

export interface RunResult {
  readonly dir: string;
  readonly report: Report;
  readonly summary: RunSummary;
}

/** Process ids: clients are 0..concurrency-1, then setup, then one per node in the final phase. */
function setupProcess(options: RunOptions): number {
  return options.concurrency;
}

function makeWorkload(name: WorkloadName): Workload {
  switch (name) {
    case 'bank':
      return new BankWorkload(8, 1000);
    case 'reservations':
      return new ReservationsWorkload(4, 30);
  }
}

/** The nemeses that can run here, and why the others cannot. */
function usableNemeses(nemeses: readonly Nemesis[]): { usable: Nemesis[]; skipped: Record<string, string> } {
  const usable: Nemesis[] = [];
  const skipped: Record<string, string> = {};
  for (const nemesis of nemeses) {
    const reason = nemesis.unavailable?.();
    if (reason) skipped[nemesis.name] = reason;
    else usable.push(nemesis);
  }
  return { usable, skipped };
}

export async function run(options: RunOptions): Promise<RunResult> {
  const clockChecks = options.clockChecks ?? { leaseLinearizable: true, stalenessBounds: true };
  const refusal = clockCheckRefusal(options.nemeses, clockChecks);
  if (refusal) throw new Error(refusal);
  const dir = path.resolve(options.out);
  mkdirSync(dir, { recursive: true });
  const { usable, skipped } = usableNemeses(options.nemeses);
  for (const [name, reason] of Object.entries(skipped)) options.log(`nemesis ${name} skipped: ${reason}`);
  const scheduleRng = new Prng(options.seed);
  const faults = schedule(usable, scheduleRng, { timeLimitMs: options.timeLimitS * 1000, quietMs: options.quietMs, faultMs: options.faultMs });
  const names = new Set(usable.map((n) => n.name));
  const tmpfsNodes = new Map<string, number>();
  if (names.has('disk')) tmpfsNodes.set(`n${scheduleRng.int(1, options.nodes)}`, DISK_TMPFS_MIB);
  const cluster = new Cluster({
    root: dir,
    nodeCount: options.nodes,
    spareCount: names.has('membership') ? 1 : 0,
    faketimeLibrary: names.has('clock') ? faketimeLibrary() : undefined,
    clockRateLibrary: CLOCK_RATES.some((n) => names.has(n.name)) ? faketimeLibrary() : undefined,
    tmpfsNodes,
    tickMs: options.tickMs,
    electionTicks: options.electionTicks,
    net: options.net ?? 'proxy',
  });
  const history = new HistoryWriter(path.join(dir, 'history.jsonl'));
  const workload = makeWorkload(options.workload);
  const runInfo: Record<string, unknown> = {
    seed: options.seed, nodes: options.nodes, time_limit_s: options.timeLimitS, concurrency: options.concurrency,
    workload: options.workload, net: options.net ?? 'proxy', nemeses: usable.map((n) => n.name), skipped_nemeses: skipped,
    schedule: faults.map((f) => ({ nemesis: f.nemesis.name, at_ms: f.atMs, duration_ms: f.durationMs, required: f.required })),
    tmpfs_nodes: Object.fromEntries(tmpfsNodes), op_timeout_ms: options.opTimeoutMs,
    max_clock_drift_ratio: cluster.maxClockDriftRatio, lease_linearizable: clockChecks.leaseLinearizable, staleness_bounds: clockChecks.stalenessBounds,
    started_at: new Date().toISOString(),
  };
  writeFileSync(path.join(dir, 'run.json'), `${JSON.stringify(runInfo, null, 2)}\n`);
  let error: unknown;
  const runner = new Runner(cluster, history, workload, options);
  try {
    options.log(`starting ${options.nodes} nodes in ${dir}`);
    await cluster.start();
    runInfo.setup = await workload.setup(
      (request) => setupSend(cluster, request),
      (op, answer) => recordSetup(history, setupProcess(options), op, answer),
    );
    options.log(`workload ${workload.name} set up; ${options.concurrency} clients for ${options.timeLimitS} s, ${faults.length} faults scheduled`);
    const deadlineMs = Date.now() + options.timeLimitS * 1000;
    const nemesisDone = { value: false };
    await Promise.all([
      runner.clients(() => Date.now() >= deadlineMs && nemesisDone.value),
      runNemesis(faults, { cluster, history, rng: scheduleRng, log: options.log }, deadlineMs).finally(() => {
        nemesisDone.value = true;
      }),
    ]);
    await healEverything(cluster, history, options.log);
    runInfo.cluster_before_final = await cluster.views();
    await runner.finalPhase();
    runInfo.cluster_after_final = await cluster.views();
  } catch (caught) {
    error = caught;
    options.log(`run failed: ${String(caught instanceof Error ? caught.stack : caught)}`);
  } finally {
    await runner.close();
    await cluster.close();
    await history.close();
  }
  writeFileSync(path.join(dir, 'nemesis.jsonl'), history.events.filter((e) => e.process === -1).map((e) => JSON.stringify(e)).join('\n') + '\n');
  runInfo.finished_at = new Date().toISOString();
  if (error) runInfo.error = String(error instanceof Error ? error.message : error);
  writeFileSync(path.join(dir, 'run.json'), `${JSON.stringify(runInfo, null, 2)}\n`);
  const checked = await options.checker(history.events, runInfo);
  const report: Report = error ? { ...checked, valid: checked.valid === false ? false : 'unknown', run_error: runInfo.error } : checked;
  const summary = summarize(history.events, options.concurrency);
  writeFileSync(path.join(dir, 'report.json'), `${JSON.stringify({ valid: report.valid, checker: report, availability: summary.availability, totals: summary.totals }, null, 2)}\n`);
  writeFileSync(path.join(dir, 'report.html'), renderReport({ run: runInfo, report, summary }));
  return { dir, report, summary };
}

/** Sends a setup request until a 2xx (setup runs before any fault; ids make it idempotent). */
async function setupSend(cluster: Cluster, request: HttpRequest): Promise<Answer> {
  const deadline = Date.now() + 60_000;
  let last = '';
  while (Date.now() < deadline) {
    const leader = await cluster.findLeader();
    if (leader) {
      const outcome = await cluster.client.send(cluster.node(leader).url, request);
      if (outcome.kind === 'answer' && outcome.answer.status < 300) return outcome.answer;
      last = outcome.kind === 'answer' ? `${outcome.answer.status} ${JSON.stringify(outcome.answer.body)}` : outcome.error;
    }
    await sleep(200);
  }
  throw new Error(`setup request ${request.method} ${request.path} did not succeed within 60 s: ${last}`);
}

function recordSetup(history: HistoryWriter, process: number, op: Operation, answer: Answer): void {
  history.append({ type: 'invoke', process, f: op.f, value: op.value, node: answer.headers['x-served-by'] ?? '' });
  const done = op.complete(answer, [answer]);
  const index = raftIndexOf(answer);
  history.append({ type: done.type, process, f: op.f, value: done.value, node: answer.headers['x-served-by'] ?? '', ...(index !== undefined ? { index } : {}), ...(done.error ? { error: done.error } : {}) });
}

/**
 * How long after a write of unknown outcome was invoked it may still take
 * effect: a follower forwards a write to the leader for up to the forward
 * timeout, whatever the client does meanwhile, and a forwarded request cut by
 * a partition is retransmitted by TCP and may reach the leader seconds after
 * the heal (seen with --net netns: seed 1, partition-random-halves, 3 nodes,
 * a transfer applied about 13.6 s after it was invoked, between two final reads).
 * Plus time for the leader to commit it once it arrives.
 */
export const UNKNOWN_WRITE_SETTLE_MS = DEFAULT_FORWARD_TIMEOUT_MS + 2_000;

/**
 * How long the final phase waits so that its reads, which must all see the
 * same transfers, cannot straddle a late write: until every write of unknown
 * outcome is older than UNKNOWN_WRITE_SETTLE_MS. `lastUnknownWriteInvokedMs`
 * is 0 when there was none.
 */
export function finalPhaseWaitMs(lastUnknownWriteInvokedMs: number, nowMs: number): number {
  if (lastUnknownWriteInvokedMs === 0) return 0;
  return Math.max(0, lastUnknownWriteInvokedMs + UNKNOWN_WRITE_SETTLE_MS - nowMs);
}

class Runner {
  /** The clients' own connections and deadline (the cluster's client has a short one for probes). */
  private readonly client: Client;
  /** Date.now() when the latest write whose outcome is unknown (info) was invoked; 0: none. */
  private lastUnknownWriteInvokedMs = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly history: HistoryWriter,
    private readonly workload: Workload,
    private readonly options: RunOptions,
  ) {
    this.client = new Client(options.opTimeoutMs, cluster.clientToken);
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Runs the clients until `done()` (the time limit passed and the nemesis finished). */
  async clients(done: () => boolean): Promise<void> {
    const loops: Promise<void>[] = [];
    for (let process = 0; process < this.options.concurrency; process++) {
      const state: ClientState = { process, rng: new Prng((this.options.seed * 7919 + process * 104729 + 1) >>> 0), counter: 0, lastIndex: 0 };
      loops.push(this.clientLoop(state, done));
    }
    await Promise.all(loops);
  }

  private async clientLoop(state: ClientState, done: () => boolean): Promise<void> {
    while (!done()) {
      const members = this.cluster.memberIds();
      const node = state.rng.pick(members);
      const op = this.workload.next(state);
      const completion = await this.perform(state.process, node, op);
      if (completion.index !== undefined && completion.type === 'ok') state.lastIndex = Math.max(state.lastIndex, completion.index);
      // A node that refuses connections answers at once; do not spin on it.
      if (completion.type !== 'ok') await sleep(state.rng.int(50, 200));
    }
  }

  /** Invokes `op` on `node`, follows its pages, and records the completion. */
  async perform(process: number, node: string, op: Operation, phase?: 'final'): Promise<HistoryEvent> {
    const invokedMs = Date.now();
    const done = await this.performOnce(process, node, op, phase);
    if (done.type === 'info' && !op.isRead) this.lastUnknownWriteInvokedMs = Math.max(this.lastUnknownWriteInvokedMs, invokedMs);
    return done;
  }

  private async performOnce(process: number, node: string, op: Operation, phase?: 'final'): Promise<HistoryEvent> {
    const tag = phase ? { phase } : {};
    this.history.append({ type: 'invoke', process, f: op.f, value: op.value, node, ...tag });
    const url = this.cluster.node(node).url;
    const pages: Answer[] = [];
    let request: HttpRequest | undefined = op.request;
    for (let page = 0; request && page < 1000; page++) {
      const outcome = await this.client.send(url, request);
      if (outcome.kind === 'error') {
        const type = outcome.notSent || op.isRead ? 'fail' : 'info';
        return this.history.append({ type, process, f: op.f, value: null, node, error: outcome.error, ...tag });
      }
      const answer = outcome.answer;
      const index = raftIndexOf(answer);
      const indexField = index !== undefined ? { index } : {};
      if (answer.status >= 300) {
        const empty = notFoundIsEmptyRead(op, answer);
        if (empty) return this.history.append({ type: 'ok', process, f: op.f, value: empty.value, node, ...indexField, ...tag });
        const code = errorCodeOf(answer);
        const type = op.isRead ? 'fail' : classifyError(answer);
        return this.history.append({ type, process, f: op.f, value: { code }, node, error: code, ...indexField, ...tag });
      }
      pages.push(answer);
      request = op.nextPage?.(answer);
      if (!request) {
        const done = op.complete(answer, pages);
        return this.history.append({ type: done.type, process, f: op.f, value: done.value, node, ...indexField, ...(done.error ? { error: done.error } : {}), ...tag });
      }
    }
    return this.history.append({ type: 'fail', process, f: op.f, value: null, node, error: 'too_many_pages', ...tag });
  }

  /** After healing: every final read on every member, one process per node. */
  async finalPhase(): Promise<void> {
    const waitMs = finalPhaseWaitMs(this.lastUnknownWriteInvokedMs, Date.now());
    if (waitMs > 0) {
      this.options.log(`final phase waits ${waitMs} ms: a write of unknown outcome may still reach the leader`);
      await sleep(waitMs);
    }
    this.history.nemesis('final-phase', { waited_for_unknown_writes_ms: waitMs });
    const members = this.cluster.memberIds();
    await Promise.all(
      members.map(async (node, i) => {
        const process = setupProcess(this.options) + 1 + i;
        for (const op of this.workload.finalReads()) {
          // A node still catching up may refuse a read for a moment; the
          // phase is about what every node serves once it can.
          for (let attempt = 0; attempt < 10; attempt++) {
            const done = await this.perform(process, node, op, 'final');
            if (done.type === 'ok') break;
            await sleep(500);
          }
        }
      }),
    );
  }
}

/**
 * Runs the scheduled faults in order: each after its quiet time, for its
 * whole duration (a slow restart delays the next faults rather than
 * shortening them). Required faults (the first round) run even past the
 * deadline; the others only before it. A fault that started is always stopped.
 */
async function runNemesis(faults: readonly ScheduledFault[], context: NemesisContext, deadlineMs: number): Promise<void> {
  for (const [window, fault] of faults.entries()) {
    const left = (): number => (fault.required ? Number.POSITIVE_INFINITY : Math.max(0, deadlineMs - Date.now()));
    await sleep(Math.min(fault.quietMs, left()));
    if (!fault.required && Date.now() >= deadlineMs) return;
    const name = fault.nemesis.name;
    let active: ActiveFault | undefined;
    try {
      active = await fault.nemesis.start(context);
      context.history.nemesis(fault.nemesis.startF, { nemesis: name, window, ...active.details });
      context.log(`fault ${window} ${name} ${JSON.stringify(active.details)}`);
    } catch (error) {
      context.history.nemesis(fault.nemesis.startF, { nemesis: name, window, error: String(error) });
      context.log(`fault ${window} ${name} could not start: ${String(error)}`);
      continue;
    }
    await sleep(Math.min(fault.durationMs, left()));
    try {
      const details = await active.stop();
      context.history.nemesis(fault.nemesis.stopF, { nemesis: name, window, ...details });
    } catch (error) {
      context.history.nemesis(fault.nemesis.stopF, { nemesis: name, window, error: String(error) });
      context.log(`fault ${window} ${name} could not stop: ${String(error)}`);
    }
  }
}

/** Whatever a fault left behind: every link open, clocks reset, every member running and resumed. */
async function healEverything(cluster: Cluster, history: HistoryWriter, log: (line: string) => void): Promise<void> {
  await cluster.net.healAll();
  for (const node of cluster.nodes.values()) {
    if (node.paused) cluster.resume(node.id);
    if (node.clockFile) cluster.setClock(node.id, '+0');
    // Still under a clock rate (its fault did not stop): back to the normal rate.
    if (node.clockRate !== undefined && node.child) {
      cluster.kill(node.id);
      await cluster.waitExited(node.id);
    }
  }
  const restarted: string[] = [];
  for (const node of cluster.members()) {
    if (!node.child) {
      await cluster.restart(node.id).catch((error: unknown) => log(`heal: ${node.id} did not restart: ${String(error)}`));
      restarted.push(node.id);
    }
  }
  const leader = await cluster.waitForLeader(60_000).catch(() => undefined);
  history.nemesis('heal', { restarted, leader: leader ?? null });
  log(`healed; leader ${leader ?? 'none'}`);
  // Let lagging members apply what the leader committed before the final reads.
  await sleep(2_000);
}
