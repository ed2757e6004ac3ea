// `make bench-scale` (issue 9, deliverable 3): how raft-ledger behaves as load
// and state grow, on one 3-node cluster on loopback (default settings, except
// that automatic snapshots are off so the log grows long):
//   1. single-transfer writes on the leader at 1, 16, 64 and 256 connections;
//   2. loads BENCH_SCALE_ACCOUNTS accounts and up to BENCH_SCALE_TRANSFERS
//      transfers through the API (8190 per request) within a time budget, and
//      reports what it reached, the rate, and each node's resident memory;
//   3. restarts a follower with that long log, then again after it took a
//      snapshot (time to serve /healthz and to be ready);
//   4. compacts every node's log with a snapshot and joins a new node, which
//      can then only catch up by snapshot (time until it is ready, what it
//      wrote to disk meanwhile, and what it keeps of the snapshot).
// Settings (environment): BENCH_SECONDS (8), BENCH_WARMUP_SECONDS (1),
// BENCH_SCALE_CONNECTIONS (1,16,64,256), BENCH_SCALE_ACCOUNTS (1000000),
// BENCH_SCALE_TRANSFERS (10000000), BENCH_SCALE_LOAD_SECONDS (900, budget for
// the transfers), BENCH_SCALE_LOAD_CONNECTIONS (4), BENCH_LEDGER_LOG_LEVEL,
// BENCH_LEDGERD_ARGS, BENCH_DIR, BENCH_KEEP=1.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { call, LEDGERD, type Answer } from '../test/cluster/harness.js';
import { clusterStatusOf, required, type ApiClusterStatus } from '../test/support/api-json.js';
import { sleep } from '../test/support/helpers.js';
import { envNumber, figures, fmt, measure, ms, nextRunTag, writeResults, type PhaseFigures, type Timing } from './phases.js';
import { createAccounts, get, LedgerCluster, waitHealthy, type BenchNode } from './systems.js';
import { failureCount, goodRequestsPerSecond, runWrk } from './wrk.js';

const MAX_TRANSFERS_PER_REQUEST = 8190;
const NO_LEADER_LIMIT_MS = 180_000;
const settings = {
  seconds: envNumber('BENCH_SECONDS', 8),
  warmupSeconds: Number(process.env['BENCH_WARMUP_SECONDS'] ?? 1),
  connections: (process.env['BENCH_SCALE_CONNECTIONS'] ?? '1,16,64,256').split(',').map(Number),
  curveAccounts: 1000,
  accounts: envNumber('BENCH_SCALE_ACCOUNTS', 1_000_000),
  transfers: envNumber('BENCH_SCALE_TRANSFERS', 10_000_000),
  loadSeconds: envNumber('BENCH_SCALE_LOAD_SECONDS', 900),
  loadConnections: envNumber('BENCH_SCALE_LOAD_CONNECTIONS', 4),
  ledgerLogLevel: process.env['BENCH_LEDGER_LOG_LEVEL'] ?? 'info',
};
const timing: Timing = settings;

const seconds = (fromMs: number): number => (performance.now() - fromMs) / 1000;

/** Resident memory of a process in MiB, from /proc (VmRSS). */
function residentMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Bytes a process caused to be written to the block layer (Linux /proc/<pid>/io write_bytes), in MiB. */
function writtenMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const match = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return match ? Number(match[1]) / (1024 * 1024) : Number.NaN;
}

/** Sizes of the files in `directory` whose names pass `keep`, in MiB. */
function filesMiB(directory: string, keep: (name: string) => boolean): number {
  return readdirSync(directory).filter(keep).reduce((sum, name) => sum + statSync(path.join(directory, name)).size, 0) / (1024 * 1024);
}

function diskMiB(directory: string): number {
  return Number(execFileSync('du', ['-sk', directory], { encoding: 'utf8' }).split('\t')[0]) / 1024;
}

async function status(node: BenchNode): Promise<ApiClusterStatus> {
  return clusterStatusOf(await get(node.url, '/v1/cluster'));
}

/**
 * Transfers this node has applied with result "created" since it started
 * (ledger_transfers_total): counts the requests wrk stopped waiting for too.
 */
async function createdTransfers(node: BenchNode): Promise<number> {
  const text = String((await get(node.url, '/metrics')).body);
  const match = /^ledger_transfers_total\{[^}]*result="created"[^}]*\} (\d+)/m.exec(text);
  // The series appears with the first created transfer: none yet is 0 (a slow curve may create none).
  if (!match) return text.includes('ledger_transfers_total') ? 0 : Number.NaN;
  return Number(match[1]);
}

async function waitReady(node: BenchNode, timeoutMs = 1_800_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await call(node.url, 'GET', '/readyz').catch(() => undefined))?.status === 200) return;
    await sleep(100);
  }
  throw new Error(`${node.id} not ready within ${timeoutMs} ms`);
}

/** Waits until `node` has applied `index` (the leader's commit index when the clock started). */
async function waitApplied(node: BenchNode, index: number, timeoutMs = 1_800_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const answer = await call(node.url, 'GET', '/v1/cluster').catch(() => undefined);
    if (answer?.status === 200 && clusterStatusOf(answer).applied_index >= index) return;
    await sleep(100);
  }
  throw new Error(`${node.id} did not apply index ${index} within ${timeoutMs} ms`);
}

async function curve(cluster: LedgerCluster): Promise<Record<string, PhaseFigures>> {
  const leader = await cluster.leader();
  await createAccounts(cluster, settings.curveAccounts);
  const points: Record<string, PhaseFigures> = {};
  for (const connections of settings.connections) {
    const result = await measure(
      { url: leader.url, workload: 'transfers', accounts: settings.curveAccounts, connections },
      timing,
      `single transfers on the leader ${leader.id}`,
      () => cluster.settle(),
    );
    points[String(connections)] = figures(result, goodRequestsPerSecond(result));
  }
  return points;
}

interface LoadFigures {
  readonly accounts: number;
  readonly accountSeconds: number;
  readonly transfers: number;
  readonly transferSeconds: number;
  readonly failedRequests: number;
  readonly reachedTarget: boolean;
  /** Why loading ended before the target and the budget, or ''. */
  readonly stoppedBy: string;
}

/** Accounts acct-0.., then transfers among them in wrk runs of at most 60 s until the target or the budget. */
async function load(cluster: LedgerCluster): Promise<LoadFigures> {
  let startMs = performance.now();
  await createAccounts(cluster, settings.accounts - settings.curveAccounts, settings.curveAccounts);
  const accountSeconds = seconds(startMs);
  console.log(`  ${fmt(settings.accounts)} accounts in ${fmt(accountSeconds, 1)} s`);
  // Every node applies every entry; n1 counts for all (it started with the others).
  const counter = cluster.nodes[0] as BenchNode;
  await cluster.settle();
  const before = await createdTransfers(counter);
  startMs = performance.now();
  let transfers = 0;
  let failedRequests = 0;
  let stoppedBy = '';
  while (transfers < settings.transfers && seconds(startMs) < settings.loadSeconds) {
    const runSeconds = Math.max(1, Math.min(60, Math.ceil(settings.loadSeconds - seconds(startMs))));
    // Under a saturated machine leadership can be gone for long; stop loading
    // then, and measure what was reached, rather than lose the whole run.
    const leader = await cluster.leader(NO_LEADER_LIMIT_MS).catch((error: Error) => {
      stoppedBy = error.message;
      return undefined;
    });
    if (!leader) break;
    const result = await runWrk({
      url: leader.url, workload: 'transfers', runTag: nextRunTag('L'), seconds: runSeconds,
      accounts: settings.accounts, connections: settings.loadConnections, batch: MAX_TRANSFERS_PER_REQUEST,
    });
    transfers = (await createdTransfers(counter)) - before;
    failedRequests += failureCount(result);
    if (result.error_sample !== '') console.log(`    first error: ${result.error_sample}`);
    console.log(`  ${fmt(transfers)} transfers after ${fmt(seconds(startMs))} s (${fmt(transfers / seconds(startMs))}/s)`);
  }
  // Requests wrk stopped waiting for are committed and applied too: count them.
  await cluster.settle();
  const transferSeconds = seconds(startMs);
  transfers = (await createdTransfers(counter)) - before;
  console.log(`  ${fmt(transfers)} transfers in ${fmt(transferSeconds)} s (${fmt(transfers / transferSeconds)}/s) once applied everywhere`);
  if (stoppedBy !== '') console.log(`  loading STOPPED early: ${stoppedBy}`);
  return { accounts: settings.accounts, accountSeconds, transfers, transferSeconds, failedRequests, reachedTarget: transfers >= settings.transfers, stoppedBy };
}

async function memory(cluster: LedgerCluster): Promise<Record<string, { rssMiB: number; diskMiB: number }>> {
  const out: Record<string, { rssMiB: number; diskMiB: number }> = {};
  for (const node of cluster.nodes) {
    if (!node.child) continue;
    out[node.id] = { rssMiB: residentMiB(node.child.pid), diskMiB: diskMiB(node.dataDir) };
    console.log(`  ${node.id}: RSS ${fmt(out[node.id]?.rssMiB ?? 0)} MiB, data ${fmt(out[node.id]?.diskMiB ?? 0)} MiB`);
  }
  return out;
}

interface RestartFigures {
  readonly lastLogIndex: number;
  readonly snapshotIndex: number;
  /** From spawn until /healthz answers 200. */
  readonly healthySeconds: number;
  /** From spawn until /readyz answers 200. */
  readonly readySeconds: number;
  /** From spawn until it has applied the leader's commit index of before the stop. */
  readonly caughtUpSeconds: number;
}

/** Stops `node` cleanly, starts it on the same data and times /healthz and /readyz. */
async function timeRestart(cluster: LedgerCluster, node: BenchNode, label: string): Promise<RestartFigures> {
  const before = await status(node);
  const commit = (await status(await cluster.leader())).commit_index;
  await cluster.stopNode(node);
  const startMs = performance.now();
  cluster.respawn(node);
  await waitHealthy(node);
  const healthySeconds = seconds(startMs);
  await waitReady(node);
  const readySeconds = seconds(startMs);
  await waitApplied(node, commit);
  const caughtUpSeconds = seconds(startMs);
  console.log(
    `  ${label}: log to ${before.last_log_index}, snapshot at ${before.snapshot_index}: ` +
      `serving after ${fmt(healthySeconds, 2)} s, ready after ${fmt(readySeconds, 2)} s, applied ${commit} after ${fmt(caughtUpSeconds, 2)} s`,
  );
  return { lastLogIndex: before.last_log_index, snapshotIndex: before.snapshot_index, healthySeconds, readySeconds, caughtUpSeconds };
}

/**
 * Snapshots `node`. A node restarted on a quiet cluster answers 500 here
 * until a new entry commits (its persisted commit index trails its applied
 * index: AssertionFailure "snapshot at N is above the commit index N-1" in
 * RaftStorage.saveSnapshot); then one account is written and it retries once.
 */
async function snapshot(cluster: LedgerCluster, node: BenchNode): Promise<{ index: number; seconds: number; neededWrite: boolean }> {
  // A repeat is harmless (it answers the snapshot already taken), so retry a reset socket once.
  const post = (): Promise<Answer> => call(node.url, 'POST', '/v1/cluster/snapshot', {}).catch(() => call(node.url, 'POST', '/v1/cluster/snapshot', {}));
  let startMs = performance.now();
  let answer = await post();
  const neededWrite = answer.status === 500;
  if (neededWrite) {
    console.log(`  snapshot of ${node.id} answered 500 (${JSON.stringify(answer.body)}): writing one account, then retrying`);
    await createAccounts(cluster, 1, settings.accounts + Math.floor(Math.random() * 1e9));
    await cluster.settle();
    startMs = performance.now();
    answer = await post();
  }
  if (answer.status !== 200) throw new Error(`POST /v1/cluster/snapshot on ${node.id}: ${answer.status} ${JSON.stringify(answer.body)}`);
  const took = seconds(startMs);
  console.log(`  snapshot of ${node.id} at index ${answer.body.index} in ${fmt(took, 2)} s`);
  return { index: required(answer.body.index, 'index'), seconds: took, neededWrite };
}

interface CatchUpFigures {
  readonly leaderSnapshot: { index: number; seconds: number; neededWrite: boolean };
  readonly readySeconds: number;
  readonly caughtUpSeconds: number;
  readonly snapshotIndex: number;
  readonly rssMiB: number;
  /** What n4 wrote to disk from its start until it had applied the commit index. */
  readonly writtenMiB: number;
  /** Its ledger.db, and its Raft snapshot files (a kept copy of the image, or only metadata). */
  readonly ledgerDbMiB: number;
  readonly raftSnapshotFilesMiB: number;
}

/**
 * Snapshots every node (compacting their logs: leadership may move during the
 * join, and a leader with its whole log would send entries, not a snapshot),
 * then adds n4 and times it from POST /v1/cluster/members.
 */
async function catchUp(cluster: LedgerCluster): Promise<CatchUpFigures> {
  const leader = await cluster.leader();
  const leaderSnapshot = await snapshot(cluster, leader);
  for (const node of cluster.nodes) if (node !== leader && node.child) await snapshot(cluster, node);
  const commit = (await status(leader)).commit_index;
  const startMs = performance.now();
  const joiner = await cluster.join('n4');
  await waitReady(joiner);
  const readySeconds = seconds(startMs);
  await waitApplied(joiner, commit);
  const caughtUpSeconds = seconds(startMs);
  const written = writtenMiB(joiner.child?.pid);
  const after = await status(joiner);
  const ledgerDbMiB = filesMiB(joiner.dataDir, (name) => name === 'ledger.db');
  const raftSnapshotFilesMiB = filesMiB(path.join(joiner.dataDir, 'raft'), (name) => name.endsWith('.snap'));
  console.log(
    `  n4 joined: ready after ${fmt(readySeconds, 2)} s, applied ${commit} after ${fmt(caughtUpSeconds, 2)} s ` +
      `(its snapshot index ${after.snapshot_index}: ${after.snapshot_index > 0 ? 'caught up by snapshot' : 'NOT by snapshot'}); ` +
      `wrote ${fmt(written, 1)} MiB to disk; ledger.db ${fmt(ledgerDbMiB, 1)} MiB, Raft snapshot files ${fmt(raftSnapshotFilesMiB, 2)} MiB`,
  );
  return {
    leaderSnapshot, readySeconds, caughtUpSeconds, snapshotIndex: after.snapshot_index, rssMiB: residentMiB(joiner.child?.pid),
    writtenMiB: written, ledgerDbMiB, raftSnapshotFilesMiB,
  };
}

/**
 * Where ledgerd keeps log entries below a snapshot (--snapshot-retain-entries),
 * keep none: otherwise a log shorter than what is retained is never compacted
 * and the new node of step 4 would catch up from the log, not by snapshot.
 */
function keepNoEntriesBelowSnapshot(): string[] {
  const help = execFileSync(process.execPath, [LEDGERD, '--help'], { encoding: 'utf8' });
  return help.includes('--snapshot-retain-entries') ? ['--snapshot-retain-entries', '0'] : [];
}

async function main(): Promise<void> {
  const root = mkdtempSync(path.join(process.env['BENCH_DIR'] ?? os.tmpdir(), 'raft-ledger-bench-scale-'));
  const startedAt = new Date();
  console.log(`make bench-scale: ${os.cpus().length} cores, node ${process.version}, data in ${root}`);
  const extraArgs = ['--snapshot-entries', '100000000', ...keepNoEntriesBelowSnapshot(), ...LedgerCluster.extraArgsFromEnv()];
  const cluster = await LedgerCluster.start(root, { logLevel: settings.ledgerLogLevel, extraArgs });
  try {
    console.log('1. single-transfer writes by connections');
    const points = await curve(cluster);
    console.log('   resident memory before the load');
    const rssBefore = await memory(cluster);
    console.log(`2. loading ${fmt(settings.accounts)} accounts and up to ${fmt(settings.transfers)} transfers (budget ${settings.loadSeconds} s)`);
    const loaded = await load(cluster);
    const rss = await memory(cluster);
    console.log('3. restart of a follower');
    const follower = await cluster.follower();
    const longLog = await timeRestart(cluster, follower, `${follower.id} with its whole log`);
    const followerSnapshot = await snapshot(cluster, follower);
    const withSnapshot = await timeRestart(cluster, follower, `${follower.id} after a snapshot`);
    console.log('4. a new node catching up by snapshot');
    const joined = await catchUp(cluster);

    console.log('\n| connections | transfers/s | p50 | p99 | failed |');
    console.log('|--:|--:|--:|--:|--:|');
    for (const [connections, p] of Object.entries(points)) {
      console.log(`| ${connections} | ${fmt(p.perSecond)} | ${ms(p.p50Ms)} ms | ${ms(p.p99Ms)} ms | ${p.failures}${p.valid ? '' : ' (INVALID)'} |`);
    }
    const results = { startedAt: startedAt.toISOString(), settings, cores: os.cpus().length, node: process.version, curve: points, load: loaded, memory: { beforeLoad: rssBefore, afterLoad: rss }, restart: { longLog, followerSnapshot, withSnapshot }, catchUp: joined };
    console.log(`raw figures: ${writeResults('scale-', startedAt, results).join(', ')}`);
  } finally {
    await cluster.stop();
    if (process.env['BENCH_KEEP'] === '1') console.log(`kept data and logs in ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`make bench-scale failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
