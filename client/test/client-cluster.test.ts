// The client against a real 3-node cluster (issue 12 point 2): every endpoint
// through its typed method, each read consistency level, read-your-writes
// across nodes by the session index, and a leader killed with SIGKILL during
// a stream of client writes: every write the client acknowledged is in the
// ledger once, none is applied twice (balances equal the sum of the distinct
// transfers), and the client found the new leader by itself.

import t from 'tap';
import { ProcessCluster } from '../../test/cluster/harness.js';
import { sleep } from '../../test/support/helpers.js';
import { DeadlineExceededError, LedgerApiError, LedgerClient } from '../src/index.js';

t.test('typed methods for every endpoint, each consistency level, read-your-writes across nodes', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  const { leader, followers } = await cluster.startStableTrio();
  const urls = [followers[0].url, followers[1].url, leader.url];
  const client = new LedgerClient({ urls, deadlineMs: 20_000 });
  t.teardown(() => client.close());

  const accounts = await client.createAccounts([{ id: 'alice', ledger: 'USD' }, { id: 'bob', ledger: 'USD', flags: { debits_must_not_exceed_credits: true } }]);
  t.same(accounts.value.results.map((result) => result.status), ['created', 'created']);
  t.equal(client.sessionIndex, accounts.value.index, 'the session index is the committed entry of the write');
  const repeat = await client.createAccounts({ id: 'alice', ledger: 'USD' });
  t.same(repeat.value.results, [{ id: 'alice', status: 'exists' }], 'a repeat is idempotent');
  const refused = await client.createTransfers({ id: 't0', debit_account_id: 'bob', credit_account_id: 'alice', amount: 1, ledger: 'USD' });
  t.same(refused.value.results, [{ id: 't0', status: 'error', code: 'exceeds_credits' }], 'business refusals are results');
  await client.createTransfers([{ id: 't1', debit_account_id: 'alice', credit_account_id: 'bob', amount: '9223372036854775807', ledger: 'USD' }]);
  const pending = await client.createTransfers({ id: 'p1', debit_account_id: 'bob', credit_account_id: 'alice', amount: 5, ledger: 'USD', pending: true, timeout_ms: 60_000 });

  // Each consistency level, on every node in turn; the session index makes even stale reads see the last write.
  for (const consistency of ['linearizable', 'lease', 'stale'] as const) {
    for (let n = 0; n < urls.length; n++) {
      const read = await client.getTransfer('p1', { consistency });
      t.equal(read.value.status, 'pending', `${consistency} read on ${read.servedBy} sees the write`);
      t.ok(read.index >= pending.index, `${consistency}: X-Raft-Index ${read.index} >= ${pending.index}`);
    }
  }
  t.equal(client.knownLeaderUrl, leader.url, 'the client learned which URL leads (forwarded answers name the forwarding node)');
  const bounded = await client.getAccount('bob', { consistency: 'stale', maxStalenessMs: 5_000, onStale: 'forward', waitMs: 2_000 });
  t.equal(bounded.value.balance, '9223372036854775807');
  t.ok(bounded.stalenessMs !== undefined || bounded.servedBy === leader.id, 'a bounded stale read says how stale it may be');
  t.ok(bounded.lagEntries !== undefined || bounded.servedBy === leader.id);

  const several = await client.getAccounts(['bob', 'nobody', 'alice']);
  t.same(several.value.accounts.map((account) => account?.id ?? null), ['bob', null, 'alice']);
  const page = await client.getAccountTransfers('alice', { limit: 1 });
  t.equal(page.value.transfers[0]?.id, 't1');
  t.equal(page.value.next_after, page.value.transfers[0]?.seq);

  await client.createItems({ sku: 'pen', on_hand: 10 });
  t.same((await client.adjustItem('pen', { id: 'adj1', delta: 5 })).value.results, [{ id: 'adj1', status: 'created' }]);
  t.same((await client.createReservation({ id: 'r1', lines: [{ sku: 'pen', qty: 3 }], ttl_ms: 60_000 })).value.results, [{ id: 'r1', status: 'created' }]);
  t.same((await client.confirmReservation('r1')).value.results, [{ id: 'r1', status: 'confirmed' }]);
  t.equal((await client.getItem('pen')).value.on_hand, 12);
  t.equal((await client.getReservation('r1')).value.status, 'confirmed');
  t.same((await client.createReservation({ id: 'r2', lines: [{ sku: 'pen', qty: 1 }], ttl_ms: 60_000 })).value.results, [{ id: 'r2', status: 'created' }]);
  t.same((await client.releaseReservation('r2')).value.results, [{ id: 'r2', status: 'released' }]);

  const missing = await client.getAccount('nobody').then(() => undefined, (error: unknown) => error);
  t.ok(missing instanceof LedgerApiError && missing.status === 404 && missing.code === 'account_not_found', 'a 404 is a LedgerApiError with its code, not retried');
  const invalid = await client.createAccounts({ id: 'bad id', ledger: 'USD' }).then(() => undefined, (error: unknown) => error);
  t.ok(invalid instanceof LedgerApiError && invalid.status === 400 && invalid.code === 'invalid_body');

  const status = await client.getCluster({ consistency: 'stale' });
  t.equal(status.value.members.length, 3);
  t.equal((await client.health(urls[0])).value.status, 'ok');
  t.equal((await client.ready(urls[1])).value.ready, true);
  t.equal((await client.openApi()).value['openapi'], '3.1.0');
  t.ok((await client.takeSnapshot(urls[0])).value.index > 0, 'a snapshot on the node asked');
  const moved = await client.transferLeadership(followers[0].id);
  t.equal(moved.value.leader, followers[0].id);
  t.equal((await client.createAccounts({ id: 'carol', ledger: 'USD' })).value.results[0]?.status, 'created', 'writes follow the new leader');
  t.equal(client.knownLeaderUrl, followers[0].url);
  const joinerUrl = 'http://127.0.0.1:1';
  t.equal((await client.addMember({ id: 'n9', url: joinerUrl, voter: false })).value.voter, false);
  t.equal((await client.removeMember('n9')).value.id, 'n9');

  // Read-your-writes carried into another client (another process would pass the number).
  const other = new LedgerClient({ urls: [followers[1].url] });
  t.teardown(() => other.close());
  const write = await client.createTransfers({ id: 't2', debit_account_id: 'bob', credit_account_id: 'alice', amount: 7, ledger: 'USD' });
  other.observeIndex(write.index);
  const seen = await other.getTransfer('t2', { consistency: 'stale' });
  t.equal(seen.value.id, 't2', 'a stale read on a follower by another client sees the write once given its index');

  const unreachable = new LedgerClient({ urls: ['http://127.0.0.1:1'], deadlineMs: 300 });
  t.teardown(() => unreachable.close());
  const gaveUp = await unreachable.getCluster().then(() => undefined, (error: unknown) => error);
  t.ok(gaveUp instanceof DeadlineExceededError && gaveUp.attempts > 1, 'retries with backoff until the deadline, then says so');
});

const ACCOUNTS = ['a0', 'a1', 'a2', 'a3', 'a4'];

t.test('leader SIGKILLed during a stream of client writes: nothing lost, nothing applied twice', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  await cluster.start(['n1', 'n2', 'n3']);
  const first = await cluster.waitForLeader();
  const client = new LedgerClient({ urls: [...cluster.nodes.values()].map((node) => node.url), deadlineMs: 30_000, attemptTimeoutMs: 6_000 });
  t.teardown(() => client.close());
  await client.createAccounts(ACCOUNTS.map((id) => ({ id, ledger: 'USD' })));

  const amounts = new Map<string, { from: string; to: string; amount: number }>();
  const failures: unknown[] = [];
  let retried = 0;
  let stop = false;
  const writer = async (w: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const id = `w${w}-${n}`;
      const transfer = { from: ACCOUNTS[(w + n) % ACCOUNTS.length] as string, to: ACCOUNTS[(w + n + 1 + (n % 3)) % ACCOUNTS.length] as string, amount: 1 + (n % 7) };
      try {
        const answer = await client.createTransfers({ id, debit_account_id: transfer.from, credit_account_id: transfer.to, amount: transfer.amount, ledger: 'USD' });
        const status = answer.value.results[0]?.status;
        if (status !== 'created' && status !== 'exists') failures.push(answer.value.results[0]);
        else amounts.set(id, transfer);
        if (answer.attempts > 1) retried++;
      } catch (error) {
        failures.push(error);
      }
    }
  };
  const writers = [0, 1, 2, 3].map((w) => writer(w));
  await sleep(1500);
  const before = amounts.size;
  cluster.kill9(first.id);
  await sleep(3000);
  stop = true;
  await Promise.all(writers);
  t.same(failures, [], 'every write was acknowledged by the client (retried across the failover)');
  t.ok(before > 0 && amounts.size > before, `writes before (${before}) and after (${amounts.size - before}) the kill`);
  t.ok(retried > 0, `${retried} writes needed a retry`);
  t.not(client.knownLeaderUrl, first.url, 'the client moved to the new leader');

  const expected = new Map(ACCOUNTS.map((id) => [id, 0n]));
  for (const { from, to, amount } of amounts.values()) {
    expected.set(from, (expected.get(from) ?? 0n) - BigInt(amount));
    expected.set(to, (expected.get(to) ?? 0n) + BigInt(amount));
  }
  const balances = await client.getAccounts(ACCOUNTS);
  for (const account of balances.value.accounts) {
    t.equal(account?.balance, String(expected.get(account?.id ?? '')), `${account?.id}: the balance is the sum of the acknowledged transfers, each once`);
  }
  const listed = new Map<string, number>();
  for (const id of ACCOUNTS) {
    for (let after = 0; ;) {
      const page = await client.getAccountTransfers(id, { after, limit: 1000 });
      for (const transfer of page.value.transfers) listed.set(transfer.id, (listed.get(transfer.id) ?? 0) + 1);
      if (page.value.next_after === null) break;
      after = page.value.next_after;
    }
  }
  t.equal([...amounts.keys()].filter((id) => listed.get(id) !== 2).length, 0, 'every acknowledged transfer is listed once on each of its two accounts');
  t.equal(listed.size, amounts.size, 'and nothing else was applied');
});
