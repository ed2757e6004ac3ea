// Real processes: the change stream (GET /v1/events) followed from index 0 on
// a follower through a leader killed with SIGKILL, resumed with Last-Event-ID
// on another node, delivers every change once and in order, and the balances
// rebuilt from the events equal the ledger's.

import t, { type Test } from 'tap';
import { EventStreamClient, eventIdKey, type StreamEvent } from '../http/sse.js';
import { call, ProcessCluster, type NodeProcess } from './harness.js';
import { sleep } from '../support/helpers.js';

const ACCOUNTS = ['ev.a', 'ev.b', 'ev.c'];

interface Balance {
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
}

/** Double entry replayed from the events alone. */
function rebuildBalances(events: readonly StreamEvent[]): Map<string, Balance> {
  const balances = new Map<string, Balance>();
  const amounts = new Map<string, bigint>();
  const move = (id: string, field: keyof Balance, amount: bigint): void => {
    const balance = balances.get(id);
    if (balance === undefined) throw new Error(`event for unknown account ${id}`);
    balance[field] += amount;
  };
  for (const { data } of events) {
    const field = (name: string): string => String(data.record[name]);
    const record = { id: field('id'), amount: field('amount'), debit_account_id: field('debit_account_id'), credit_account_id: field('credit_account_id'),
      void_pending_id: data.record['void_pending_id'], pending: data.record['pending'] === true };
    if (data.kind === 'account_created') {
      balances.set(record.id, { debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n });
    } else if (data.kind === 'transfer_created') {
      const amount = BigInt(record.amount);
      amounts.set(record.id, amount);
      if (record.void_pending_id !== undefined) continue;
      const [debit, credit] = record.pending ? (['debits_pending', 'credits_pending'] as const) : (['debits_posted', 'credits_posted'] as const);
      move(record.debit_account_id, debit, amount);
      move(record.credit_account_id, credit, amount);
    } else if (data.kind === 'transfer_status_changed') {
      // A pending transfer was posted, voided or expired: its hold is released (a post row carries what was posted).
      const amount = amounts.get(record.id) ?? 0n;
      move(record.debit_account_id, 'debits_pending', -amount);
      move(record.credit_account_id, 'credits_pending', -amount);
    }
  }
  return balances;
}

async function write(t: Test, cluster: ProcessCluster, path: string, body: unknown): Promise<number> {
  for (let attempt = 0; attempt < 60; attempt++) {
    const node = cluster.running()[attempt % cluster.running().length] as NodeProcess;
    try {
      const answer = await call(node.url, 'POST', path, body);
      const status = answer.body?.results?.[0]?.status;
      if (answer.status === 200 && (status === 'created' || status === 'exists' || status === 'confirmed' || status === 'released')) return answer.body.index as number;
      if (answer.status === 200) t.fail(`${path} answered ${JSON.stringify(answer.body)}`);
    } catch {
      // the node went away: try the next one with the same ids
    }
    await sleep(100);
  }
  throw new Error(`${path} not acknowledged`);
}

function idKey(event: StreamEvent): [number, number] {
  return eventIdKey(event.id);
}

function before(a: StreamEvent, b: StreamEvent): boolean {
  const [ai, as] = idKey(a);
  const [bi, bs] = idKey(b);
  return ai < bi || (ai === bi && as < bs);
}

const reached = (index: number) => (events: readonly StreamEvent[]) => {
  const last = events.at(-1);
  return last !== undefined && idKey(last)[0] >= index;
};

t.test('the change stream survives a leader kill, resumes on another node, and rebuilds the balances', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  const { leader, followers } = await cluster.startStableTrio();
  const [watched, other] = followers;
  // A leader needs two of three nodes: the third may still be starting.
  await cluster.waitHealthy(watched);
  await cluster.waitHealthy(other);
  const first = await new EventStreamClient().open(watched.url, '/v1/events?from_index=0');
  t.teardown(() => first.close());
  t.equal(first.status, 200);
  t.equal(first.headers['x-served-by'], watched.id, 'a follower serves the stream itself');
  t.ok(first.headers['x-raft-lag-entries'] !== undefined, 'with the staleness headers of stale reads');

  await write(t, cluster, '/v1/accounts', { accounts: ACCOUNTS.map((id) => ({ id, ledger: 'USD' })) });
  await write(t, cluster, '/v1/transfers', { id: 'ev.t1', debit_account_id: 'ev.a', credit_account_id: 'ev.b', amount: 100, ledger: 'USD' });
  await write(t, cluster, '/v1/transfers', { id: 'ev.p1', debit_account_id: 'ev.a', credit_account_id: 'ev.c', amount: 50, ledger: 'USD', pending: true });
  await write(t, cluster, '/v1/transfers', { id: 'ev.p1.post', debit_account_id: 'ev.a', credit_account_id: 'ev.c', amount: 30, ledger: 'USD', post_pending_id: 'ev.p1' });
  await write(t, cluster, '/v1/transfers', { id: 'ev.p2', debit_account_id: 'ev.b', credit_account_id: 'ev.c', amount: 20, ledger: 'USD', pending: true });
  await write(t, cluster, '/v1/transfers', { id: 'ev.p2.void', debit_account_id: 'ev.b', credit_account_id: 'ev.c', amount: 20, ledger: 'USD', void_pending_id: 'ev.p2' });
  await write(t, cluster, '/v1/transfers', { id: 'ev.p3', debit_account_id: 'ev.c', credit_account_id: 'ev.a', amount: 7, ledger: 'USD', pending: true, timeout_ms: 300 });
  await write(t, cluster, '/v1/items', { sku: 'ev.sku', on_hand: 10 });
  await write(t, cluster, '/v1/items/ev.sku/adjust', { id: 'ev.adj', delta: 5 });
  await write(t, cluster, '/v1/reservations', { id: 'ev.r1', lines: [{ sku: 'ev.sku', qty: 3 }], ttl_ms: 600_000 });
  await write(t, cluster, '/v1/reservations/ev.r1/confirm', {});
  await write(t, cluster, '/v1/reservations', { id: 'ev.r2', lines: [{ sku: 'ev.sku', qty: 2 }], ttl_ms: 600_000 });
  const beforeKill = await write(t, cluster, '/v1/reservations/ev.r2/release', {});
  await first.waitUntil((events) => events.some((e) => e.data.kind === 'transfer_status_changed' && e.data.record.id === 'ev.p3' && e.data.record.status === 'expired'), 'expiry of ev.p3');
  await first.waitUntil(reached(beforeKill), `index ${beforeKill}`);

  cluster.kill9(leader.id);
  t.comment(`killed leader ${leader.id}; the stream on ${watched.id} goes on`);
  let lastIndex = 0;
  for (let n = 0; n < 20; n++) {
    lastIndex = await write(t, cluster, '/v1/transfers', { id: `ev.after.${n}`, debit_account_id: ACCOUNTS[n % 3], credit_account_id: ACCOUNTS[(n + 1) % 3], amount: n + 1, ledger: 'USD' });
    if (n === 9) {
      await first.waitUntil((events) => events.some((e) => e.data.record.id === 'ev.after.9'), 'ev.after.9 on the first stream');
      first.close();
    }
  }
  const delivered = first.events.slice();
  const resumeFrom = delivered.at(-1) as StreamEvent;
  const resumed = await new EventStreamClient().open(other.url, '/v1/events', { 'last-event-id': resumeFrom.id });
  t.teardown(() => resumed.close());
  t.equal(resumed.status, 200, `resumed on ${other.id} after ${resumeFrom.id}`);
  await resumed.waitUntil(reached(lastIndex), `index ${lastIndex} on the resumed stream`);
  await sleep(300);

  const all = [...delivered, ...resumed.events];
  t.ok(all.every((event, n) => n === 0 || before(all[n - 1] as StreamEvent, event)), 'ids strictly increase across the resume: log order, no duplicates');
  t.equal(all.filter((e) => e.data.kind === 'transfer_created').length, 6 + 20, 'every transfer created once');
  const kinds = new Set(all.map((e) => e.data.kind));
  t.same([...kinds].sort(), ['account_created', 'item_created', 'reservation_created', 'reservation_status_changed', 'stock_adjusted', 'transfer_created', 'transfer_status_changed']);

  // The same stream from scratch on the other node: the same ids and records, so Last-Event-ID means the same change everywhere.
  const fresh = await new EventStreamClient().open(other.url, '/v1/events?from_index=0');
  t.teardown(() => fresh.close());
  await fresh.waitUntil(reached(lastIndex), `index ${lastIndex} on a fresh stream`);
  t.same(fresh.events.map((e) => [e.id, e.data]), all.map((e) => [e.id, e.data]), 'a fresh stream on another node equals the resumed one');

  const rebuilt = rebuildBalances(all);
  const newLeader = await cluster.waitForLeader();
  const ledger = await call(newLeader.url, 'GET', `/v1/accounts?ids=${ACCOUNTS.join(',')}&min_index=${lastIndex}`);
  t.equal(ledger.status, 200);
  for (const account of (ledger.body.accounts ?? []) as unknown as Record<string, string>[]) {
    const balance = rebuilt.get(account['id'] as string);
    t.same(
      balance === undefined ? undefined : Object.fromEntries(Object.entries(balance).map(([k, v]) => [k, v.toString()])),
      { debits_pending: account['debits_pending'], debits_posted: account['debits_posted'], credits_pending: account['credits_pending'], credits_posted: account['credits_posted'] },
      `balances of ${account['id']} rebuilt from the events`,
    );
  }
});
