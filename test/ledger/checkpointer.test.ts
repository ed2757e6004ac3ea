// Background WAL checkpoints (src/ledger/checkpointer.ts): the applying
// connection leaves checkpoints to a worker thread, which copies committed
// pages into the main file while entries keep being applied, and which is
// gone (its connection closed) by the time close() or restore() returns.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { LedgerStateMachine, snapshotBytesSource } from '../../src/ledger/index.js';
import { BACKSTOP_PAGES } from '../../src/ledger/checkpointer.js';
import { temporaryDirectory } from '../support/helpers.js';
import { applyTransfers, openWithAccounts } from './harness.js';


async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

t.test('a worker checkpoints the WAL while entries are applied; the applying connection only has a backstop', async (t) => {
  const path = join(temporaryDirectory(t, 'ledger'), 'ledger.db');
  const machine = openWithAccounts(path);
  t.teardown(() => machine.close());
  // The applying connection's own autocheckpoint is raised to the backstop.
  const probe = new Database(path, { readonly: true });
  t.teardown(() => probe.close());
  for (let round = 0; round < 5; round++) applyTransfers(machine, 200);
  await until('a background checkpoint', () => (machine.checkpointStatus()?.checkpoints ?? 0) >= 2);
  const status = machine.checkpointStatus();
  t.equal(status?.failures, 0, 'no checkpoint failed');
  t.equal(status?.lastError, undefined);
  // Every committed frame is already in the main file: a checkpoint now has nothing left to copy.
  await until('the WAL backfilled', () => {
    const [row] = probe.pragma('wal_checkpoint(PASSIVE)') as { log: number; checkpointed: number }[];
    return row !== undefined && row.log === row.checkpointed;
  });
  t.ok(statSync(path).size > 4096 * 10, 'the pages reached the main file');
  t.equal(BACKSTOP_PAGES, 8192);
});

t.test('close() stops the worker first, so the last connection removes the WAL', async (t) => {
  const path = join(temporaryDirectory(t, 'ledger'), 'ledger.db');
  const machine = openWithAccounts(path);
  applyTransfers(machine, 300);
  await until('a background checkpoint', () => (machine.checkpointStatus()?.checkpoints ?? 0) >= 1);
  machine.close();
  // Were the worker's connection still open, SQLite would keep the -wal file.
  t.notOk(existsSync(`${path}-wal`), 'no WAL file left after close');
  const reopened = LedgerStateMachine.open(path);
  t.equal(reopened.appliedIndex(), 301);
  t.equal(reopened.queries.account('a')?.debits_posted, 300n);
  reopened.close();
});

t.test('restore() replaces the file under a running checkpointer and checkpoints again after', async (t) => {
  const dir = temporaryDirectory(t, 'ledger');
  const source = openWithAccounts(join(dir, 'source.db'));
  applyTransfers(source, 50);
  const image = source.snapshot();
  source.close();
  const target = openWithAccounts(join(dir, 'target.db'));
  t.teardown(() => target.close());
  applyTransfers(target, 400);
  await until('a background checkpoint', () => (target.checkpointStatus()?.checkpoints ?? 0) >= 1);
  target.restore(snapshotBytesSource(image));
  t.equal(target.appliedIndex(), 51);
  t.equal(target.checkpointStatus()?.checkpoints, 0, 'a new worker for the new file');
  applyTransfers(target, 100);
  await until('a checkpoint of the restored file', () => (target.checkpointStatus()?.checkpoints ?? 0) >= 1);
  t.equal(target.queries.account('b')?.credits_posted, 150n);
  t.equal(target.verifyChain().ok, true);
});

t.test('an in-memory ledger has no checkpointer', async (t) => {
  const machine = LedgerStateMachine.open(':memory:');
  t.equal(machine.checkpointStatus(), undefined);
  machine.close();
});
