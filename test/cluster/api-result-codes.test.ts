// Real processes: every transfer result code the contract lists, each produced
// through the HTTP API of a 3-node cluster (writes sent to followers and the
// leader alike), with the state unchanged by a refusal; idempotent retries
// answer `exists` and take effect once, whichever node they are sent to.

import t, { type Test } from 'tap';
import { call, describeAnswer, ProcessCluster, type NodeProcess } from './harness.js';
import type { ApiJson } from '../support/api-json.js';

const MAX_AMOUNT = '9223372036854775807';

/** The contract's list (api-contract.md, Transfers), plus `exists` from Idempotency. */
const CONTRACT_CODES = [
  'exists', 'exists_with_different_fields', 'debit_account_not_found', 'credit_account_not_found',
  'accounts_must_be_different', 'ledger_mismatch', 'exceeds_credits', 'exceeds_debits',
  'pending_transfer_not_found', 'pending_transfer_already_posted', 'pending_transfer_already_voided',
  'pending_transfer_expired', 'amount_exceeds_pending', 'overflow', 'linked_event_failed', 'linked_event_chain_open',
];

const cluster = new ProcessCluster();
let nodes: NodeProcess[] = [];
const seen = new Set<string>();

t.before(async () => {
  const { leader, followers } = await cluster.startStableTrio();
  // followers first: most writes go through forwarding
  nodes = [...followers, leader];
  const accounts = await call(leader.url, 'POST', '/v1/accounts', {
    accounts: [
      { id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }, { id: 'eur', ledger: 'EUR' },
      { id: 'no-overdraft', ledger: 'USD', flags: { debits_must_not_exceed_credits: true } },
      { id: 'no-overcredit', ledger: 'USD', flags: { credits_must_not_exceed_debits: true } },
      { id: 'big1', ledger: 'USD' }, { id: 'big2', ledger: 'USD' },
    ],
  });
  if (accounts.status !== 200) throw new Error(`accounts not created: ${describeAnswer(accounts)}`);
});
t.teardown(() => cluster.close());

let turn = 0;
/** Sends one write to the next node in turn; answers its results (200 required). */
async function send(t: Test, path: string, body: unknown, node: NodeProcess = nodes[turn++ % nodes.length] as NodeProcess): Promise<{ status: string; code?: string }[]> {
  const answer = await call(node.url, 'POST', path, body);
  t.equal(answer.status, 200, `POST ${path} on ${node.id}: ${describeAnswer(answer)}`);
  t.equal(answer.headers['x-raft-index'], String(answer.body?.index), 'X-Raft-Index is the entry index');
  const results = (answer.body?.results ?? []) as { status: string; code?: string }[];
  for (const result of results) seen.add(result.status === 'error' ? (result.code as string) : result.status);
  return results;
}

const transfer = (id: string, fields: Record<string, unknown> = {}) => ({ id, debit_account_id: 'a', credit_account_id: 'b', amount: 10, ledger: 'USD', ...fields });
/** A post or void of a pending a -> b transfer; without `amount` it settles the full pending amount. */
const settle = (id: string, fields: Record<string, unknown>) => ({ id, debit_account_id: 'a', credit_account_id: 'b', ledger: 'USD', ...fields });

async function account(t: Test, id: string): Promise<ApiJson> {
  const node = nodes[turn++ % nodes.length] as NodeProcess;
  const answer = await call(node.url, 'GET', `/v1/accounts/${id}`);
  t.equal(answer.status, 200, `GET account ${id} on ${node.id}: ${describeAnswer(answer)}`);
  return answer.body;
}

async function transferStatus(id: string): Promise<number | string> {
  const answer = await call((nodes[turn++ % nodes.length] as NodeProcess).url, 'GET', `/v1/transfers/${id}`);
  return answer.status === 200 ? (answer.body.status ?? 'no status') : answer.status;
}

t.test('idempotent retries answer exists and take effect once, on any node', async (t) => {
  const body = transfer('idem.1', { amount: 25, metadata: { order: 'o-1', lines: [1, 2] } });
  t.same(await send(t, '/v1/transfers', body), [{ id: 'idem.1', status: 'created' }]);
  for (const node of nodes) {
    // the same request with metadata keys in another order is the same request
    const again = { ...body, metadata: { lines: [1, 2], order: 'o-1' } };
    t.same(await send(t, '/v1/transfers', again, node), [{ id: 'idem.1', status: 'exists' }], `retry on ${node.id}`);
  }
  t.same(await send(t, '/v1/transfers', { transfers: [transfer('idem.2', { amount: 5 }), body, transfer('idem.2', { amount: 5 })] }), [
    { id: 'idem.2', status: 'created' }, { id: 'idem.1', status: 'exists' }, { id: 'idem.2', status: 'exists' },
  ], 'a batch repeating ids: the effect happens once');
  const a = await account(t, 'a');
  t.equal(a.debits_posted, '30', 'debited 25 + 5, once each');

  t.same(await send(t, '/v1/accounts', { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] }), [
    { id: 'a', status: 'exists' }, { id: 'b', status: 'exists' },
  ], 'accounts created again');
  t.same(await send(t, '/v1/items', { sku: 'idem.sku', on_hand: 4 }), [{ sku: 'idem.sku', status: 'created' }]);
  t.same(await send(t, '/v1/items', { sku: 'idem.sku', on_hand: 4 }), [{ sku: 'idem.sku', status: 'exists' }], 'items by sku');
  t.same(await send(t, '/v1/items', { sku: 'idem.sku', on_hand: 5 }), [{ sku: 'idem.sku', status: 'error', code: 'exists_with_different_fields' }]);
  t.same(await send(t, '/v1/reservations', { id: 'idem.r', lines: [{ sku: 'idem.sku', qty: 3 }], ttl_ms: 600_000 }), [{ id: 'idem.r', status: 'created' }]);
  t.same(await send(t, '/v1/reservations', { id: 'idem.r', lines: [{ sku: 'idem.sku', qty: 3 }], ttl_ms: 600_000 }), [{ id: 'idem.r', status: 'exists' }]);
  const item = await call((nodes[0] as NodeProcess).url, 'GET', '/v1/items/idem.sku');
  t.match(item.body, { on_hand: 4, reserved: 3 }, `held once: ${describeAnswer(item)}`);
});

t.test('exists_with_different_fields leaves the first transfer as it was', async (t) => {
  t.same(await send(t, '/v1/transfers', transfer('diff.1', { amount: 3 })), [{ id: 'diff.1', status: 'created' }]);
  for (const change of [{ amount: 4 }, { credit_account_id: 'a', debit_account_id: 'b', amount: 3 }, { amount: 3, code: 9 }, { amount: 3, metadata: {} }]) {
    t.same(await send(t, '/v1/transfers', transfer('diff.1', change)), [{ id: 'diff.1', status: 'error', code: 'exists_with_different_fields' }], JSON.stringify(change));
  }
  const stored = await call((nodes[1] as NodeProcess).url, 'GET', '/v1/transfers/diff.1');
  t.match(stored.body, { amount: '3', debit_account_id: 'a', code: 0 });
  t.same(await send(t, '/v1/accounts', { id: 'a', ledger: 'EUR' }), [{ id: 'a', status: 'error', code: 'exists_with_different_fields' }], 'accounts too');
});

t.test('refusals of a new transfer, each with its code and no effect', async (t) => {
  const before = [await account(t, 'a'), await account(t, 'b'), await account(t, 'no-overdraft'), await account(t, 'no-overcredit')];
  const cases: [string, Record<string, unknown>, string][] = [
    ['rf.1', { debit_account_id: 'ghost' }, 'debit_account_not_found'],
    ['rf.2', { credit_account_id: 'ghost' }, 'credit_account_not_found'],
    ['rf.3', { credit_account_id: 'a' }, 'accounts_must_be_different'],
    ['rf.4', { credit_account_id: 'eur' }, 'ledger_mismatch'],
    ['rf.5', { debit_account_id: 'eur', credit_account_id: 'a', ledger: 'EUR' }, 'ledger_mismatch'],
    ['rf.6', { debit_account_id: 'no-overdraft' }, 'exceeds_credits'],
    ['rf.7', { debit_account_id: 'no-overdraft', pending: true }, 'exceeds_credits'],
    ['rf.8', { credit_account_id: 'no-overcredit' }, 'exceeds_debits'],
    ['rf.9', { post_pending_id: 'never-was' }, 'pending_transfer_not_found'],
    ['rf.10', { void_pending_id: 'never-was' }, 'pending_transfer_not_found'],
  ];
  for (const [id, fields, code] of cases) {
    t.same(await send(t, '/v1/transfers', transfer(id, fields)), [{ id, status: 'error', code }], `${code}: ${JSON.stringify(fields)}`);
  }
  const after = [await account(t, 'a'), await account(t, 'b'), await account(t, 'no-overdraft'), await account(t, 'no-overcredit')];
  t.same(after, before, 'no balance moved');
  for (const [id] of cases) t.equal(await transferStatus(id), 404, `${id} not stored`);
  t.same(await send(t, '/v1/transfers', transfer('rf.1')), [{ id: 'rf.1', status: 'created' }], 'a refused id may be used again');
});

t.test('overflow: above 2^63-1 on an account is refused', async (t) => {
  t.same(await send(t, '/v1/transfers', { id: 'ov.1', debit_account_id: 'big1', credit_account_id: 'big2', amount: MAX_AMOUNT, ledger: 'USD' }), [{ id: 'ov.1', status: 'created' }]);
  t.same(await send(t, '/v1/transfers', { id: 'ov.2', debit_account_id: 'big1', credit_account_id: 'big2', amount: 1, ledger: 'USD' }), [{ id: 'ov.2', status: 'error', code: 'overflow' }]);
  t.same(await send(t, '/v1/transfers', { id: 'ov.3', debit_account_id: 'a', credit_account_id: 'big2', amount: 1, ledger: 'USD', pending: true }), [{ id: 'ov.3', status: 'error', code: 'overflow' }], 'credits side, pending');
  const big1 = await account(t, 'big1');
  t.match(big1, { debits_posted: MAX_AMOUNT, debits_pending: '0', balance: `-${MAX_AMOUNT}` });
});

t.test('pending transfers: already posted, already voided, expired, amount exceeds pending', async (t) => {
  const pending = (id: string, fields: Record<string, unknown> = {}) => transfer(id, { pending: true, amount: 20, ...fields });
  t.same(await send(t, '/v1/transfers', { transfers: [pending('pd.1'), pending('pd.2'), pending('pd.3'), pending('pd.4', { timeout_ms: 1 })] }), [
    { id: 'pd.1', status: 'created' }, { id: 'pd.2', status: 'created' }, { id: 'pd.3', status: 'created' }, { id: 'pd.4', status: 'created' },
  ]);
  t.same(await send(t, '/v1/transfers', settle('pd.1.post', { post_pending_id: 'pd.1', amount: 20 })), [{ id: 'pd.1.post', status: 'created' }]);
  t.same(await send(t, '/v1/transfers', settle('pd.1.post2', { post_pending_id: 'pd.1' })), [{ id: 'pd.1.post2', status: 'error', code: 'pending_transfer_already_posted' }]);
  t.same(await send(t, '/v1/transfers', settle('pd.1.void', { void_pending_id: 'pd.1' })), [{ id: 'pd.1.void', status: 'error', code: 'pending_transfer_already_posted' }]);

  t.same(await send(t, '/v1/transfers', settle('pd.2.void', { void_pending_id: 'pd.2' })), [{ id: 'pd.2.void', status: 'created' }]);
  t.same(await send(t, '/v1/transfers', settle('pd.2.post', { post_pending_id: 'pd.2' })), [{ id: 'pd.2.post', status: 'error', code: 'pending_transfer_already_voided' }]);
  t.same(await send(t, '/v1/transfers', settle('pd.2.void2', { void_pending_id: 'pd.2' })), [{ id: 'pd.2.void2', status: 'error', code: 'pending_transfer_already_voided' }]);

  t.same(await send(t, '/v1/transfers', settle('pd.3.post', { post_pending_id: 'pd.3', amount: 21 })), [{ id: 'pd.3.post', status: 'error', code: 'amount_exceeds_pending' }]);
  t.same(await send(t, '/v1/transfers', settle('pd.3.void', { void_pending_id: 'pd.3', amount: 10 })), [{ id: 'pd.3.void', status: 'error', code: 'void_amount_must_equal_pending' }], 'extension code');
  t.equal(await transferStatus('pd.3'), 'pending', 'still pending after the refused post');

  // pd.4 was due 1 ms after creation: whether or not the expiry entry has been applied, a post is refused.
  t.same(await send(t, '/v1/transfers', settle('pd.4.post', { post_pending_id: 'pd.4' })), [{ id: 'pd.4.post', status: 'error', code: 'pending_transfer_expired' }]);
  t.same(await send(t, '/v1/transfers', settle('pd.4.void', { void_pending_id: 'pd.4' })), [{ id: 'pd.4.void', status: 'error', code: 'pending_transfer_expired' }]);
  for (const id of ['pd.1.post2', 'pd.1.void', 'pd.2.post', 'pd.2.void2', 'pd.3.post', 'pd.3.void', 'pd.4.post', 'pd.4.void']) t.equal(await transferStatus(id), 404, `${id} not stored`);
});

t.test('linked chains: the failing member names its code, the others linked_event_failed; an open chain applies nothing', async (t) => {
  const before = await account(t, 'b');
  t.same(await send(t, '/v1/transfers', {
    transfers: [
      transfer('lk.1', { linked: true }),
      transfer('lk.2', { linked: true, debit_account_id: 'no-overdraft' }),
      transfer('lk.3'),
      transfer('lk.4'),
    ],
  }), [
    { id: 'lk.1', status: 'error', code: 'linked_event_failed' },
    { id: 'lk.2', status: 'error', code: 'exceeds_credits' },
    { id: 'lk.3', status: 'error', code: 'linked_event_failed' },
    { id: 'lk.4', status: 'created' },
  ], 'the chain is undone; the unlinked transfer after it applies');
  t.same(await send(t, '/v1/transfers', { transfers: [transfer('lk.5', { linked: true }), transfer('lk.6', { linked: true })] }), [
    { id: 'lk.5', status: 'error', code: 'linked_event_failed' },
    { id: 'lk.6', status: 'error', code: 'linked_event_chain_open' },
  ]);
  t.same(await send(t, '/v1/transfers', transfer('lk.7', { linked: true })), [{ id: 'lk.7', status: 'error', code: 'linked_event_chain_open' }], 'a single linked transfer is an open chain');
  const after = await account(t, 'b');
  t.equal(BigInt(after.credits_posted as string) - BigInt(before.credits_posted as string), 10n, 'only lk.4 moved money');
  for (const id of ['lk.1', 'lk.2', 'lk.3', 'lk.5', 'lk.6', 'lk.7']) t.equal(await transferStatus(id), 404, `${id} not stored`);

  const chain = { transfers: [transfer('lk.8', { linked: true }), transfer('lk.9')] };
  t.same(await send(t, '/v1/transfers', chain), [{ id: 'lk.8', status: 'created' }, { id: 'lk.9', status: 'created' }]);
  t.same(await send(t, '/v1/transfers', chain), [{ id: 'lk.8', status: 'exists' }, { id: 'lk.9', status: 'exists' }], 'a replayed chain');
});

t.test('inventory refusals through the API', async (t) => {
  t.same(await send(t, '/v1/items', { items: [{ sku: 'inv.a', on_hand: 2 }, { sku: 'inv.b', on_hand: 2 ** 31 - 1 }] }), [
    { sku: 'inv.a', status: 'created' }, { sku: 'inv.b', status: 'created' },
  ]);
  t.same(await send(t, '/v1/items/inv.b/adjust', { id: 'inv.adj1', delta: 1 }), [{ id: 'inv.adj1', status: 'error', code: 'overflow' }], 'on_hand above 2^31-1');
  t.same(await send(t, '/v1/items/inv.none/adjust', { id: 'inv.adj2', delta: 1 }), [{ id: 'inv.adj2', status: 'error', code: 'item_not_found' }]);
  t.same(await send(t, '/v1/reservations', { id: 'inv.r1', lines: [{ sku: 'inv.a', qty: 1 }, { sku: 'inv.a', qty: 1 }], ttl_ms: 1000 }), [{ id: 'inv.r1', status: 'error', code: 'lines_must_have_distinct_skus' }]);
  t.same(await send(t, '/v1/reservations', { id: 'inv.r2', lines: [{ sku: 'inv.a', qty: 0 }], ttl_ms: 1000 }), [{ id: 'inv.r2', status: 'error', code: 'quantity_must_be_positive' }]);
  t.same(await send(t, '/v1/reservations', { id: 'inv.r3', lines: [{ sku: 'inv.a', qty: 1 }], ttl_ms: 600_000 }), [{ id: 'inv.r3', status: 'created' }]);
  t.same(await send(t, '/v1/reservations/inv.r3/release', undefined), [{ id: 'inv.r3', status: 'released' }]);
  t.same(await send(t, '/v1/reservations/inv.r3/confirm', undefined), [{ id: 'inv.r3', status: 'error', code: 'reservation_already_released' }]);
  t.same(await send(t, '/v1/reservations', { id: 'inv.r4', lines: [{ sku: 'inv.a', qty: 1 }], ttl_ms: 600_000 }), [{ id: 'inv.r4', status: 'created' }]);
  t.same(await send(t, '/v1/reservations/inv.r4/confirm', undefined), [{ id: 'inv.r4', status: 'confirmed' }]);
  t.same(await send(t, '/v1/reservations/inv.r4/release', undefined), [{ id: 'inv.r4', status: 'error', code: 'reservation_already_confirmed' }]);
  t.same(await send(t, '/v1/reservations/inv.none/release', undefined), [{ id: 'inv.none', status: 'error', code: 'reservation_not_found' }], 'a write: 200 with the code, not 404');
  const item = await call((nodes[0] as NodeProcess).url, 'GET', '/v1/items/inv.a');
  t.same(item.body, { sku: 'inv.a', on_hand: 1, reserved: 0, available: 1 }, `one sold, nothing held: ${describeAnswer(item)}`);
});

t.test('a write whose outcome is unknown (504 commit_timeout) is safely retried with the same id', async (t) => {
  const leader = nodes[nodes.length - 1] as NodeProcess;
  const followers = nodes.slice(0, -1);
  const before = await account(t, 'b');
  const body = transfer('unknown.1', { amount: 7 });
  // With both followers stopped the leader can append but never commit.
  for (const node of followers) cluster.pause(node.id);
  let answer;
  try {
    answer = await call(leader.url, 'POST', '/v1/transfers', body);
  } finally {
    for (const node of followers) cluster.resume(node.id);
  }
  t.equal(answer.status, 504, `no quorum: ${describeAnswer(answer)}`);
  t.equal(answer.body?.error?.code, 'commit_timeout');
  t.type(answer.body?.error?.message, 'string');
  const newLeader = await cluster.waitForLeader();
  nodes = [...cluster.followersOf(newLeader), newLeader];
  // Retry through a follower; whether or not the first attempt survived, the effect happens once.
  for (let attempt = 0; attempt < 3; attempt++) {
    const retry = await call((nodes[attempt % 2] as NodeProcess).url, 'POST', '/v1/transfers', body);
    t.equal(retry.status, 200, `retry ${attempt}: ${describeAnswer(retry)}`);
    t.match(retry.body?.results?.[0]?.status, /^(created|exists)$/, `retry ${attempt} answers created or exists`);
    if (attempt > 0) t.equal(retry.body?.results?.[0]?.status, 'exists', 'a later retry answers exists');
  }
  const after = await account(t, 'b');
  t.equal(BigInt(after.credits_posted as string) - BigInt(before.credits_posted as string), 7n, 'credited once');
});

t.test('every result code the contract lists was produced', async (t) => {
  t.same(CONTRACT_CODES.filter((code) => !seen.has(code)), [], `seen: ${[...seen].sort().join(', ')}`);
});
