// What `make bench` and `make bench-scale` share: settings from the
// environment, one measured wrk phase (warm-up, then the counted run), the
// figures kept from it, number formats, and where raw results are written.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { failureCount, goodRequestsPerSecond, runWrk, type WrkPhase, type WrkResult } from './wrk.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return value;
}

/** A phase with more failures than this share of its requests is not a valid figure. */
export const MAX_FAILURE_SHARE = 0.001;

export interface PhaseFigures {
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failures: number;
  readonly valid: boolean;
  readonly wrk?: WrkResult;
}

export function figures(result: WrkResult, perSecond: number): PhaseFigures {
  const failures = failureCount(result);
  return {
    perSecond,
    p50Ms: result.latency_us.p50 / 1000,
    p99Ms: result.latency_us.p99 / 1000,
    failures,
    valid: result.requests > 0 && failures <= result.requests * MAX_FAILURE_SHARE,
    wrk: result,
  };
}

let phaseNumber = 0;
/** A run tag no earlier phase of this process used: written ids and keys contain it. */
export function nextRunTag(kind: string): string {
  phaseNumber++;
  return `${kind}${phaseNumber}`;
}

export interface Timing {
  readonly seconds: number;
  readonly warmupSeconds: number;
}

/** Warms up at the same load (not counted), then measures; `settle` runs before each. */
export async function measure(
  phase: Omit<WrkPhase, 'runTag' | 'seconds'>,
  timing: Timing,
  label: string,
  settle: () => Promise<void> = async () => {},
): Promise<WrkResult> {
  await settle();
  if (timing.warmupSeconds > 0) {
    await runWrk({ ...phase, runTag: nextRunTag('w'), seconds: timing.warmupSeconds });
    await settle();
  }
  process.stdout.write(`  ${label} (${phase.connections} connections, ${timing.seconds} s)... `);
  const result = await runWrk({ ...phase, runTag: nextRunTag('m'), seconds: timing.seconds });
  process.stdout.write(`${goodRequestsPerSecond(result).toFixed(0)} requests/s, ${failureCount(result)} failed\n`);
  if (result.error_sample !== '') process.stdout.write(`    first error: ${result.error_sample}\n`);
  return result;
}

export const fmt = (value: number, digits = 0): string => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const ms = (value: number): string => fmt(value, value < 10 ? 1 : 0);

/** Writes bench/results/<name>-latest.json and a dated copy; answers the file names. */
export function writeResults(name: string, startedAt: Date, results: unknown): string[] {
  const resultsDir = path.join(repoRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const json = JSON.stringify(results, null, 2);
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const files = [`${name}latest.json`, `${name}${stamp}.json`];
  for (const file of files) writeFileSync(path.join(resultsDir, file), json);
  return files.map((file) => `bench/results/${file}`);
}
