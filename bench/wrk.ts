// Runs wrk with bench/wrk/bench.lua against one URL and returns what its
// done() reports: the same client code for raft-ledger and for etcd. wrk is a
// closed loop (each connection waits for its answer before the next request),
// so throughput and latency are those of `connections` clients that never give
// up; the timeout is set well above any latency we expect so slow answers are
// counted in the percentiles rather than dropped as timeouts.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The Lua script lives beside the sources; dist/bench/ has no copy of it. */
export const WRK_SCRIPT = path.resolve(here, '..', '..', 'bench', 'wrk', 'bench.lua');
const WRK_TIMEOUT_SECONDS = 30;

export type Workload = 'transfers' | 'account_read' | 'etcd_put' | 'etcd_range';

export interface WrkPhase {
  readonly url: string;
  readonly workload: Workload;
  /** Unique per phase: written ids and keys contain it. Alphanumeric. */
  readonly runTag: string;
  readonly connections: number;
  readonly seconds: number;
  readonly accounts: number;
  readonly batch?: number;
  readonly query?: string;
  readonly serializable?: boolean;
  readonly etcdPrefix?: string;
}

export interface WrkResult {
  readonly requests: number;
  readonly duration_us: number;
  readonly bytes: number;
  readonly errors: { readonly connect: number; readonly read: number; readonly write: number; readonly status: number; readonly timeout: number };
  readonly latency_us: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
  readonly items_created: number;
  readonly item_errors: number;
  readonly error_sample: string;
}

/** Requests per second that were answered 2xx/3xx (wrk counts the others in errors.status). */
export function goodRequestsPerSecond(result: WrkResult): number {
  const good = result.requests - result.errors.status - result.errors.timeout;
  return good / (result.duration_us / 1e6);
}

/** Every failed request or refused item in the phase. */
export function failureCount(result: WrkResult): number {
  const e = result.errors;
  return e.connect + e.read + e.write + e.status + e.timeout + result.item_errors;
}

export async function runWrk(phase: WrkPhase): Promise<WrkResult> {
  // wrk needs at least one connection per thread; two threads match the two cores.
  const threads = Math.min(2, phase.connections);
  const args = ['-t', String(threads), '-c', String(phase.connections), '-d', `${phase.seconds}s`, '--timeout', `${WRK_TIMEOUT_SECONDS}s`, '-s', WRK_SCRIPT, phase.url];
  const env = {
    ...process.env,
    BENCH_WORKLOAD: phase.workload,
    BENCH_RUN: phase.runTag,
    BENCH_ACCOUNTS: String(phase.accounts),
    BENCH_BATCH: String(phase.batch ?? 1),
    BENCH_QUERY: phase.query ?? 'consistency=linearizable',
    BENCH_SERIALIZABLE: phase.serializable === true ? 'true' : 'false',
    BENCH_ETCD_PREFIX: phase.etcdPrefix ?? '/v3',
  };
  const output = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('wrk', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
  const line = output.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (output.code !== 0 || line === undefined) {
    throw new Error(`wrk ${args.join(' ')} exited ${output.code}:\n${output.stdout}\n${output.stderr}`);
  }
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult;
}
