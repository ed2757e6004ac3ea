// GET /v1/events over a real socket against a real ledger (LocalService):
// every change kind in log order with its id, resuming with Last-Event-ID,
// the 400s naming the field, read scope, and back-pressure: a consumer that
// does not read stops the server reading pages until the socket drains.

import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import type { Command } from '../../src/ledger/index.js';
import { EVENT_PAGE_ROWS } from '../../src/ledger/index.js';
import { MAX_OPEN_STREAMS } from '../../src/http/routes/events.js';
import { testApp, type TestApp } from './helpers.js';
import { EventStreamClient, eventIdKey, type StreamEvent } from './sse.js';

async function listening(t: Test, options: Parameters<typeof testApp>[1] = {}): Promise<TestApp & { url: string }> {
  const setup = testApp(t, options);
  await setup.app.listen({ host: '127.0.0.1', port: 0 });
  const address = setup.app.server.address() as AddressInfo;
  return { ...setup, url: `http://127.0.0.1:${address.port}` };
}

async function apply(setup: TestApp, command: Command): Promise<number> {
  const outcome = await setup.service.write(command, 1000);
  if (!outcome.ok) throw new Error(`write failed: ${outcome.error.code}`);
  return outcome.value.index;
}

async function openStream(t: Test, url: string, path: string, headers: Record<string, string> = {}, paused = false): Promise<EventStreamClient> {
  const client = await new EventStreamClient().open(url, path, headers, paused);
  t.teardown(() => client.close());
  return client;
}

async function seed(setup: TestApp): Promise<void> {
  await apply(setup, { type: 'create_accounts', accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] });
  await apply(setup, { type: 'create_transfers', transfers: [{ id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: 10n, ledger: 'USD' }] });
  await apply(setup, { type: 'create_transfers', transfers: [{ id: 'p1', debit_account_id: 'a', credit_account_id: 'b', amount: 50n, ledger: 'USD', pending: true }] });
  await apply(setup, { type: 'create_transfers', transfers: [{ id: 'p1.post', debit_account_id: 'a', credit_account_id: 'b', amount: 30n, ledger: 'USD', post_pending_id: 'p1' }] });
  await apply(setup, { type: 'create_items', items: [{ sku: 'sku1', on_hand: 10 }] });
  await apply(setup, { type: 'adjust_stock', adjustments: [{ id: 'adj1', sku: 'sku1', delta: 5 }] });
  await apply(setup, { type: 'create_reservations', reservations: [{ id: 'r1', lines: [{ sku: 'sku1', qty: 3 }], ttl_ms: 60_000 }] });
  await apply(setup, { type: 'confirm_reservations', ids: ['r1'] });
}

const expected = [
  ['1.1', 'account_created', 'a'],
  ['1.2', 'account_created', 'b'],
  ['2', 'transfer_created', 't1'],
  ['3', 'transfer_created', 'p1'],
  ['4.1', 'transfer_created', 'p1.post'],
  ['4.2', 'transfer_status_changed', 'p1'],
  ['5', 'item_created', 'sku1'],
  ['6', 'stock_adjusted', 'adj1'],
  ['7', 'reservation_created', 'r1'],
  ['8', 'reservation_status_changed', 'r1'],
];

const summary = (events: readonly StreamEvent[]) => events.map((e) => [e.id, e.data.kind, e.data.record.id ?? e.data.record.sku]);

t.test('every change kind in log order, rendered as the API renders it, with the Raft headers', async (t) => {
  const setup = await listening(t);
  await seed(setup);
  const stream = await openStream(t, setup.url, '/v1/events?from_index=0');
  t.equal(stream.status, 200);
  t.match(stream.headers['content-type'], /^text\/event-stream/);
  t.equal(stream.headers['x-raft-index'], '8');
  t.equal(stream.headers['x-served-by'], 'n1');
  t.ok(stream.headers['x-raft-term'] !== undefined && stream.headers['x-raft-lag-entries'] !== undefined, 'term and staleness headers set');
  const events = await stream.waitFor(expected.length);
  t.same(summary(events), expected);
  // Records as at the change: p1 was pending when created, posted by entry 4; balances start at zero.
  t.match(events[0]?.data.record, { id: 'a', balance: '0', debits_posted: '0' });
  t.match(events[3]?.data, { index: 3, record: { id: 'p1', status: 'pending', amount: '50', pending: true } });
  t.match(events[5]?.data.record, { id: 'p1', status: 'posted' });
  t.match(events[6]?.data.record, { sku: 'sku1', on_hand: 10, reserved: 0 });
  t.match(events[8]?.data.record, { id: 'r1', status: 'held', lines: [{ sku: 'sku1', qty: 3 }] });
  t.match(events[9]?.data.record, { id: 'r1', status: 'confirmed' });
});

t.test('from_index and Last-Event-ID resume exactly where asked', async (t) => {
  const setup = await listening(t);
  await seed(setup);
  const fromFour = await openStream(t, setup.url, '/v1/events?from_index=4');
  t.same(summary(await fromFour.waitFor(6)), expected.slice(4));
  const afterSub = await openStream(t, setup.url, '/v1/events', { 'last-event-id': '4.1' });
  t.same(summary(await afterSub.waitFor(5)), expected.slice(5), 'after 4.1 comes 4.2');
  const afterWhole = await openStream(t, setup.url, '/v1/events?from_index=1', { 'last-event-id': '2' });
  t.same(summary(await afterWhole.waitFor(7)), expected.slice(3), 'Last-Event-ID wins over from_index');
});

t.test('bad from_index or Last-Event-ID answers 400 naming the field; read scope is required', async (t) => {
  const setup = await listening(t, { tokens: [{ token: 'reader-token-0123456789', scopes: ['read'] }, { token: 'writer-token-0123456789', scopes: ['write'] }] });
  await seed(setup);
  const auth = { authorization: 'Bearer reader-token-0123456789' };
  const cases: [string, Record<string, string>, string][] = [
    ['/v1/events?from_index=abc', auth, 'from_index'],
    ['/v1/events?from_index=-1', auth, 'from_index'],
    ['/v1/events?from_index=10', auth, 'from_index'],
    ['/v1/events?from_index=1&follow=yes', auth, ''],
    ['/v1/events', { ...auth, 'last-event-id': 'x.1' }, 'last-event-id'],
    ['/v1/events', { ...auth, 'last-event-id': '12' }, 'last-event-id'],
  ];
  for (const [path, headers, field] of cases) {
    const answer = await openStream(t, setup.url, path, headers);
    await answer.waitFor(1, 2000).catch(() => undefined);
    t.equal(answer.status, 400, `${path} ${JSON.stringify(headers)}`);
    const body = JSON.parse(answer.body) as { error: { code: string; details: { issues: { path: string }[] } } };
    t.equal(body.error.code, 'invalid_query');
    if (field !== '') t.equal(body.error.details.issues[0]?.path, field);
  }
  const edge = await openStream(t, setup.url, '/v1/events?from_index=9', auth);
  t.equal(edge.status, 200, 'the next index to be applied is a valid start');
  edge.close();
  const writer = await openStream(t, setup.url, '/v1/events', { authorization: 'Bearer writer-token-0123456789' });
  await writer.waitFor(1, 2000).catch(() => undefined);
  t.equal(writer.status, 403);
  const anonymous = await openStream(t, setup.url, '/v1/events');
  await anonymous.waitFor(1, 2000).catch(() => undefined);
  t.equal(anonymous.status, 401);
});

t.test('a consumer that does not read stops the page reads; they go on once it reads', async (t) => {
  const setup = await listening(t);
  const accounts = 20_000;
  const metadata = { note: 'x'.repeat(3000) };
  // Entries of 100 changes: a page holds whole entries, about EVENT_PAGE_ROWS rows.
  for (let first = 0; first < accounts; first += 100) {
    const batch = Array.from({ length: 100 }, (_, n) => ({ id: `acc${first + n}`, ledger: 'USD', metadata }));
    await apply(setup, { type: 'create_accounts', accounts: batch });
  }
  const totalPages = Math.floor(accounts / (EVENT_PAGE_ROWS + 100));
  const pageReads = (): number => setup.service.calls.filter((c) => c.method === 'read').length;
  const before = pageReads();
  const stream = await openStream(t, setup.url, '/v1/events?from_index=0', {}, true);
  // Wait until the server stopped reading (no new page for a while) rather than for a fixed time.
  let seen = -1;
  for (let stable = 0; stable < 5; ) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = pageReads();
    stable = now === seen ? stable + 1 : 0;
    seen = now;
  }
  const readWhilePaused = seen - before;
  t.ok(readWhilePaused < totalPages / 2, `paused consumer: ${readWhilePaused} of ${totalPages} pages read (socket buffers hold the rest)`);
  stream.resume();
  const events = await stream.waitFor(accounts, 25_000);
  t.ok(pageReads() - before >= totalPages, 'the rest was read once the consumer drained the socket');
  const ids = events.map((e) => e.id);
  t.equal(new Set(ids).size, accounts, 'no duplicates');
  t.ok(ids.every((id, n) => n === 0 || compare(ids[n - 1] as string, id) < 0), 'strictly increasing ids');
});

function compare(a: string, b: string): number {
  const [ai, as] = eventIdKey(a);
  const [bi, bs] = eventIdKey(b);
  return ai - bi || as - bs;
}

t.test('open streams are bounded: one more answers 429 overloaded, and a closed one frees its place', async (t) => {
  const setup = await listening(t);
  await seed(setup);
  const streams: EventStreamClient[] = [];
  for (let n = 0; n < MAX_OPEN_STREAMS; n++) streams.push(await openStream(t, setup.url, '/v1/events?from_index=8'));
  t.ok(streams.every((s) => s.status === 200));
  const refused = await openStream(t, setup.url, '/v1/events');
  await refused.waitFor(1, 2000).catch(() => undefined);
  t.equal(refused.status, 429);
  t.equal(JSON.parse(refused.body).error.code, 'overloaded');
  t.ok(refused.headers['retry-after'] !== undefined, 'with Retry-After');
  streams[0]?.close();
  let again: EventStreamClient | undefined;
  for (let attempt = 0; attempt < 50 && again?.status !== 200; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    again = await openStream(t, setup.url, '/v1/events?from_index=8');
  }
  t.equal(again?.status, 200);
});
