// ledgerctl: status renders the leader's lag figures as a table, asked of any
// node; --help; it runs through npm's bin symlinks (npx ledgerctl).

import { execFile } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { renderStatus } from '../../src/cli/ledgerctl.js';
import { ProcessCluster } from '../cluster/harness.js';
import { LEDGERCTL } from '../cluster/ledgerd-process.js';
import { temporaryDirectory } from '../support/helpers.js';

t.test('status table shows each member with match, lag and last contact', async (t) => {
  const text = renderStatus({
    id: 'n1',
    role: 'leader',
    term: 4,
    leader: 'n1',
    commit_index: 120,
    applied_index: 120,
    last_log_index: 121,
    snapshot_index: 100,
    members: [
      { id: 'n1', url: 'http://127.0.0.1:7001', voter: true, match_index: 121, lag_entries: 0, last_contact_ms: 0 },
      { id: 'n2', url: 'http://127.0.0.1:7002', voter: true, match_index: 90, lag_entries: 30, lag_ms: 2400, last_contact_ms: 1500 },
      { id: 'n4', url: 'http://127.0.0.1:7004', voter: false },
    ],
  });
  t.match(text, /node n1: leader, term 4, leader n1/);
  t.match(text, /^n2\s+voter\s+90\s+30\s+2400 ms\s+1500 ms\s+http:\/\/127\.0\.0\.1:7002$/m, 'lag in entries and in time, then last contact');
  t.match(text, /^n1 \*\s+voter/m, 'the leader is marked');
  t.match(text, /^n4\s+learner\s+-\s+-\s+-\s+-/m);
  t.notMatch(text, /ask it with --url/, 'no hint when asked through the leader');
});

t.test('figures a node does not know (null in JSON) show as -, never null', async (t) => {
  const text = renderStatus({
    id: 'n2', role: 'follower', term: 4, leader: 'n1', commit_index: 7, applied_index: 7, last_log_index: 7, snapshot_index: 0,
    members: [{ id: 'n1', url: null, voter: true, match_index: null, lag_entries: null, lag_ms: null, last_contact_ms: null }],
  });
  t.match(text, /^n1 \*\s+voter\s+-\s+-\s+-\s+-\s+-$/m);
  t.notMatch(text, /null/);
});

function ledgerctl(args: readonly string[], script = LEDGERCTL): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

t.test('--help exits 0 on stdout and names LEDGER_URL and LEDGER_TOKEN, also through a bin link as npx runs it', async (t) => {
  const help = await ledgerctl(['--help']);
  t.equal(help.code, 0);
  t.equal(help.stderr, '');
  t.match(help.stdout, /LEDGER_URL/);
  t.match(help.stdout, /LEDGER_TOKEN/);
  t.match(readFileSync(LEDGERCTL, 'utf8'), /^#!\/usr\/bin\/env node\n/, 'the built file starts with its shebang');

  // npm (and npx) run a bin through a symlink in node_modules/.bin.
  const bin = temporaryDirectory(t, 'ledgerctl-bin');
  symlinkSync(LEDGERCTL, path.join(bin, 'ledgerctl'));
  const linked = await ledgerctl(['--help'], path.join(bin, 'ledgerctl'));
  t.equal(linked.code, 0);
  t.match(linked.stdout, /LEDGER_URL/, 'run through a symlink, it still runs');

  const wrong = await ledgerctl(['frobnicate']);
  t.equal(wrong.code, 2, 'an unknown command is an error');
  t.match(wrong.stderr, /unknown command frobnicate/);
});

t.test('status asked a follower finds the leader and prints its lag table', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  const { leader, followers } = await cluster.startStableTrio();
  const status = await ledgerctl(['--url', followers[0].url, 'status']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, new RegExp(`asked ${followers[0].id} \\(follower\\); figures from the leader at ${leader.url}`));
  t.match(status.stdout, new RegExp(`node ${leader.id}: leader`));
  for (const follower of followers) {
    t.match(status.stdout, new RegExp(`^${follower.id}\\s+voter\\s+\\d+\\s+\\d+\\s+\\d+ ms\\s+\\d+ ms\\s+http`, 'm'), `${follower.id} has match, lag in entries and time, and last contact`);
  }
  t.notMatch(status.stdout, /null/);
});
