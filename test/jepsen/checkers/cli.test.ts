// The checker's command line, run as a real process on real files: the exit
// status is the verdict (0 valid, 1 violation, 64 bad usage or unreadable
// history; 2 for unknown is the summary's verdict, tested there) and stdout
// is the JSON report.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
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

t.test('bad usage and unreadable histories exit 64 with a message naming the problem', async (t) => {
  const bad = join(directory, 'bad.jsonl');
  writeFileSync(bad, '{"type":"invoke","process":1,"f":"transfer","time":0,"value":{"id":"x"}}\n');
  const malformed = run(bad);
  t.equal(malformed.status, 64);
  t.match(malformed.stderr, /line 1: value of invoke transfer: from/);
  const limit = run('--time-limit-ms', 'soon', bad);
  t.equal(limit.status, 64);
  t.match(limit.stderr, /--time-limit-ms must be a positive integer/);
  const help = run('--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /Exit status: 0 valid/);
});
