// The command line of the Jepsen-style suite (docs/jepsen.md):
//   node dist/test/jepsen/cli.js --nodes 3 --time-limit 60 --nemesis partition,kill --seed 7
// and `--check DIR` to check and report an existing run folder again.
// Exit status: 0 no violation found (valid or unknown), 1 a violation or a
// run that failed, 2 bad arguments, 77 `--net netns` cannot run here.

import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { HistoryEvent } from './history-writer.js';
import { NET_KINDS, type NetKind } from './net.js';
import { netnsUnavailable } from './netns.js';
import { ALL_NEMESES, clockCheckRefusal, resolveNemeses, type ClockChecks } from './nemeses.js';
import { renderReport, summarize } from './report.js';
import { checkEvents, type SummaryOptions } from './checkers/summary.js';
import { parseHistory } from './history.js';
import { run, type Checker, type WorkloadName } from './runner.js';

/**
 * The checker every run uses: the runner's events go through the checkers'
 * own history schema (a line the schema refuses is a runner bug and fails the
 * check), then every checker that applies runs over them.
 */
const checker: Checker = async (events, runInfo) => {
  const history = parseHistory(events.map((event) => JSON.stringify(event)).join('\n'));
  const report = checkEvents(history, summaryOptions(runInfo));
  return { ...report };
};

/**
 * What the checkers need of run.json beyond the history: the bank account,
 * the starting stock, and whether lease reads are held to linearizability
 * and stale reads to their bounds (`lease_linearizable`, `staleness_bounds`:
 * false when the run had --no-lease-linearizable, --no-staleness-bounds).
 */
function summaryOptions(runInfo: Readonly<Record<string, unknown>>): SummaryOptions {
  const setup = (runInfo['setup'] ?? {}) as { bank?: unknown; skus?: unknown; on_hand?: unknown };
  const options: SummaryOptions = { leaseIsLinearizable: runInfo['lease_linearizable'] !== false, stalenessBoundsHold: runInfo['staleness_bounds'] !== false };
  if (typeof setup.bank === 'string') options.bank = { bankAccount: setup.bank };
  if (Array.isArray(setup.skus) && typeof setup.on_hand === 'number') {
    const onHand = setup.on_hand;
    options.reservations = { initialStock: Object.fromEntries(setup.skus.map((sku) => [String(sku), onHand])) };
  }
  return options;
}

const USAGE = `usage: node dist/test/jepsen/cli.js [options]
       node dist/test/jepsen/cli.js --check DIR

Starts real ledgerd processes, drives concurrent clients while injecting
faults, heals, reads on every node, and writes a run folder with
history.jsonl, nemesis.jsonl, run.json, report.json and report.html.

  --nodes N            cluster size, 3 or 5 (default 3)
  --time-limit S       seconds of load and faults (default 60)
  --concurrency N      concurrent clients (default 10)
  --seed N             seed of the fault schedule and the clients' choices (default: random, printed)
  --nemesis LIST       comma-separated nemeses or groups (default none):
                       ${ALL_NEMESES.map((n) => n.name).join(', ')}
                       groups: partition, kill, pause, all (every one but
                       clock-rate-beyond), none
  --workload W         bank | reservations (default bank)
  --out DIR            run folder (default ./jepsen-runs/<timestamp>-<seed>)
  --op-timeout-ms N    client deadline per request; then the outcome is unknown (default 6000)
  --quiet-ms A-B       quiet time before each fault, ms (default 2000-5000)
  --fault-ms A-B       length of each fault, ms (default 4000-9000)
  --net proxy|netns    how nodes reach each other and partitions cut them:
                       a TCP proxy per directed peer link (default; runs
                       anywhere), or a network namespace per node and iptables
                       DROP rules (root on Linux; scripts/jepsen-install.sh)
  --no-lease-linearizable
                       do not hold lease reads to linearizability (check them
                       like stale reads without a bound)
  --no-staleness-bounds
                       do not hold stale reads to their max_staleness_ms
                       (min_index still holds). clock-rate-beyond, whose
                       clocks run past the drift the cluster allows for,
                       requires both flags
  --strict             with --check: hold lease reads and staleness bounds
                       even if the run did not (run.json's lease_linearizable
                       and staleness_bounds); without it, or a --no- flag,
                       --check checks as the run did
  --tick-ms N          ledgerd --tick-ms (default 50, as ledgerd)
  --election-ticks N   ledgerd --election-ticks (default 20, as ledgerd)
  --check DIR          check and report an existing run folder again (no cluster)
  --help               this text

Exit status: 0 no violation found (verdict valid or unknown), 1 a violation
or a failed run, 2 bad arguments, 77 --net netns cannot run here (the reason
is printed).
`;

function range(text: string, flag: string): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match || Number(match[1]) > Number(match[2])) throw new Error(`${flag}: expected A-B in ms with A <= B, got "${text}"`);
  return [Number(match[1]), Number(match[2])];
}

function integer(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new Error(`${flag}: expected an integer ${min}..${max}, got "${text}"`);
  return value;
}

/** `--check DIR`; `overrides` replace what run.json recorded of the clock-dependent checks. */
async function check(dir: string, overrides: Partial<ClockChecks>): Promise<number> {
  const events = readFileSync(path.join(dir, 'history.jsonl'), 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as HistoryEvent);
  const recorded = JSON.parse(readFileSync(path.join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
  const runInfo = { ...recorded };
  const changed: string[] = [];
  for (const [flag, key] of [['leaseLinearizable', 'lease_linearizable'], ['stalenessBounds', 'staleness_bounds']] as const) {
    const wanted = overrides[flag];
    if (wanted === undefined || (recorded[key] !== false) === wanted) continue;
    runInfo[key] = wanted;
    changed.push(`${key} ${String(wanted)} (the run: ${String(recorded[key] ?? true)})`);
  }
  if (changed.length > 0) process.stdout.write(`checked with ${changed.join(', ')}; report.json and report.html are rewritten with this verdict\n`);
  const report = await checker(events, runInfo);
  const summary = summarize(events, Number(runInfo.concurrency));
  writeFileSync(path.join(dir, 'report.json'), `${JSON.stringify({ valid: report.valid, checker: report, availability: summary.availability, totals: summary.totals }, null, 2)}\n`);
  writeFileSync(path.join(dir, 'report.html'), renderReport({ run: runInfo, report, summary }));
  process.stdout.write(`verdict ${String(report.valid)}; report ${path.join(dir, 'report.html')}\n`);
  return report.valid === false ? 1 : 0;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        nodes: { type: 'string', default: '3' },
        'time-limit': { type: 'string', default: '60' },
        concurrency: { type: 'string', default: '10' },
        seed: { type: 'string' },
        nemesis: { type: 'string', default: 'none' },
        workload: { type: 'string', default: 'bank' },
        out: { type: 'string' },
        'op-timeout-ms': { type: 'string', default: '6000' },
        'quiet-ms': { type: 'string', default: '2000-5000' },
        'fault-ms': { type: 'string', default: '4000-9000' },
        'tick-ms': { type: 'string', default: '50' },
        'election-ticks': { type: 'string', default: '20' },
        net: { type: 'string', default: 'proxy' },
        'no-lease-linearizable': { type: 'boolean' },
        'no-staleness-bounds': { type: 'boolean' },
        strict: { type: 'boolean' },
        check: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${String(error instanceof Error ? error.message : error)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const clockChecks = { leaseLinearizable: values['no-lease-linearizable'] !== true, stalenessBounds: values['no-staleness-bounds'] !== true };
  if (values.strict === true && (!clockChecks.leaseLinearizable || !clockChecks.stalenessBounds)) {
    process.stderr.write(`--strict contradicts --no-lease-linearizable and --no-staleness-bounds\n\n${USAGE}`);
    return 2;
  }
  if (values.check !== undefined) {
    const overrides: Partial<ClockChecks> = values.strict === true ? { leaseLinearizable: true, stalenessBounds: true } : {
      ...(clockChecks.leaseLinearizable ? {} : { leaseLinearizable: false }),
      ...(clockChecks.stalenessBounds ? {} : { stalenessBounds: false }),
    };
    return check(values.check, overrides);
  }
  let options;
  try {
    if (values.strict === true) throw new Error('--strict: only with --check (a run holds every check unless a --no- flag says otherwise)');
    const nemeses = resolveNemeses(values.nemesis);
    const refusal = clockCheckRefusal(nemeses, clockChecks);
    if (refusal) throw new Error(refusal);
    const nodes = integer(values.nodes, '--nodes', 3, 5);
    if (nodes !== 3 && nodes !== 5) throw new Error('--nodes: expected 3 or 5');
    if (values.workload !== 'bank' && values.workload !== 'reservations') throw new Error(`--workload: expected bank or reservations, got "${values.workload}"`);
    if (!NET_KINDS.includes(values.net as NetKind)) throw new Error(`--net: expected ${NET_KINDS.join(' or ')}, got "${values.net}"`);
    const seed = values.seed !== undefined ? integer(values.seed, '--seed', 0, 2 ** 32 - 1) : Math.floor(Math.random() * 2 ** 31);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    options = {
      nodes,
      timeLimitS: integer(values['time-limit'], '--time-limit', 1, 86_400),
      concurrency: integer(values.concurrency, '--concurrency', 1, 1000),
      seed,
      nemeses,
      clockChecks,
      workload: values.workload as WorkloadName,
      out: values.out ?? path.join('jepsen-runs', `${stamp}-${seed}`),
      opTimeoutMs: integer(values['op-timeout-ms'], '--op-timeout-ms', 100, 600_000),
      quietMs: range(values['quiet-ms'], '--quiet-ms'),
      faultMs: range(values['fault-ms'], '--fault-ms'),
      tickMs: integer(values['tick-ms'], '--tick-ms', 1, 10_000),
      electionTicks: integer(values['election-ticks'], '--election-ticks', 3, 1000),
      net: values.net as NetKind,
      checker,
      log: (line: string) => process.stdout.write(`[jepsen ${new Date().toISOString().slice(11, 19)}] ${line}\n`),
    };
  } catch (error) {
    process.stderr.write(`${String(error instanceof Error ? error.message : error)}\n\n${USAGE}`);
    return 2;
  }
  if (options.net === 'netns') {
    const reason = netnsUnavailable();
    if (reason) {
      process.stderr.write(`--net netns: ${reason}\n`);
      return 77;
    }
  }
  options.log(`seed ${options.seed}; replay with: node dist/test/jepsen/cli.js --nodes ${options.nodes} --time-limit ${options.timeLimitS} --concurrency ${options.concurrency} --workload ${options.workload} --nemesis ${values.nemesis} --net ${options.net}${clockChecks.leaseLinearizable ? '' : ' --no-lease-linearizable'}${clockChecks.stalenessBounds ? '' : ' --no-staleness-bounds'} --seed ${options.seed}`);
  const result = await run(options);
  const t = result.summary.totals;
  options.log(`${t.ops} client ops: ${t.ok} ok, ${t.fail} fail, ${t.info} info; errors ${JSON.stringify(t.errors)}`);
  for (const a of result.summary.availability) {
    options.log(`availability ${a.kind}: ${a.okShare === null ? '-' : (a.okShare * 100).toFixed(1) + '%'} of ${a.ops} ops (${a.windows} windows)`);
  }
  options.log(`verdict ${String(result.report.valid)}; report ${path.join(result.dir, 'report.html')}`);
  if (result.report.run_error !== undefined) return 1;
  return result.report.valid === false ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
    process.exit(1);
  },
);
