// The checker's command line. As a real process on real files: the exit
// status is the verdict (0 valid, 1 violation, 64 an unreadable history) and
// stdout is the JSON report (2 for unknown is the summary's verdict, tested
// there). In-process: bad usage answers 64 naming the option, --help 0.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runCli } from './cli.js';
import { created, HistoryBuilder, ok } from './history-builder.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), 'cli.js');
const directory = mkdtempSync(join(tmpdir(), 'jepsen-cli-'));
t.teardown(() => rmSync(directory, { recursive: true, force: true }));

function historyFile(name: string, found: boolean): string {
  const path = join(directory, name);
  const builder = new HistoryBuilder()
    .op(1, 'transfer', { id: 't1', from: 'bank', to: 'a', amount: '5' }, created(1), 0, 1)
    .op(1, 'read-transfer', { id: 't1' }, ok(found ? { found: true, status: 'posted', amount: '5' } : { found: false }), 2, 3);
  builder.nemesis('final-reads', 10).op(1, 'read-balances', { accounts: ['bank', 'a'] }, ok({ balances: { bank: '-5', a: '5' } }), 11, 12);
  writeFileSync(path, builder.lines());
  return path;
}

const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });

t.test('exit status and JSON report follow the verdict', async (t) => {
  const valid = run(historyFile('valid.jsonl', true));
  t.equal(valid.status, 0, valid.stderr);
  t.equal(JSON.parse(valid.stdout).valid, true);
  const lost = run(historyFile('lost.jsonl', false));
  t.equal(lost.status, 1);
  t.equal(JSON.parse(lost.stdout).checkers.linearizability.anomalies[0].kind, 'nonlinearizable');
});

t.test('an unreadable history exits 64 with a message naming the line and field', async (t) => {
  const bad = join(directory, 'bad.jsonl');
  writeFileSync(bad, '{"type":"invoke","process":1,"f":"transfer","time":0,"value":{"id":"x"}}\n');
  const malformed = run(bad);
  t.equal(malformed.status, 64);
  t.match(malformed.stderr, /line 1: value of invoke transfer: from/);
});

t.test('bad usage answers 64 with the usage; --help answers 0', async (t) => {
  const call = (...args: string[]) => {
    const output = { out: '', err: '' };
    const status = runCli(args, { out: (text) => (output.out += text), err: (text) => (output.err += text) });
    return { status, ...output };
  };
  const limit = call('--time-limit-ms', 'soon', 'history.jsonl');
  t.equal(limit.status, 64);
  t.match(limit.err, /--time-limit-ms must be a positive integer, got "soon"/);
  t.match(call().err, /give exactly one history file/);
  t.match(call('--frobnicate', 'x').err, /Unknown option '--frobnicate'/);
  t.match(call(join(directory, 'missing.jsonl')).err, /ENOENT/);
  const help = call('--help');
  t.equal(help.status, 0);
  t.match(help.out, /Exit status: 0 valid/);
});
