// Automatic snapshots are taken on another thread (snapshot-worker.ts) while
// entries keep being applied: the image must be one consistent state, at the
// applied index it reports, with that index's chain head; and a restore or a
// close that comes while one is being taken must wait for it, not fail.

import { join } from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { LedgerStateMachine, snapshotBytesSource } from '../../src/ledger/index.js';
import { temporaryDirectory } from '../support/helpers.js';
import { applyTransfers, openWithAccounts } from './harness.js';


const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('a background snapshot taken while entries are applied is one consistent state at the index it reports', async (t) => {
  const dir = temporaryDirectory(t, 'ledger');
  const path = join(dir, 'source.db');
  const source = openWithAccounts(path);
  t.teardown(() => source.close());
  applyTransfers(source, 2000);
  const startedAt = source.appliedIndex();
  let done = false;
  const taking = source.snapshotInBackground().finally(() => {
    done = true;
  });
  // Keep applying on this thread while the worker reads.
  while (!done) {
    applyTransfers(source, 20);
    await yieldTurn();
  }
  const image = await taking;
  t.ok(image.appliedIndex >= startedAt && image.appliedIndex <= source.appliedIndex(), `index ${image.appliedIndex} within what was applied`);
  const chain = new Database(path, { readonly: true });
  const head = chain.prepare('SELECT head FROM chain WHERE entry_index = ?').pluck().get(image.appliedIndex);
  chain.close();
  t.equal(image.chainHead, head, "the chain head recorded for that index");

  const restored = LedgerStateMachine.open(join(dir, 'restored.db'));
  t.teardown(() => restored.close());
  restored.restore(snapshotBytesSource(image.bytes));
  t.equal(restored.appliedIndex(), image.appliedIndex);
  t.equal(restored.chainHead(), image.chainHead);
  t.equal(restored.verifyChain().ok, true, 'every entry of the image verifies');
  const transfersIn = image.appliedIndex - 1;
  t.equal(restored.queries.account('b')?.credits_posted, BigInt(transfersIn), 'balances as of that index, not a mix');
});

t.test('a restore or a close while a background snapshot is being taken waits for it', async (t) => {
  const dir = temporaryDirectory(t, 'ledger');
  const other = openWithAccounts(join(dir, 'other.db'));
  applyTransfers(other, 10);
  const replacement = other.snapshot();
  other.close();

  const machine = openWithAccounts(join(dir, 'machine.db'));
  applyTransfers(machine, 3000);
  const during = machine.snapshotInBackground();
  machine.restore(snapshotBytesSource(replacement));
  t.equal(machine.appliedIndex(), 11, 'restored while the worker held a read transaction');
  const taken = await during;
  t.ok(taken.appliedIndex >= 1, 'the snapshot that was under way still answered');
  applyTransfers(machine, 5);
  const again = machine.snapshotInBackground();
  machine.close();
  await again.then(
    (image) => t.ok(image.appliedIndex >= 11, 'answered before the close took the file away'),
    (error: unknown) => t.match(String(error), /snapshot worker|SQLITE|database/, 'or failed cleanly'),
  );
});

t.test('an in-memory ledger snapshots at once, at its applied index', async (t) => {
  const machine = openWithAccounts(':memory:');
  applyTransfers(machine, 5);
  const image = await machine.snapshotInBackground();
  t.equal(image.appliedIndex, 6);
  t.equal(image.chainHead, machine.chainHead());
  machine.close();
});
