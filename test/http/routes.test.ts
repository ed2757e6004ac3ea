// Every route of the contract with its response shape: writes answer
// {"results", "index"} with 200 even when items fail, reads render amounts as
// decimal strings, 404s carry the error body, and every answer carries the
// Raft headers.

import { Writable } from 'node:stream';
import t from 'tap';
import { errorOf, json, RAFT_HEADERS, testApp } from './helpers.js';

const MAX_AMOUNT = '9223372036854775807';

t.test('accounts: create batch and single, read one and several, idempotency', async (t) => {
  const { app, service } = testApp(t);
  const batch = await app.inject({
    method: 'POST', url: '/v1/accounts', headers: json,
    payload: { accounts: [{ id: 'alice', ledger: 'USD' }, { id: 'bob', ledger: 'USD', code: 7, flags: { debits_must_not_exceed_credits: true }, metadata: { tier: 'gold' } }] },
  });
  t.equal(batch.statusCode, 200);
  t.same(batch.json(), { results: [{ id: 'alice', status: 'created' }, { id: 'bob', status: 'created' }], index: 1 });
  t.equal(batch.headers['x-raft-index'], '1');

  const single = await app.inject({ method: 'POST', url: '/v1/accounts', payload: { id: 'carol', ledger: 'USD' } });
  t.same(single.json(), { results: [{ id: 'carol', status: 'created' }], index: 2 });

  const repeat = await app.inject({ method: 'POST', url: '/v1/accounts', payload: { id: 'carol', ledger: 'USD' } });
  t.same(repeat.json(), { results: [{ id: 'carol', status: 'exists' }], index: 3 });
  const different = await app.inject({ method: 'POST', url: '/v1/accounts', payload: { id: 'carol', ledger: 'EUR' } });
  t.equal(different.statusCode, 200, 'a single-object write whose item failed is still 200');
  t.same(different.json(), { results: [{ id: 'carol', status: 'error', code: 'exists_with_different_fields' }], index: 4 });

  const bob = await app.inject({ method: 'GET', url: '/v1/accounts/bob' });
  t.equal(bob.statusCode, 200);
  t.same(bob.json(), {
    id: 'bob', ledger: 'USD', code: 7,
    flags: { debits_must_not_exceed_credits: true, credits_must_not_exceed_debits: false },
    debits_pending: '0', debits_posted: '0', credits_pending: '0', credits_posted: '0', balance: '0', available: '0',
    metadata: { tier: 'gold' }, created_at: 1_000_000,
  });
  t.equal(bob.headers['x-raft-index'], String(service.machine.appliedIndex()));

  const several = await app.inject({ method: 'GET', url: '/v1/accounts?ids=carol,nobody,alice' });
  t.equal(several.statusCode, 200);
  const accounts = several.json<{ accounts: ({ id: string } | null)[] }>().accounts;
  t.same(accounts.map((account) => account?.id ?? null), ['carol', null, 'alice'], 'in the order asked, null where missing');

  const missing = await app.inject({ method: 'GET', url: '/v1/accounts/nobody' });
  t.equal(missing.statusCode, 404);
  t.same(errorOf(missing).code, 'account_not_found');
  t.match(errorOf(missing).message, /nobody/);
  for (const header of RAFT_HEADERS) t.ok(missing.headers[header] !== undefined, `404 carries ${header}`);
});

t.test('transfers: batch with failures, pending post, amounts as strings, history pages', async (t) => {
  const { app } = testApp(t);
  await app.inject({ method: 'POST', url: '/v1/accounts', payload: { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] } });
  const created = await app.inject({
    method: 'POST', url: '/v1/transfers',
    payload: {
      transfers: [
        { id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: MAX_AMOUNT, ledger: 'USD' },
        { id: 't2', debit_account_id: 'a', credit_account_id: 'nobody', amount: 1, ledger: 'USD' },
        { id: 't3', debit_account_id: 'b', credit_account_id: 'a', amount: 5, ledger: 'USD', pending: true, timeout_ms: 60_000 },
      ],
    },
  });
  t.equal(created.statusCode, 200, '200 even when some items fail');
  t.same(created.json(), {
    results: [{ id: 't1', status: 'created' }, { id: 't2', status: 'error', code: 'credit_account_not_found' }, { id: 't3', status: 'created' }],
    index: 2,
  });

  const b = await app.inject({ method: 'GET', url: '/v1/accounts/b' });
  t.match(b.json(), { credits_posted: MAX_AMOUNT, debits_pending: '5', balance: MAX_AMOUNT, available: '9223372036854775802' });

  const post = await app.inject({ method: 'POST', url: '/v1/transfers', payload: { id: 't4', post_pending_id: 't3', amount: '3' } });
  t.same(post.json(), { results: [{ id: 't4', status: 'created' }], index: 3 });

  const t3 = await app.inject({ method: 'GET', url: '/v1/transfers/t3' });
  t.equal(t3.statusCode, 200);
  t.match(t3.json(), { id: 't3', amount: '5', status: 'posted', pending: true, index: 2, created_at: 1_000_000 });
  const t1 = await app.inject({ method: 'GET', url: '/v1/transfers/t1' });
  t.match(t1.json(), { id: 't1', amount: MAX_AMOUNT, status: 'posted', debit_account_id: 'a', credit_account_id: 'b', ledger: 'USD' });

  const first = await app.inject({ method: 'GET', url: '/v1/accounts/a/transfers?limit=2' });
  t.equal(first.statusCode, 200);
  const page = first.json<{ transfers: { id: string; seq: number }[]; next_after: number | null }>();
  t.same(page.transfers.map((transfer) => transfer.id), ['t1', 't3']);
  t.equal(page.next_after, page.transfers[1]?.seq);
  const second = await app.inject({ method: 'GET', url: `/v1/accounts/a/transfers?after=${page.next_after}&limit=2` });
  t.match(second.json(), { transfers: [{ id: 't4', post_pending_id: 't3', amount: '3', pending: false }], next_after: null });

  const noAccount = await app.inject({ method: 'GET', url: '/v1/accounts/nobody/transfers' });
  t.equal(noAccount.statusCode, 404);
  t.equal(errorOf(noAccount).code, 'account_not_found');
  const noTransfer = await app.inject({ method: 'GET', url: '/v1/transfers/nothing' });
  t.equal(noTransfer.statusCode, 404);
  t.equal(errorOf(noTransfer).code, 'transfer_not_found');
});

t.test('items, adjustments and reservations', async (t) => {
  const { app } = testApp(t);
  const items = await app.inject({ method: 'POST', url: '/v1/items', payload: { items: [{ sku: 'apple', on_hand: 10 }, { sku: 'pear', on_hand: 1 }] } });
  t.same(items.json(), { results: [{ sku: 'apple', status: 'created' }, { sku: 'pear', status: 'created' }], index: 1 });
  const single = await app.inject({ method: 'POST', url: '/v1/items', payload: { sku: 'plum', on_hand: 0, metadata: { colour: 'purple' } } });
  t.same(single.json(), { results: [{ sku: 'plum', status: 'created' }], index: 2 });

  const adjust = await app.inject({ method: 'POST', url: '/v1/items/apple/adjust', payload: { id: 'adj-1', delta: -3 } });
  t.same(adjust.json(), { results: [{ id: 'adj-1', status: 'created' }], index: 3 });
  const unknownSku = await app.inject({ method: 'POST', url: '/v1/items/kiwi/adjust', payload: { id: 'adj-2', delta: 1 } });
  t.same(unknownSku.json(), { results: [{ id: 'adj-2', status: 'error', code: 'item_not_found' }], index: 4 });

  const reserve = await app.inject({ method: 'POST', url: '/v1/reservations', payload: { id: 'r1', lines: [{ sku: 'apple', qty: 2 }], ttl_ms: 60_000 } });
  t.same(reserve.json(), { results: [{ id: 'r1', status: 'created' }], index: 5 });
  const short = await app.inject({ method: 'POST', url: '/v1/reservations', payload: { id: 'r2', lines: [{ sku: 'apple', qty: 1 }, { sku: 'pear', qty: 5 }], ttl_ms: 1000 } });
  t.same(short.json(), { results: [{ id: 'r2', status: 'error', code: 'insufficient_stock', sku: 'pear' }], index: 6 });

  const apple = await app.inject({ method: 'GET', url: '/v1/items/apple' });
  t.same(apple.json(), { sku: 'apple', on_hand: 7, reserved: 2, available: 5 });
  const plum = await app.inject({ method: 'GET', url: '/v1/items/plum' });
  t.same(plum.json(), { sku: 'plum', on_hand: 0, reserved: 0, available: 0, metadata: { colour: 'purple' } });

  const held = await app.inject({ method: 'GET', url: '/v1/reservations/r1' });
  t.same(held.json(), { id: 'r1', status: 'held', lines: [{ sku: 'apple', qty: 2 }], expires_at: 1_060_000 });

  const confirm = await app.inject({ method: 'POST', url: '/v1/reservations/r1/confirm' });
  t.same(confirm.json(), { results: [{ id: 'r1', status: 'confirmed' }], index: 7 });
  const confirmAgain = await app.inject({ method: 'POST', url: '/v1/reservations/r1/confirm', headers: json, payload: '{}' });
  t.same(confirmAgain.json(), { results: [{ id: 'r1', status: 'exists' }], index: 8 });
  const release = await app.inject({ method: 'POST', url: '/v1/reservations/r1/release', headers: json, payload: '' });
  t.same(release.json(), { results: [{ id: 'r1', status: 'error', code: 'reservation_already_confirmed' }], index: 9 });
  const releaseMissing = await app.inject({ method: 'POST', url: '/v1/reservations/nope/release' });
  t.same(releaseMissing.json(), { results: [{ id: 'nope', status: 'error', code: 'reservation_not_found' }], index: 10 });

  const after = await app.inject({ method: 'GET', url: '/v1/items/apple' });
  t.same(after.json(), { sku: 'apple', on_hand: 5, reserved: 0, available: 5 });
  t.equal((await app.inject({ method: 'GET', url: '/v1/reservations/r1' })).json<{ status: string }>().status, 'confirmed');

  for (const [url, code] of [['/v1/items/kiwi', 'item_not_found'], ['/v1/reservations/nope', 'reservation_not_found']] as const) {
    const missing = await app.inject({ method: 'GET', url });
    t.equal(missing.statusCode, 404, url);
    t.equal(errorOf(missing).code, code);
  }
});

t.test('cluster status and operator actions', async (t) => {
  const { app, service } = testApp(t);
  const status = await app.inject({ method: 'GET', url: '/v1/cluster' });
  t.equal(status.statusCode, 200);
  t.same(status.json(), {
    id: 'n1', role: 'leader', term: 3, leader: 'n1', commit_index: 0, applied_index: 0, last_log_index: 0, snapshot_index: 0,
    members: [{ id: 'n1', url: 'http://127.0.0.1:7001', voter: true, match_index: 0, lag_entries: 0, last_contact_ms: 0, lag_ms: 0 }],
    leader_changes: [{ leader: 'n1', term: 3, at_ms: 1_000_000 }],
  });

  const add = await app.inject({ method: 'POST', url: '/v1/cluster/members', payload: { id: 'n2', url: 'http://127.0.0.1:7002' } });
  t.equal(add.statusCode, 200);
  t.same(add.json(), { id: 'n2', url: 'http://127.0.0.1:7002', voter: true, index: 1 });
  const learner = await app.inject({ method: 'POST', url: '/v1/cluster/members', payload: { id: 'n3', url: 'http://127.0.0.1:7003', voter: false } });
  t.same(learner.json(), { id: 'n3', url: 'http://127.0.0.1:7003', voter: false, index: 2 });
  const members = (await app.inject({ method: 'GET', url: '/v1/cluster' })).json<{ members: { id: string; voter: boolean; last_contact_ms: number | null }[] }>().members;
  t.same(members.map((member) => [member.id, member.voter, member.last_contact_ms]), [['n1', true, 0], ['n2', true, null], ['n3', false, null]]);

  const again = await app.inject({ method: 'POST', url: '/v1/cluster/members', payload: { id: 'n2', url: 'http://127.0.0.1:7002' } });
  t.equal(again.statusCode, 409);
  t.equal(errorOf(again).code, 'cluster_change_refused');
  t.match(errorOf(again).message, /already a member/);

  const remove = await app.inject({ method: 'DELETE', url: '/v1/cluster/members/n3' });
  t.same(remove.json(), { id: 'n3', index: 3 });
  const snapshot = await app.inject({ method: 'POST', url: '/v1/cluster/snapshot' });
  t.same(snapshot.json(), { index: 3 });
  const leadership = await app.inject({ method: 'POST', url: '/v1/cluster/leadership', payload: { to: 'n2' } });
  t.same(leadership.json(), { leader: 'n2' });
  t.equal(leadership.headers['x-raft-leader'], 'n2');
  t.same(service.calls.find((call) => call.method === 'transferLeadership')?.argument, { to: 'n2', timeoutMs: 10_000 });
  const anyone = await app.inject({ method: 'POST', url: '/v1/cluster/leadership', headers: json, payload: '{}' });
  t.equal(anyone.statusCode, 200);
});

t.test('health and readiness are open and carry the error body when not ready', async (t) => {
  const { app, service } = testApp(t, { tokens: [{ token: 'secret', scopes: ['read'] }] });
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(health.statusCode, 200);
  t.same(health.json(), { status: 'ok', id: 'n1' });
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.same(ready.json(), { ready: true, reason: 'leader' });
  service.ready = { ready: false, reason: 'no leader known' };
  const notReady = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(notReady.statusCode, 503);
  t.equal(errorOf(notReady).code, 'not_ready');
  t.equal(notReady.headers['retry-after'], '1');
  for (const header of RAFT_HEADERS) t.ok(notReady.headers[header] !== undefined, `readyz carries ${header}`);
});

t.test('Raft headers and the request id on success and error answers', async (t) => {
  const { app, service } = testApp(t);
  service.leaderId = 'n1';
  await app.inject({ method: 'POST', url: '/v1/accounts', payload: { id: 'a', ledger: 'USD' } });
  const answers = [
    await app.inject({ method: 'GET', url: '/v1/accounts/a', headers: { 'x-request-id': 'client-chosen-1' } }),
    await app.inject({ method: 'GET', url: '/v1/accounts/zz' }),
    await app.inject({ method: 'POST', url: '/v1/accounts', headers: json, payload: '{' }),
    await app.inject({ method: 'GET', url: '/v1/nothing-here' }),
  ];
  for (const answer of answers) {
    t.equal(answer.headers['x-raft-term'], '3');
    t.equal(answer.headers['x-raft-index'], '1');
    t.equal(answer.headers['x-raft-leader'], 'n1');
    t.equal(answer.headers['x-served-by'], 'n1');
    t.match(answer.headers['x-request-id'], /^[A-Za-z0-9._:-]+$/);
  }
  t.equal(answers[0]?.headers['x-request-id'], 'client-chosen-1', 'an incoming X-Request-Id is honoured');
  t.not(answers[1]?.headers['x-request-id'], answers[2]?.headers['x-request-id'], 'otherwise a fresh id per request');
  t.equal(answers[3]?.statusCode, 404);
  t.equal(errorOf(answers[3]!).code, 'route_not_found');
  const injected = await app.inject({ method: 'GET', url: '/v1/accounts/a', headers: { 'x-request-id': 'bad id\nwith newline' } });
  t.not(injected.headers['x-request-id'], 'bad id\nwith newline', 'an unsafe incoming id is replaced');

  service.leaderId = '';
  const noLeader = await app.inject({ method: 'GET', url: '/v1/accounts/a' });
  t.equal(noLeader.headers['x-raft-leader'], '', 'no leader known: the header is empty');
});

function capturedLog(): { lines: string[]; logStream: Writable } {
  const lines: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((line) => line.length > 0));
      done();
    },
  });
  return { lines, logStream };
}

t.test('at debug, log lines carry the request id that the answer returns', async (t) => {
  const { lines, logStream } = capturedLog();
  const { app } = testApp(t, { logLevel: 'debug', logStream });
  const answer = await app.inject({ method: 'GET', url: '/v1/cluster', headers: { 'x-request-id': 'trace-42' } });
  t.equal(answer.headers['x-request-id'], 'trace-42');
  const logged = lines.map((line) => JSON.parse(line) as { request_id?: string; msg: string; statusCode?: number });
  t.ok(logged.some((line) => line.request_id === 'trace-42' && line.msg === 'request completed' && line.statusCode === 200),
    'the completion line names the request and its status');
});

t.test('at info, a request that succeeds writes no log line (per-request lines are debug)', async (t) => {
  const { lines, logStream } = capturedLog();
  const { app } = testApp(t, { logLevel: 'info', logStream });
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ method: 'GET', url: '/v1/cluster' })).statusCode, 200);
  t.same(lines, []);
});
