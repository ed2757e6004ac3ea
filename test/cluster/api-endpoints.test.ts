// Real processes: every endpoint of the contract with its response shape,
// served by a 3-node cluster through the leader and through followers:
// accounts, transfers (single, batch, linked, pending post/void/expiry),
// transfer history pages, items, adjustments, reservations (hold, confirm,
// release, expiry, all or none), cluster status, health, readiness, metrics.
// Holds expire with no other traffic: the leader proposes the expiry itself.

import t, { type Test } from 'tap';
import { call, describeAnswer, ProcessCluster, RAFT_HEADERS, type Answer, type NodeProcess } from './harness.js';
import { sleep } from '../support/helpers.js';
import { clusterStatusOf, required, type ApiResult } from '../support/api-json.js';


const cluster = new ProcessCluster();
let leader: NodeProcess;
let follower: NodeProcess;
let other: NodeProcess;

t.before(async () => {
  ({ leader, followers: [follower, other] } = await cluster.startStableTrio());
});
t.teardown(() => cluster.close());

/** A write that must answer 200 with one result per item and X-Raft-Index equal to its index. */
async function write(t: Test, node: NodeProcess, path: string, body: unknown): Promise<{ results: readonly ApiResult[]; index: number; answer: Answer }> {
  const answer = await call(node.url, 'POST', path, body);
  t.equal(answer.status, 200, `POST ${path} on ${node.id}: ${describeAnswer(answer)}`);
  t.type(answer.body?.index, 'number', `POST ${path} answers an index`);
  t.equal(answer.headers['x-raft-index'], String(answer.body?.index), `POST ${path}: X-Raft-Index is the entry's index`);
  for (const header of RAFT_HEADERS) t.ok(answer.headers[header] !== undefined, `POST ${path} carries ${header}`);
  return { results: answer.body.results ?? [], index: answer.body.index ?? -1, answer };
}

async function read(t: Test, node: NodeProcess, path: string, status = 200): Promise<Answer> {
  const answer = await call(node.url, 'GET', path);
  t.equal(answer.status, status, `GET ${path} on ${node.id}: ${describeAnswer(answer)}`);
  for (const header of RAFT_HEADERS) t.ok(answer.headers[header] !== undefined, `GET ${path} carries ${header}`);
  return answer;
}

/** Polls a read (linearizable, so never a write) until `done`, at most `timeoutMs`. */
async function pollUntil(node: NodeProcess, path: string, done: (answer: Answer) => boolean, timeoutMs: number): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  let answer = await call(node.url, 'GET', path);
  while (!done(answer) && Date.now() < deadline) {
    await sleep(50);
    answer = await call(node.url, 'GET', path);
  }
  return answer;
}

function checkError(t: Test, answer: Answer, status: number, code: string, what: string): void {
  t.equal(answer.status, status, `${what}: ${describeAnswer(answer)}`);
  t.equal(answer.body?.error?.code, code, `${what}: code`);
  t.type(answer.body?.error?.message, 'string', `${what}: message`);
  for (const header of RAFT_HEADERS) t.ok(answer.headers[header] !== undefined, `${what} carries ${header}`);
}

const zeroAccount = { debits_pending: '0', debits_posted: '0', credits_pending: '0', credits_posted: '0', balance: '0', available: '0' };
const noFlags = { debits_must_not_exceed_credits: false, credits_must_not_exceed_debits: false };

t.test('accounts: batch and single create, GET one, GET several in the order asked', async (t) => {
  const batch = await write(t, leader, '/v1/accounts', {
    accounts: [
      { id: 'acc.alice', ledger: 'USD' },
      { id: 'acc.bob', ledger: 'USD', code: 7, flags: { debits_must_not_exceed_credits: true }, metadata: { tier: 'gold' } },
    ],
  });
  t.same(batch.results, [{ id: 'acc.alice', status: 'created' }, { id: 'acc.bob', status: 'created' }]);

  const single = await write(t, follower, '/v1/accounts', { id: 'acc.carol', ledger: 'USD' });
  t.same(single.results, [{ id: 'acc.carol', status: 'created' }], 'a single object, sent to a follower');
  t.ok(single.index > batch.index, 'indexes increase');

  for (const node of [leader, follower, other]) {
    const bob = await read(t, node, '/v1/accounts/acc.bob');
    t.match(bob.body, {
      id: 'acc.bob', ledger: 'USD', code: 7,
      flags: { debits_must_not_exceed_credits: true, credits_must_not_exceed_debits: false },
      ...zeroAccount, metadata: { tier: 'gold' }, created_at: Number,
    }, `GET one on ${node.id}`);
    t.ok(Number(bob.headers['x-raft-index']) >= single.index, `${node.id} reflects the last acknowledged write (linearizable)`);
  }
  const alice = await read(t, other, '/v1/accounts/acc.alice');
  t.same(alice.body, { id: 'acc.alice', ledger: 'USD', code: 0, flags: noFlags, ...zeroAccount, created_at: alice.body.created_at }, 'no metadata field when none was given');

  const several = await read(t, other, '/v1/accounts?ids=acc.carol,acc.nobody,acc.alice,acc.bob');
  t.same((several.body.accounts as ({ id: string } | null)[]).map((a) => a?.id ?? null), ['acc.carol', null, 'acc.alice', 'acc.bob'], 'in the order asked, null for an unknown id');
  t.match(several.body.accounts?.[0], { id: 'acc.carol', ledger: 'USD', ...zeroAccount });

  checkError(t, await read(t, follower, '/v1/accounts/acc.nobody', 404), 404, 'account_not_found', 'unknown account on a follower');
});

t.test('GET ?ids= is one snapshot: a transfer is never half seen under concurrent writes', async (t) => {
  await write(t, leader, '/v1/accounts', { accounts: [{ id: 'snap.a', ledger: 'USD' }, { id: 'snap.b', ledger: 'USD' }] });
  let stop = false;
  const writer = (async () => {
    for (let n = 0; !stop && n < 200; n++) await call(leader.url, 'POST', '/v1/transfers', { id: `snap-${n}`, debit_account_id: 'snap.a', credit_account_id: 'snap.b', amount: 1, ledger: 'USD' });
  })();
  const torn: string[] = [];
  for (let i = 0; i < 30; i++) {
    const node = [follower, other, leader][i % 3] as NodeProcess;
    const answer = await call(node.url, 'GET', '/v1/accounts?ids=snap.b,snap.a&consistency=stale');
    if (answer.status !== 200) {
      torn.push(describeAnswer(answer));
      continue;
    }
    const [b, a] = answer.body.accounts ?? [];
    if (a?.debits_posted !== b?.credits_posted) torn.push(`${node.id}: a.debits_posted ${a?.debits_posted} b.credits_posted ${b?.credits_posted}`);
  }
  stop = true;
  await writer;
  t.same(torn, [], 'debits of one equal credits of the other in every answer');
});

t.test('transfers: single, batch, GET shape, pending post partial, pending void', async (t) => {
  await write(t, leader, '/v1/accounts', { accounts: [{ id: 'tr.a', ledger: 'USD' }, { id: 'tr.b', ledger: 'USD' }] });
  const single = await write(t, follower, '/v1/transfers', { id: 'tr.1', debit_account_id: 'tr.a', credit_account_id: 'tr.b', amount: 100, ledger: 'USD' });
  t.same(single.results, [{ id: 'tr.1', status: 'created' }]);
  const batch = await write(t, leader, '/v1/transfers', {
    transfers: [
      { id: 'tr.2', debit_account_id: 'tr.a', credit_account_id: 'tr.b', amount: '9007199254740993', ledger: 'USD', code: 3, metadata: { note: 'string amount above 2^53' } },
      { id: 'tr.3', debit_account_id: 'tr.b', credit_account_id: 'tr.a', amount: 7, ledger: 'USD' },
    ],
  });
  t.same(batch.results, [{ id: 'tr.2', status: 'created' }, { id: 'tr.3', status: 'created' }]);

  const got = await read(t, other, '/v1/transfers/tr.2');
  t.match(got.body, {
    seq: Number, id: 'tr.2', debit_account_id: 'tr.a', credit_account_id: 'tr.b', amount: '9007199254740993', ledger: 'USD', code: 3,
    pending: false, status: 'posted', metadata: { note: 'string amount above 2^53' }, created_at: Number, index: batch.index,
  });
  const a = await read(t, follower, '/v1/accounts/tr.a');
  t.match(a.body, { debits_posted: String(100n + 9007199254740993n), credits_posted: '7', balance: String(7n - 100n - 9007199254740993n) }, 'exact amounts past 2^53');

  // pending, then post part of it
  const pending = await write(t, follower, '/v1/transfers', { id: 'tr.p1', debit_account_id: 'tr.b', credit_account_id: 'tr.a', amount: 50, ledger: 'USD', pending: true, timeout_ms: 600_000 });
  t.same(pending.results, [{ id: 'tr.p1', status: 'created' }]);
  t.match((await read(t, other, '/v1/transfers/tr.p1')).body, { status: 'pending', pending: true, expires_at: Number, amount: '50' });
  const bHeld = (await read(t, other, '/v1/accounts/tr.b')).body;
  t.equal(bHeld.debits_pending, '50', 'pending debit reserved');
  t.equal(BigInt(required(bHeld.available, 'available')), BigInt(required(bHeld.balance, 'balance')) - 50n, 'available subtracts pending debits');
  t.equal((await read(t, other, '/v1/accounts/tr.a')).body.credits_pending, '50');
  const post = await write(t, other, '/v1/transfers', { id: 'tr.p1.post', debit_account_id: 'tr.b', credit_account_id: 'tr.a', amount: 30, ledger: 'USD', post_pending_id: 'tr.p1' });
  t.same(post.results, [{ id: 'tr.p1.post', status: 'created' }]);
  t.match((await read(t, leader, '/v1/transfers/tr.p1')).body, { status: 'posted' });
  t.match((await read(t, leader, '/v1/transfers/tr.p1.post')).body, { post_pending_id: 'tr.p1', amount: '30', status: 'posted' });
  const bAfter = (await read(t, follower, '/v1/accounts/tr.b')).body;
  t.match(bAfter, { debits_pending: '0', debits_posted: String(7 + 30) }, 'the whole pending amount released, 30 posted');

  // pending, then void
  await write(t, leader, '/v1/transfers', { id: 'tr.p2', debit_account_id: 'tr.a', credit_account_id: 'tr.b', amount: 40, ledger: 'USD', pending: true });
  const voided = await write(t, follower, '/v1/transfers', { id: 'tr.p2.void', debit_account_id: 'tr.a', credit_account_id: 'tr.b', amount: 40, ledger: 'USD', void_pending_id: 'tr.p2' });
  t.same(voided.results, [{ id: 'tr.p2.void', status: 'created' }]);
  t.match((await read(t, other, '/v1/transfers/tr.p2')).body, { status: 'voided' });
  t.match((await read(t, other, '/v1/accounts/tr.a')).body, { debits_pending: '0', debits_posted: String(100n + 9007199254740993n) }, 'a void posts nothing');

  checkError(t, await read(t, other, '/v1/transfers/tr.none', 404), 404, 'transfer_not_found', 'unknown transfer on a follower');
});

t.test('linked chain: all or nothing', async (t) => {
  await write(t, leader, '/v1/accounts', { accounts: [{ id: 'ln.a', ledger: 'USD' }, { id: 'ln.b', ledger: 'USD' }, { id: 'ln.eur', ledger: 'EUR' }] });
  const good = await write(t, follower, '/v1/transfers', {
    transfers: [
      { id: 'ln.1', debit_account_id: 'ln.a', credit_account_id: 'ln.b', amount: 5, ledger: 'USD', linked: true },
      { id: 'ln.2', debit_account_id: 'ln.b', credit_account_id: 'ln.a', amount: 2, ledger: 'USD' },
    ],
  });
  t.same(good.results, [{ id: 'ln.1', status: 'created' }, { id: 'ln.2', status: 'created' }]);
  const failed = await write(t, follower, '/v1/transfers', {
    transfers: [
      { id: 'ln.3', debit_account_id: 'ln.a', credit_account_id: 'ln.b', amount: 10, ledger: 'USD', linked: true },
      { id: 'ln.4', debit_account_id: 'ln.b', credit_account_id: 'ln.a', amount: 3, ledger: 'USD', linked: true },
      { id: 'ln.5', debit_account_id: 'ln.a', credit_account_id: 'ln.eur', amount: 1, ledger: 'USD' },
    ],
  });
  t.same(failed.results, [
    { id: 'ln.3', status: 'error', code: 'linked_event_failed' },
    { id: 'ln.4', status: 'error', code: 'linked_event_failed' },
    { id: 'ln.5', status: 'error', code: 'ledger_mismatch' },
  ]);
  for (const id of ['ln.3', 'ln.4', 'ln.5']) await read(t, other, `/v1/transfers/${id}`, 404);
  t.match((await read(t, other, '/v1/accounts/ln.a')).body, { debits_posted: '5', credits_posted: '2' }, 'only the first chain applied');
});

t.test('account transfers: commit order, pages with after and limit', async (t) => {
  await write(t, leader, '/v1/accounts', { accounts: [{ id: 'pg.a', ledger: 'USD' }, { id: 'pg.b', ledger: 'USD' }, { id: 'pg.c', ledger: 'USD' }] });
  const ids = ['pg.0', 'pg.1', 'pg.2', 'pg.3', 'pg.4'];
  for (const [i, id] of ids.entries()) {
    const [debit, credit] = i % 2 === 0 ? ['pg.a', 'pg.b'] : ['pg.c', 'pg.a'];
    await write(t, i % 2 === 0 ? follower : leader, '/v1/transfers', { id, debit_account_id: debit, credit_account_id: credit, amount: i + 1, ledger: 'USD' });
  }
  await write(t, leader, '/v1/transfers', { id: 'pg.other', debit_account_id: 'pg.b', credit_account_id: 'pg.c', amount: 1, ledger: 'USD' });

  const all = await read(t, follower, '/v1/accounts/pg.a/transfers');
  t.same((all.body.transfers ?? []).map((x) => x.id), ids, 'every transfer of the account in commit order, no other');
  t.equal(all.body.next_after, null, 'the page was not full');
  t.match(all.body.transfers?.[1], { seq: Number, id: 'pg.1', debit_account_id: 'pg.c', credit_account_id: 'pg.a', amount: '2', status: 'posted', index: Number });

  const seen: string[] = [];
  let after = 0;
  for (let page = 0; page < 5; page++) {
    const answer = await read(t, other, `/v1/accounts/pg.a/transfers?after=${after}&limit=2`);
    const transfers = answer.body.transfers ?? [];
    seen.push(...transfers.map((x) => x.id));
    t.ok(transfers.length <= 2, 'limit respected');
    const nextAfter = answer.body.next_after;
    if (nextAfter === null || nextAfter === undefined) break;
    t.equal(nextAfter, transfers[transfers.length - 1]?.seq, 'next_after is the last seq of a full page');
    after = nextAfter;
  }
  t.same(seen, ids, 'pages of 2 give every transfer once, in order');
  checkError(t, await read(t, other, '/v1/accounts/pg.none/transfers', 404), 404, 'account_not_found', 'history of an unknown account');
});

t.test('a pending transfer expires via timeout_ms with no other traffic', async (t) => {
  await write(t, leader, '/v1/accounts', { accounts: [{ id: 'ex.a', ledger: 'USD' }, { id: 'ex.b', ledger: 'USD' }] });
  const created = await write(t, follower, '/v1/transfers', { id: 'ex.p', debit_account_id: 'ex.a', credit_account_id: 'ex.b', amount: 9, ledger: 'USD', pending: true, timeout_ms: 400 });
  t.same(created.results, [{ id: 'ex.p', status: 'created' }]);
  const pending = (await read(t, other, '/v1/transfers/ex.p')).body;
  t.equal(pending.status, 'pending');
  t.equal(pending['expires_at'], required(pending.created_at, 'created_at') + 400, 'expires_at = created_at + timeout_ms');
  // Only reads from here on: the expiry must come from the leader itself.
  const expired = await pollUntil(other, '/v1/transfers/ex.p', (a) => a.body?.status === 'expired', 5000);
  t.equal(expired.body?.status, 'expired', `expired without any other write: ${describeAnswer(expired)}`);
  t.match((await read(t, follower, '/v1/accounts/ex.a')).body, { debits_pending: '0', debits_posted: '0' }, 'the pending amount is released');
  const status = await read(t, leader, '/v1/cluster');
  const expiryIndex = Number(expired.headers['x-raft-index']);
  t.ok(expiryIndex > created.index, `an entry after the transfer carried the expiry (index ${expiryIndex}, commit ${status.body.commit_index})`);
});

t.test('a hold due after a leadership transfer is expired by the new leader', async (t) => {
  await write(t, leader, '/v1/accounts', { accounts: [{ id: 'lx.a', ledger: 'USD' }, { id: 'lx.b', ledger: 'USD' }] });
  await write(t, leader, '/v1/transfers', { id: 'lx.p', debit_account_id: 'lx.a', credit_account_id: 'lx.b', amount: 3, ledger: 'USD', pending: true, timeout_ms: 1000 });
  const moved = await call(follower.url, 'POST', '/v1/cluster/leadership', { to: follower.id });
  t.equal(moved.status, 200, `leadership to ${follower.id}: ${describeAnswer(moved)}`);
  t.same(moved.body, { leader: follower.id });
  [leader, follower] = [follower, leader];
  const view = await read(t, leader, '/v1/cluster');
  t.equal(view.body.role, 'leader', `${leader.id} leads now`);
  const expired = await pollUntil(other, '/v1/transfers/lx.p', (a) => a.body?.status === 'expired', 6000);
  t.equal(expired.body?.status, 'expired', `expired by the new leader: ${describeAnswer(expired)}`);
  t.match((await read(t, other, '/v1/accounts/lx.a')).body, { debits_pending: '0', debits_posted: '0' });
});

t.test('items, adjust (idempotent by id), reservations: hold, confirm, release', async (t) => {
  const items = await write(t, follower, '/v1/items', { items: [{ sku: 'it.apple', on_hand: 10, metadata: { colour: 'red' } }, { sku: 'it.pear', on_hand: 3 }] });
  t.same(items.results, [{ sku: 'it.apple', status: 'created' }, { sku: 'it.pear', status: 'created' }]);
  const one = await write(t, leader, '/v1/items', { sku: 'it.fig', on_hand: 1 });
  t.same(one.results, [{ sku: 'it.fig', status: 'created' }], 'a single item object');
  t.same((await read(t, other, '/v1/items/it.apple')).body, { sku: 'it.apple', on_hand: 10, reserved: 0, available: 10, metadata: { colour: 'red' } });

  const adjust = await write(t, other, '/v1/items/it.apple/adjust', { id: 'adj.1', delta: 5 });
  t.same(adjust.results, [{ id: 'adj.1', status: 'created' }]);
  const again = await write(t, follower, '/v1/items/it.apple/adjust', { id: 'adj.1', delta: 5 });
  t.same(again.results, [{ id: 'adj.1', status: 'exists' }], 'the same adjustment again');
  t.match((await read(t, other, '/v1/items/it.apple')).body, { on_hand: 15 }, 'applied once');

  const hold = await write(t, follower, '/v1/reservations', { id: 'rs.1', lines: [{ sku: 'it.apple', qty: 4 }, { sku: 'it.pear', qty: 2 }], ttl_ms: 600_000 });
  t.same(hold.results, [{ id: 'rs.1', status: 'created' }]);
  t.match((await read(t, other, '/v1/reservations/rs.1')).body, { id: 'rs.1', status: 'held', lines: [{ sku: 'it.apple', qty: 4 }, { sku: 'it.pear', qty: 2 }], expires_at: Number });
  t.same((await read(t, other, '/v1/items/it.apple')).body, { sku: 'it.apple', on_hand: 15, reserved: 4, available: 11, metadata: { colour: 'red' } });

  const below = await write(t, leader, '/v1/items/it.pear/adjust', { id: 'adj.2', delta: -2 });
  t.same(below.results, [{ id: 'adj.2', status: 'error', code: 'on_hand_below_reserved' }], 'adjust refuses to go below reserved');

  const confirm = await write(t, other, '/v1/reservations/rs.1/confirm', undefined);
  t.same(confirm.results, [{ id: 'rs.1', status: 'confirmed' }]);
  t.same((await write(t, follower, '/v1/reservations/rs.1/confirm', undefined)).results, [{ id: 'rs.1', status: 'exists' }], 'confirm again');
  t.match((await read(t, follower, '/v1/items/it.apple')).body, { on_hand: 11, reserved: 0, available: 11 }, 'a confirmed hold is sold');
  t.match((await read(t, follower, '/v1/reservations/rs.1')).body, { status: 'confirmed' });

  await write(t, leader, '/v1/reservations', { id: 'rs.2', lines: [{ sku: 'it.pear', qty: 1 }], ttl_ms: 600_000 });
  const release = await write(t, follower, '/v1/reservations/rs.2/release', undefined);
  t.same(release.results, [{ id: 'rs.2', status: 'released' }]);
  t.match((await read(t, other, '/v1/items/it.pear')).body, { on_hand: 1, reserved: 0, available: 1 }, 'released stock is back');
  t.match((await read(t, other, '/v1/reservations/rs.2')).body, { status: 'released' });

  // all lines or none; insufficient_stock names the sku
  const short = await write(t, follower, '/v1/reservations', { id: 'rs.3', lines: [{ sku: 'it.apple', qty: 2 }, { sku: 'it.pear', qty: 2 }], ttl_ms: 600_000 });
  t.same(short.results, [{ id: 'rs.3', status: 'error', code: 'insufficient_stock', sku: 'it.pear' }]);
  t.match((await read(t, other, '/v1/items/it.apple')).body, { reserved: 0 }, 'the line that fitted is not held');
  checkError(t, await read(t, other, '/v1/reservations/rs.3', 404), 404, 'reservation_not_found', 'a refused reservation is not stored');
  const missing = await write(t, leader, '/v1/reservations', { id: 'rs.4', lines: [{ sku: 'it.kiwi', qty: 1 }], ttl_ms: 1000 });
  t.same(missing.results, [{ id: 'rs.4', status: 'error', code: 'item_not_found', sku: 'it.kiwi' }]);
  checkError(t, await read(t, follower, '/v1/items/it.kiwi', 404), 404, 'item_not_found', 'unknown item');
});

t.test('a reservation expires via ttl_ms with no other traffic', async (t) => {
  await write(t, leader, '/v1/items', { sku: 'ttl.plum', on_hand: 5 });
  const hold = await write(t, follower, '/v1/reservations', { id: 'rs.ttl', lines: [{ sku: 'ttl.plum', qty: 5 }], ttl_ms: 400 });
  t.same(hold.results, [{ id: 'rs.ttl', status: 'created' }]);
  t.match((await read(t, other, '/v1/items/ttl.plum')).body, { reserved: 5, available: 0 });
  const expired = await pollUntil(other, '/v1/reservations/rs.ttl', (a) => a.body?.status === 'expired', 5000);
  t.equal(expired.body?.status, 'expired', `expired without any other write: ${describeAnswer(expired)}`);
  t.same((await read(t, other, '/v1/items/ttl.plum')).body, { sku: 'ttl.plum', on_hand: 5, reserved: 0, available: 5 }, 'the stock is back');
  t.same((await write(t, follower, '/v1/reservations/rs.ttl/confirm', undefined)).results, [{ id: 'rs.ttl', status: 'error', code: 'reservation_expired' }]);
});

t.test('cluster status, health, readiness and metrics on every node', async (t) => {
  for (const node of [leader, follower, other]) {
    const status = await read(t, node, '/v1/cluster');
    const body = clusterStatusOf(status);
    t.match(body, {
      id: node.id, role: node === leader ? 'leader' : 'follower', term: Number, leader: leader.id,
      commit_index: Number, applied_index: Number, last_log_index: Number, snapshot_index: Number,
    }, `GET /v1/cluster on ${node.id}`);
    t.ok(body.applied_index <= body.commit_index && body.commit_index <= body.last_log_index, `${node.id}: applied <= commit <= last log`);
    t.match(body.leader_changes?.at(-1), { leader: leader.id, term: body.term, at_ms: Number }, `${node.id} lists the leader it knows last among its leader changes`);
    const members = [...body.members].sort((a, b) => a.id.localeCompare(b.id));
    t.equal(members.length, 3, 'three members');
    for (const member of members) {
      const url = cluster.node(member.id).url;
      t.equal(member.url, url, `member ${member.id} url`);
      t.equal(member.voter, true, `member ${member.id} is a voter`);
      for (const key of ['match_index', 'lag_entries', 'last_contact_ms', 'lag_ms']) {
        t.ok(key in member, `member ${member.id} has ${key}`);
        if (node === leader) t.type(member[key], 'number', `the leader knows ${member.id}.${key}`);
      }
    }

    const health = await read(t, node, '/healthz');
    t.same(health.body, { status: 'ok', id: node.id });
    const ready = await read(t, node, '/readyz');
    t.match(ready.body, { ready: true });

    const metrics = await call(node.url, 'GET', '/metrics');
    t.equal(metrics.status, 200, `metrics on ${node.id}`);
    t.match(metrics.headers['content-type'], /^text\/plain/, 'Prometheus text');
    const text = metrics.text;
    t.match(text, /^# TYPE raft_\w+ /m, 'raft_* series are typed');
    t.match(text, /^raft_leader_changes_total(\{[^}]*\})? \d/m, 'raft_leader_changes_total has a sample');
    const names = new Set([...text.matchAll(/^(raft_\w+?)(?:_bucket|_sum|_count)?(?:\{| )/gm)].map((m) => m[1]));
    t.ok(names.size >= 3, `several raft_* series on ${node.id}: ${[...names].join(', ')}`);
    // Every node has sent heartbeats or their answers to each other member over the real transport.
    for (const peer of [leader, follower, other].filter((member) => member !== node)) {
      const sent = new RegExp(`^raft_peer_messages_sent_total\\{peer="${peer.id}",node="${node.id}"\\} ([0-9]+)$`, 'm').exec(text);
      t.ok(sent !== null && Number(sent[1]) > 0, `${node.id} counts messages sent to ${peer.id}`);
      t.match(text, new RegExp(`^raft_peer_requests_sent_total\\{peer="${peer.id}"`, 'm'));
    }
    t.match(text, /^ledger_wal_checkpoints_total\{node="n\d"\} \d+$/m, 'background WAL checkpoints are counted');
  }
});
