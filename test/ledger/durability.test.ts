// Index discipline, time, restart, snapshot/restore and tamper evidence, on
// real SQLite files.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { encodeEntry, LedgerStateMachine, RESTORE_CHUNK_BYTES, snapshotBytesSource, type Command, type SnapshotImageSource } from '../../src/ledger/index.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/ledger/snapshot.js';
import { setup as crashSetup } from './fixtures/restore-setup.js';
import { Driver } from './harness.js';
import { temporaryDirectory } from '../support/helpers.js';

const setup: Command[] = [
  { type: 'create_accounts', accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] },
  { type: 'create_transfers', transfers: [{ id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: 5n, ledger: 'USD' }] },
  { type: 'create_transfers', transfers: [{ id: 'p', debit_account_id: 'a', credit_account_id: 'b', amount: 9n, ledger: 'USD', pending: true, timeout_ms: 50 }] },
  { type: 'create_items', items: [{ sku: 's', on_hand: 4 }] },
  { type: 'create_reservations', reservations: [{ id: 'r', lines: [{ sku: 's', qty: 2 }], ttl_ms: 70 }] },
];

t.test('entries apply exactly once and in order: repeats and gaps are assertion failures', (t) => {
  const machine = LedgerStateMachine.open(':memory:');
  machine.skip(1);
  t.throws(() => machine.skip(1), { name: 'AssertionFailure' });
  t.throws(() => machine.skip(3), { name: 'AssertionFailure' });
  t.throws(() => machine.skip(0), { name: 'AssertionFailure' });
  t.equal(machine.appliedIndex(), 1);
  machine.close();
  t.end();
});

t.test('an entry that throws midway leaves nothing behind and throws an AssertionFailure', (t) => {
  const path = join(temporaryDirectory(t, 'ledger'), 'throws.db');
  const driver = new Driver(path);
  for (const command of setup) driver.apply(command);
  driver.apply({ type: 'create_transfers', transfers: [{ id: 'q', debit_account_id: 'b', credit_account_id: 'a', amount: 3n, ledger: 'USD', pending: true, timeout_ms: 60 }] });
  driver.machine.close();
  // Break the state under the machine: b's pending debits no longer cover q,
  // and the adjustments table is gone.
  const raw = new Database(path);
  raw.exec("UPDATE accounts SET debits_pending = 0 WHERE id = 'b'; DROP TABLE adjustments;");
  raw.close();
  const broken = new Driver(path);
  const applied = broken.machine.appliedIndex();
  const head = broken.machine.chainHead();
  // p (deadline 1050) expires first, then releasing q (1060) trips an assertion.
  t.throws(() => broken.apply({ type: 'expire' }, 2_000), { name: 'AssertionFailure' });
  t.equal(broken.machine.queries.transfer('p')?.status, 'pending', 'the expiry done before the throw is rolled back');
  t.equal(broken.machine.queries.account('a')?.debits_pending, 9n);
  // The stock write happens before the adjustment insert, which fails in SQLite.
  t.throws(() => broken.apply({ type: 'adjust_stock', adjustments: [{ id: 'j', sku: 's', delta: 1 }] }), { name: 'AssertionFailure' });
  t.equal(broken.machine.queries.item('s')?.on_hand, 4, 'the stock write before the failing insert is rolled back');
  t.equal(broken.machine.appliedIndex(), applied);
  t.equal(broken.machine.chainHead(), head);
  broken.machine.close();
  const reopened = new Driver(path);
  t.equal(reopened.machine.appliedIndex(), applied, 'and nothing of either entry reached the file');
  reopened.machine.close();
  t.end();
});

t.test('time never goes backwards: a lower entry time applies at the last time', (t) => {
  const driver = new Driver();
  driver.apply(setup[0]!, 10_000);
  const outcome = driver.machine.applyEntry(2, encodeEntry({ timeMs: 5_000, command: setup[1]! }));
  t.equal(outcome.timeMs, 10_000);
  t.equal(driver.machine.queries.transfer('t1')?.created_at, 10_000);
  t.equal(driver.machine.skip(3).timeMs, 10_000, 'an entry without a command keeps the time');
  t.end();
});

t.test('a file-backed ledger reopened resumes at its applied index with the same state and chain', (t) => {
  const path = join(temporaryDirectory(t, 'ledger'), 'ledger.db');
  const first = new Driver(path);
  for (const command of setup) first.apply(command);
  const head = first.machine.chainHead();
  first.machine.close();
  const second = new Driver(path);
  t.equal(second.machine.appliedIndex(), setup.length);
  t.equal(second.machine.chainHead(), head);
  t.equal(second.machine.queries.account('b')?.credits_posted, 5n);
  t.equal(second.machine.nextDeadlineMs(), 1_050);
  t.same(second.apply({ type: 'expire' }, 1_100), { type: 'expire', expired_transfers: 1, expired_reservations: 1 });
  t.ok(second.machine.verifyChain().ok);
  second.machine.close();
  t.end();
});

t.test('snapshot and restore round-trip the whole state, into memory and onto a file', (t) => {
  const source = new Driver();
  for (const command of setup) source.apply(command);
  const snapshot = source.machine.snapshot();
  const headAtSnapshot = source.machine.chainHead();
  for (const target of [':memory:', join(temporaryDirectory(t, 'ledger'), 'restored.db')]) {
    const restored = new Driver(target);
    restored.apply({ type: 'create_accounts', accounts: [{ id: 'stale', ledger: 'USD' }] });
    restored.machine.restore(snapshotBytesSource(snapshot));
    t.equal(restored.machine.appliedIndex(), setup.length);
    t.equal(restored.machine.chainHead(), headAtSnapshot);
    t.equal(restored.machine.queries.account('stale'), undefined, 'earlier state is discarded');
    t.ok(restored.machine.verifyChain().ok);
    // A file in WAL mode keeps other header bytes than an in-memory image, so
    // byte equality is checked where both sides are in memory.
    if (target === ':memory:') t.ok(Buffer.from(restored.machine.snapshot()).equals(Buffer.from(snapshot)), 'snapshot of the restored state is identical');
    const replica = new Driver();
    replica.machine.restore(snapshotBytesSource(snapshot));
    restored.apply({ type: 'confirm_reservations', ids: ['r'] });
    replica.apply({ type: 'confirm_reservations', ids: ['r'] });
    t.equal(restored.machine.chainHead(), replica.machine.chainHead(), 'both continue identically');
    replica.machine.close();
    restored.machine.close();
    const reopened = new Driver(target === ':memory:' ? ':memory:' : target);
    if (target !== ':memory:') t.equal(reopened.machine.appliedIndex(), setup.length + 1, 'restored file survives reopening');
    reopened.machine.close();
  }
  const damaged = Uint8Array.from(snapshot);
  damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 1;
  t.throws(() => source.machine.restore(snapshotBytesSource(damaged)), { name: 'AssertionFailure' });
  t.ok(source.machine.verifyChain().ok, 'a refused restore leaves the state as it was');
  source.machine.close();
  t.end();
});

t.test('a snapshot whose header disagrees with the state inside is refused before anything is replaced', (t) => {
  const source = new Driver();
  for (const command of setup) source.apply(command);
  const good = decodeSnapshot(source.machine.snapshot());
  if (!good.ok) throw new Error(good.reason);
  const mislabelled = encodeSnapshot({ appliedIndex: good.header.appliedIndex + 1, chainHead: good.header.chainHead }, good.image);
  for (const target of [':memory:', join(temporaryDirectory(t, 'ledger'), 'kept.db')]) {
    const kept = new Driver(target);
    kept.apply({ type: 'create_accounts', accounts: [{ id: 'mine', ledger: 'USD' }] });
    const head = kept.machine.chainHead();
    t.throws(() => kept.machine.restore(snapshotBytesSource(mislabelled)), { name: 'AssertionFailure' }, target);
    t.equal(kept.machine.appliedIndex(), 1, `${target}: applied index kept`);
    t.equal(kept.machine.chainHead(), head, `${target}: chain head kept`);
    t.ok(kept.machine.queries.account('mine'), `${target}: state kept`);
    t.equal(kept.apply({ type: 'create_accounts', accounts: [{ id: 'next', ledger: 'USD' }] }).type, 'create_accounts', `${target}: still applies`);
    kept.machine.close();
  }
  source.machine.close();
  t.end();
});

t.test('verifyChain names the first entry whose stored records were edited', (t) => {
  const path = join(temporaryDirectory(t, 'ledger'), 'tamper.db');
  const driver = new Driver(path);
  for (const command of setup) driver.apply(command);
  t.same(driver.machine.verifyChain(), { ok: true, checkedEntries: setup.length, head: driver.machine.chainHead() });
  driver.machine.close();
  const raw = new Database(path);
  raw.prepare("UPDATE transfers SET amount = 6 WHERE id = 't1'").run();
  raw.close();
  const reopened = new Driver(path);
  t.match(reopened.machine.verifyChain(), { ok: false, index: 2 });
  reopened.machine.close();
  const raw2 = new Database(path);
  raw2.prepare("UPDATE transfers SET amount = 5 WHERE id = 't1'").run();
  raw2.prepare("UPDATE accounts SET credits_posted = 6 WHERE id = 'b'").run();
  raw2.close();
  const again = new Driver(path);
  t.match(again.machine.verifyChain(), { ok: false, reason: /account b/ });
  again.machine.close();
  t.end();
});

t.test('verifyChain also catches edited metadata, an edited unchanged status and an edited meta time', (t) => {
  const path = join(temporaryDirectory(t, 'ledger'), 'tamper-more.db');
  const driver = new Driver(path);
  driver.apply({ type: 'create_accounts', accounts: [{ id: 'a', ledger: 'USD', metadata: { owner: 'ann' } }, { id: 'b', ledger: 'USD' }] });
  for (const command of setup.slice(1)) driver.apply(command);
  t.ok(driver.machine.verifyChain().ok);
  driver.machine.close();
  const edits: [string, string, object][] = [
    ['account metadata', `UPDATE accounts SET metadata = '{"owner":"mallory"}' WHERE id = 'a'`, { ok: false, index: 1 }],
    ['item metadata', `UPDATE items SET metadata = '{"x":1}' WHERE sku = 's'`, { ok: false, index: 4 }],
    ['transfer metadata', `UPDATE transfers SET metadata = '{"x":1}' WHERE id = 't1'`, { ok: false, index: 2 }],
    ['status of a transfer that never changed', "UPDATE transfers SET status = 'voided' WHERE id = 't1'", { ok: false, reason: /transfer t1/ }],
    ['status of a reservation that never changed', "UPDATE reservations SET status = 'released' WHERE id = 'r'", { ok: false }],
    ['meta time', 'UPDATE meta SET time_ms = time_ms + 1', { ok: false, reason: /meta/ }],
  ];
  for (const [what, sql, expected] of edits) {
    const copy = join(temporaryDirectory(t, 'ledger'), 'copy.db');
    const source = new Database(path);
    source.exec(`VACUUM INTO '${copy}'`);
    source.close();
    const raw = new Database(copy);
    raw.prepare(sql).run();
    raw.close();
    const edited = LedgerStateMachine.open(copy);
    t.match(edited.verifyChain(), expected, what);
    edited.close();
  }
  t.end();
});

t.test('accounts read together come from one state, in the order asked', (t) => {
  const driver = new Driver();
  for (const command of setup) driver.apply(command);
  t.same(driver.machine.queries.accounts(['b', 'missing', 'a']).map((account) => account?.id), ['b', undefined, 'a']);
  const page = driver.machine.queries.accountTransfers('a', 0, 1);
  t.same(page.map((transfer) => transfer.id), ['t1']);
  t.same(driver.machine.queries.accountTransfers('a', page[0]!.seq, 10).map((transfer) => transfer.id), ['p']);
  t.match(driver.machine.queries.transfer('p'), { status: 'pending', pending: true, expires_at: 1_050, index: 3, created_at: 1_000 });
  t.end();
});

t.test('a batch of entries in one transaction gives the same results, state and chain as one entry at a time', (t) => {
  const commands: Command[] = [
    ...setup,
    { type: 'create_transfers', transfers: [{ id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: 5n, ledger: 'USD' }] },
    { type: 'create_transfers', transfers: [{ id: 'x', debit_account_id: 'a', credit_account_id: 'a', amount: 1n, ledger: 'USD' }] },
    { type: 'expire' },
  ];
  const entries = commands.map((command, n) => ({ index: n + 1, data: encodeEntry({ timeMs: 1_000 + n * 40, command }) }));
  entries.splice(3, 0, { index: 0, data: new Uint8Array(0) });
  entries.forEach((entry, n) => Object.assign(entry, { index: n + 1 }));
  const single = LedgerStateMachine.open(':memory:');
  const one = entries.map((entry) => single.applyEntry(entry.index, entry.data));
  const batched = LedgerStateMachine.open(join(temporaryDirectory(t, 'ledger'), 'batched.db'));
  const all = batched.applyEntries(entries);
  t.same(all, one, 'every entry has the result it has when applied alone');
  t.equal(batched.appliedIndex(), entries.length);
  t.equal(batched.chainHead(), single.chainHead());
  t.same(batched.queries.accounts(['a', 'b']), single.queries.accounts(['a', 'b']));
  t.ok(batched.verifyChain().ok, 'the chain verifies');
  single.close();
  batched.close();
  t.end();
});

t.test('a batch that throws midway leaves nothing of any of its entries, in memory or on disk', (t) => {
  const path = join(temporaryDirectory(t, 'ledger'), 'batch-throws.db');
  const driver = new Driver(path);
  for (const command of setup) driver.apply(command);
  driver.machine.close();
  const raw = new Database(path);
  raw.exec('DROP TABLE adjustments;');
  raw.close();
  const broken = new Driver(path);
  const applied = broken.machine.appliedIndex();
  const head = broken.machine.chainHead();
  const good = encodeEntry({ timeMs: 2_000, command: { type: 'create_transfers', transfers: [{ id: 'ok', debit_account_id: 'a', credit_account_id: 'b', amount: 1n, ledger: 'USD' }] } });
  const bad = encodeEntry({ timeMs: 2_000, command: { type: 'adjust_stock', adjustments: [{ id: 'j', sku: 's', delta: 1 }] } });
  t.throws(() => broken.machine.applyEntries([{ index: applied + 1, data: good }, { index: applied + 2, data: bad }]), { name: 'AssertionFailure' });
  t.equal(broken.machine.appliedIndex(), applied);
  t.equal(broken.machine.chainHead(), head);
  t.equal(broken.machine.queries.transfer('ok'), undefined, 'the good entry before the failing one is rolled back too');
  t.throws(() => broken.machine.applyEntries([{ index: applied + 2, data: good }]), { name: 'AssertionFailure' }, 'a gap is refused');
  broken.machine.close();
  const reopened = new Driver(path);
  t.equal(reopened.machine.appliedIndex(), applied, 'nothing of the batch reached the file');
  t.equal(reopened.machine.queries.transfer('ok'), undefined);
  reopened.machine.close();
  t.end();
});

t.test('a crash at any step of a restore onto a file leaves the whole old state or the whole new one', async (t) => {
  const child = fileURLToPath(new URL('./fixtures/restore-crash-child.js', import.meta.url));
  const source = new Driver();
  source.apply(crashSetup[0]!);
  const snapshot = source.machine.snapshot();
  for (const step of ['copy', 'rm-wal', 'rm-shm', 'rename']) {
    const directory = temporaryDirectory(t, 'ledger');
    const path = join(directory, 'ledger.db');
    const snapshotFile = join(directory, 'snapshot.bin');
    writeFileSync(snapshotFile, snapshot);
    const run = spawnSync(process.execPath, [child, path, snapshotFile, step], { encoding: 'utf8' });
    t.equal(run.signal, 'SIGKILL', `killed at ${step}`, { stderr: run.stderr, stdout: run.stdout });
    if (step === 'copy') t.ok(existsSync(`${path}.restore`), 'a partial copy is left behind');
    const reopened = new Driver(path);
    t.notOk(existsSync(`${path}.restore`), 'reopening removes what a dead restore left');
    t.equal(reopened.machine.appliedIndex(), crashSetup.length, `after a crash at ${step} the old state is whole`);
    t.equal(reopened.machine.queries.account('b')?.credits_posted, 12n);
    t.ok(reopened.machine.verifyChain().ok, 'and its chain verifies');
    reopened.machine.restore(snapshotBytesSource(snapshot));
    t.equal(reopened.machine.appliedIndex(), 1, 'a restore run again completes');
    reopened.machine.close();
  }
});

/** `bytes` as a chunked source that records the length of every read. */
function recordingSource(bytes: Uint8Array, reads: number[]): SnapshotImageSource {
  const source = snapshotBytesSource(bytes);
  return { dataBytes: source.dataBytes, read: (offsetBytes, maxBytes) => (reads.push(maxBytes), source.read(offsetBytes, maxBytes)) };
}

t.test('a restore onto a file copies a snapshot of several MiB in bounded chunks; damage found at its end changes nothing', (t) => {
  const source = new Driver();
  for (let batch = 0; batch < 12; batch++) {
    source.apply({ type: 'create_accounts', accounts: Array.from({ length: 100 }, (_, i) => ({ id: `a${batch}-${i}`, ledger: 'USD', metadata: { note: 'n'.repeat(3500) } })) });
  }
  source.apply({ type: 'create_transfers', transfers: [{ id: 'x', debit_account_id: 'a0-0', credit_account_id: 'a11-99', amount: 7n, ledger: 'USD' }] });
  const snapshot = source.machine.snapshot();
  t.ok(snapshot.byteLength > 4 * RESTORE_CHUNK_BYTES, `the snapshot is several MiB (${snapshot.byteLength} bytes)`);
  const directory = temporaryDirectory(t, 'ledger');
  const target = new Driver(join(directory, 'ledger.db'));
  target.apply(setup[0]!);

  const damaged = Uint8Array.from(snapshot);
  damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 1;
  t.throws(() => target.machine.restore(snapshotBytesSource(damaged)), { name: 'AssertionFailure', message: /image checksum mismatch/ });
  t.equal(target.machine.appliedIndex(), 1, 'a snapshot damaged in its last chunk leaves the state as it was');
  t.same(readdirSync(directory).filter((name) => name.endsWith('.restore')), [], 'and no copy behind');

  const reads: number[] = [];
  target.machine.restore(recordingSource(snapshot, reads));
  t.ok(reads.every((length) => length <= RESTORE_CHUNK_BYTES), `no read larger than ${RESTORE_CHUNK_BYTES} bytes (largest ${Math.max(...reads)})`);
  t.ok(reads.length > snapshot.byteLength / RESTORE_CHUNK_BYTES, `read in ${reads.length} chunks`);
  t.equal(target.machine.chainHead(), source.machine.chainHead(), 'the restored ledger has the same chain head');
  t.equal(target.machine.queries.account('a11-99')?.balance, 7n, 'and the same balances');
  t.ok(target.machine.verifyChain().ok);
  target.machine.close();
  const reopened = new Driver(join(directory, 'ledger.db'));
  t.equal(reopened.machine.chainHead(), source.machine.chainHead(), 'the restored file survives reopening');
  reopened.machine.close();
  source.machine.close();
  t.end();
});
