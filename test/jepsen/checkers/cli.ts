// Checks a recorded history file from the command line and prints the report
// as JSON: `node dist/test/jepsen/checkers/cli.js history.jsonl`. The exit
// status says the verdict: 0 valid, 1 a violation, 2 unknown, 64 bad usage or
// an unreadable history.

import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { HistoryFormatError } from '../history.js';
import { checkHistoryFile } from './summary.js';

const USAGE = `Usage: node dist/test/jepsen/checkers/cli.js [options] <history.jsonl>

Runs every checker that applies to a Jepsen-style history (docs/jepsen.md,
section "Checkers") and prints the report as JSON.

Options:
  --time-limit-ms N      linearizability: wall-clock budget of the whole search (default 60000)
  --states-per-key N     linearizability: cached states per key (default 200000)
  --no-lease-linearizable  do not hold lease reads to linearizability
  --no-staleness-bounds  do not hold stale reads to their max_staleness_ms (min_index still holds)
  --bank-account ID      the funding account, the only one allowed below zero (default bank)
  --help                 this text

Exit status: 0 valid, 1 violation found, 2 unknown (a budget ran out or the
history lacks what a check needs), 64 bad usage or unreadable history.`;

function positiveInteger(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new UsageError(`${name} must be a positive integer, got "${text}"`);
  return value;
}

class UsageError extends Error {
  override name = 'UsageError';
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

function main(argv: string[], output: Output): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'time-limit-ms': { type: 'string' },
      'states-per-key': { type: 'string' },
      'no-lease-linearizable': { type: 'boolean' },
      'no-staleness-bounds': { type: 'boolean' },
      'bank-account': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) {
    output.out(`${USAGE}\n`);
    return 0;
  }
  const path = positionals[0];
  if (path === undefined || positionals.length > 1) throw new UsageError('give exactly one history file');
  const timeLimitMs = positiveInteger(values['time-limit-ms'], '--time-limit-ms');
  const statesPerKey = positiveInteger(values['states-per-key'], '--states-per-key');
  const report = checkHistoryFile(path, {
    leaseIsLinearizable: values['no-lease-linearizable'] !== true,
    stalenessBoundsHold: values['no-staleness-bounds'] !== true,
    linearizability: { ...(timeLimitMs === undefined ? {} : { timeLimitMs }), ...(statesPerKey === undefined ? {} : { maxStatesPerKey: statesPerKey }) },
    ...(values['bank-account'] === undefined ? {} : { bank: { bankAccount: values['bank-account'] } }),
  });
  output.out(`${JSON.stringify(report, null, 2)}\n`);
  return report.valid === true ? 0 : report.valid === false ? 1 : 2;
}

/** Runs the command line; returns the exit status. */
export function runCli(argv: string[], output: Output): number {
  try {
    return main(argv, output);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const known = error instanceof UsageError || error instanceof HistoryFormatError || code === 'ENOENT' || code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    if (!known) throw error;
    output.err(`jepsen check: ${(error as Error).message}\n${error instanceof UsageError ? `\n${USAGE}\n` : ''}`);
    return 64;
  }
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  process.exitCode = runCli(process.argv.slice(2), { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) });
}
