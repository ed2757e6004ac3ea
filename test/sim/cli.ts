// npm run sim -- --seeds A..B --steps N [--nodes 3|5] [--driver] [--verbose] [--trace]
// Runs the deterministic simulator on a range of seeds (with --driver: the real
// node driver and SQLite ledger on virtual time, --steps its ms of faults) and ends with the line
// `sim: P passed, F failed`; exits non-zero if any seed failed. A failing seed
// prints the tail of its trace and the command that replays it exactly.

import { runDriverSeed } from './driver-simulation.js';
import { runSeed, type SimResult } from './simulation.js';

interface CliOptions {
  seedFrom: number;
  seedTo: number;
  steps: number;
  nodes: number;
  verbose: boolean;
  traceAll: boolean;
  driver: boolean;
}

function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = { seedFrom: 1, seedTo: 100, steps: 3000, nodes: 3, verbose: false, traceAll: false, driver: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--seeds': {
        const text = value();
        const match = /^(\d+)(?:\.\.(\d+))?$/.exec(text);
        if (!match) usage(`--seeds takes A..B or A, got ${text}`);
        options.seedFrom = Number(match[1]);
        options.seedTo = Number(match[2] ?? match[1]);
        if (options.seedTo < options.seedFrom) usage('--seeds: B must be >= A');
        break;
      }
      case '--steps':
        options.steps = positiveInt(value(), '--steps');
        break;
      case '--nodes':
        options.nodes = positiveInt(value(), '--nodes');
        if (options.nodes !== 3 && options.nodes !== 5) usage('--nodes takes 3 or 5');
        break;
      case '--verbose':
        options.verbose = true;
        break;
      case '--trace':
        options.traceAll = true;
        break;
      case '--driver':
        options.driver = true;
        break;
      default:
        usage(`unknown argument ${String(arg)}`);
    }
  }
  return options;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) usage(`${flag} takes a positive integer, got ${text}`);
  return n;
}

function usage(problem: string): never {
  process.stderr.write(`sim: ${problem}\nusage: sim --seeds A..B [--steps N] [--nodes 3|5] [--driver] [--verbose] [--trace]\n`);
  process.exit(2);
}

function describe(result: SimResult): string {
  const s = result.stats;
  return (
    `seed ${result.seed}: ${result.ok ? 'ok' : 'FAILED'} — committed ${s.committed}, leaders ${s.leaders}, ` +
    `reads checked ${s.reads}, crashes ${s.crashes}, snapshots sent ${s.snapshotsSent}, conf changes ${s.confChanges}, ` +
    `transfers ${s.transfers}, settled ${s.healMs}ms after healing`
  );
}

async function runDriver(options: CliOptions): Promise<void> {
  let passed = 0;
  let failed = 0;
  for (let seed = options.seedFrom; seed <= options.seedTo; seed++) {
    const result = await runDriverSeed({ seed, nodes: options.nodes, durationMs: options.steps });
    const line = `seed ${seed}: ${result.ok ? 'ok' : 'FAILED'} — ${result.acknowledged} writes acknowledged, ${result.readsChecked} reads checked, ${result.crashes} crashes`;
    if (result.ok) {
      passed++;
      if (options.verbose) console.log(line);
      continue;
    }
    failed++;
    console.log(`${line}\n  ${result.error}`);
    for (const traceLine of result.trace.slice(-60)) console.log(`    ${traceLine}`);
    console.log(`  replay: npm run sim -- --driver --seeds ${seed} --steps ${options.steps} --nodes ${options.nodes}`);
  }
  console.log(`(driver, ${options.nodes} nodes, ${options.steps} ms of faults per seed)`);
  console.log(`sim: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  if (options.driver) {
    void runDriver(options);
    return;
  }
  let passed = 0;
  let failed = 0;
  const started = Date.now();
  for (let seed = options.seedFrom; seed <= options.seedTo; seed++) {
    const result = runSeed({ seed, steps: options.steps, nodes: options.nodes, traceAll: options.traceAll });
    if (result.ok) {
      passed++;
      if (options.verbose) console.log(describe(result));
      continue;
    }
    failed++;
    console.log(describe(result));
    console.log(`  ${result.error}`);
    console.log(`  trace (last ${Math.min(result.trace.length, 60)} lines; --trace for all):`);
    const lines = options.traceAll ? result.trace : result.trace.slice(-60);
    for (const line of lines) console.log(`    ${line}`);
    console.log(`  replay: npm run sim -- --seeds ${seed} --steps ${options.steps} --nodes ${options.nodes} --trace`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`(${options.nodes} nodes, ${options.steps} steps per seed, ${seconds}s)`);
  console.log(`sim: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main();
