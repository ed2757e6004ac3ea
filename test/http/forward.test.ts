// Forwarding over real sockets on 127.0.0.1: a "follower" app whose service
// answers not_leader forwards writes (and on_stale=forward reads) to a
// "leader" app, passes its answer back unchanged, redirects with
// ?redirect=true, and never forwards a forwarded request a second time.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { request } from 'undici';
import type { BuildAppOptions } from '../../src/http/app.js';
import { testApp, type TestApp } from './helpers.js';

interface Listening extends TestApp {
  readonly url: string;
}

async function listening(t: Test, nodeId: string, options: Partial<Omit<BuildAppOptions, 'service'>> = {}): Promise<Listening> {
  const made = testApp(t, options, { nodeId });
  const address = await made.app.listen({ host: '127.0.0.1', port: 0 });
  return { ...made, url: address };
}

/** A leader and a follower that knows the leader's URL. */
async function pair(t: Test, options: Partial<Omit<BuildAppOptions, 'service'>> = {}): Promise<{ leader: Listening; follower: Listening }> {
  const leader = await listening(t, 'leader', options);
  const follower = await listening(t, 'follower', options);
  follower.service.follow('leader', leader.url);
  return { leader, follower };
}

interface Sent {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: { error?: { code: string; message: string; details?: Record<string, unknown> } } & Record<string, unknown>;
}

async function send(url: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: string, headers: Record<string, string> = {}): Promise<Sent> {
  const response = await request(`${url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.statusCode, headers: response.headers, body: (await response.body.json()) as Sent['body'] };
}

const ACCOUNTS = JSON.stringify({ accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] });
const BIG_TRANSFER = '{"id":"t1","debit_account_id":"a","credit_account_id":"b","amount":"9223372036854775807","ledger":"USD"}';

t.test('a follower forwards a write to the leader and passes its answer back', async (t) => {
  const { leader, follower } = await pair(t);
  const created = await send(follower.url, 'POST', '/v1/accounts', ACCOUNTS, { 'x-request-id': 'trace-1' });
  t.equal(created.status, 200);
  t.same(created.body, { results: [{ id: 'a', status: 'created' }, { id: 'b', status: 'created' }], index: 1 });
  t.equal(created.headers['x-served-by'], 'leader', 'X-Served-By names the node that served');
  t.equal(created.headers['x-raft-index'], '1', "the leader's committed index");
  t.equal(created.headers['x-raft-leader'], 'leader');
  t.equal(created.headers['x-ledger-forwarded-by'], 'follower');
  t.equal(created.headers['x-request-id'], 'trace-1');
  t.equal(leader.service.machine.appliedIndex(), 1);
  t.equal(follower.service.machine.appliedIndex(), 0, 'the follower applied nothing itself');

  const transfer = await send(follower.url, 'POST', '/v1/transfers', BIG_TRANSFER);
  t.same(transfer.body, { results: [{ id: 't1', status: 'created' }], index: 2 });
  t.equal(leader.service.machine.queries.transfer('t1')?.amount, 2n ** 63n - 1n, 'the exact body reached the leader');

  const confirm = await send(follower.url, 'POST', '/v1/reservations/r1/confirm');
  t.same(confirm.body, { results: [{ id: 'r1', status: 'error', code: 'reservation_not_found' }], index: 3 }, 'a write without a body is forwarded too');

  leader.service.writeError = { code: 'overloaded', retryAfterMs: 2500 };
  const overloaded = await send(follower.url, 'POST', '/v1/accounts', ACCOUNTS);
  t.equal(overloaded.status, 429, "the leader's status");
  t.equal(overloaded.headers['retry-after'], '3', "the leader's Retry-After");
  t.equal(overloaded.body.error?.code, 'overloaded');
  t.equal(overloaded.headers['x-served-by'], 'leader');
});

t.test('operator requests are forwarded like writes', async (t) => {
  const { leader, follower } = await pair(t);
  const snapshot = await send(follower.url, 'POST', '/v1/cluster/snapshot');
  t.equal(snapshot.status, 200);
  t.equal(snapshot.headers['x-served-by'], 'leader');
  const add = await send(follower.url, 'POST', '/v1/cluster/members', JSON.stringify({ id: 'n4', url: 'http://127.0.0.1:7004', voter: false }));
  t.same(add.body, { id: 'n4', url: 'http://127.0.0.1:7004', voter: false, index: 1 });
  t.ok(leader.service.members.some((member) => member.id === 'n4'));
  t.notOk(follower.service.members.some((member) => member.id === 'n4'));
});

t.test('the Authorization header travels with the forwarded request', async (t) => {
  const tokens = [{ token: 'writer-token', scopes: ['write' as const] }];
  const { leader, follower } = await pair(t, { tokens });
  const anonymous = await send(follower.url, 'POST', '/v1/accounts', ACCOUNTS);
  t.equal(anonymous.status, 401);
  t.equal(anonymous.headers['x-served-by'], 'follower', 'refused by the follower itself');
  const authorized = await send(follower.url, 'POST', '/v1/accounts', ACCOUNTS, { authorization: 'Bearer writer-token' });
  t.equal(authorized.status, 200);
  t.equal(authorized.headers['x-served-by'], 'leader');
  t.equal(leader.service.machine.appliedIndex(), 1);
});

t.test('?redirect=true answers 307 with Location at the leader', async (t) => {
  const { leader, follower } = await pair(t);
  const redirected = await send(follower.url, 'POST', '/v1/accounts?redirect=true', ACCOUNTS);
  t.equal(redirected.status, 307);
  t.equal(redirected.headers['location'], `${leader.url}/v1/accounts?redirect=true`);
  t.equal(redirected.body.error?.code, 'leader_redirect');
  t.same(redirected.body.error?.details, { leader_id: 'leader', location: `${leader.url}/v1/accounts?redirect=true` });
  t.equal(redirected.headers['x-served-by'], 'follower');
  t.equal(redirected.headers['x-raft-leader'], 'leader');
  t.equal(leader.service.machine.appliedIndex(), 0, 'nothing was sent to the leader');

  const followed = await send(`${redirected.headers['location']}`.replace('/v1/accounts?redirect=true', ''), 'POST', '/v1/accounts?redirect=true', ACCOUNTS);
  t.equal(followed.status, 200, 'the leader serves the redirected request');
});

t.test('a forwarded request is never forwarded again', async (t) => {
  const { leader, follower } = await pair(t);
  leader.service.follow('follower', follower.url);
  const looped = await send(follower.url, 'POST', '/v1/accounts', ACCOUNTS);
  t.equal(looped.status, 503);
  t.equal(looped.body.error?.code, 'not_leader');
  t.equal(looped.headers['retry-after'], '1');
  t.equal(looped.headers['x-served-by'], 'leader', 'the second node answered 503 instead of forwarding');
  t.equal(leader.service.calls.filter((call) => call.method === 'write').length, 1);
  t.equal(follower.service.calls.filter((call) => call.method === 'write').length, 1, 'the first node got exactly one request');

  const marked = await send(follower.url, 'POST', '/v1/accounts', ACCOUNTS, { 'x-ledger-forwarded-by': 'someone' });
  t.equal(marked.status, 503);
  t.equal(marked.body.error?.code, 'not_leader');
  t.equal(marked.headers['x-served-by'], 'follower');
  t.equal(leader.service.machine.appliedIndex() + follower.service.machine.appliedIndex(), 0);
});

t.test('leader unknown, unreachable or silent', async (t) => {
  const lone = await listening(t, 'follower', { writeTimeoutMs: 50, adminTimeoutMs: 50, forwardTimeoutMs: 300 });
  lone.service.follow('', undefined);
  const unknown = await send(lone.url, 'POST', '/v1/accounts', ACCOUNTS);
  t.equal(unknown.status, 503);
  t.equal(unknown.body.error?.code, 'no_leader');
  t.equal(unknown.headers['retry-after'], '1');

  lone.service.follow('leader', undefined);
  const noUrl = await send(lone.url, 'POST', '/v1/accounts?redirect=true', ACCOUNTS);
  t.equal(noUrl.status, 503, 'known leader without a URL: no redirect possible');
  t.equal(noUrl.body.error?.code, 'no_leader');

  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  lone.service.follow('leader', `http://127.0.0.1:${closedPort}`);
  const refused = await send(lone.url, 'POST', '/v1/accounts', ACCOUNTS);
  t.equal(refused.status, 503);
  t.equal(refused.body.error?.code, 'leader_unreachable');
  t.ok(refused.headers['retry-after'] !== undefined);

  const silent: Server = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    silent.closeAllConnections();
    silent.close();
  });
  lone.service.follow('leader', `http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
  const timedOut = await send(lone.url, 'POST', '/v1/accounts', ACCOUNTS);
  t.equal(timedOut.status, 504, 'a leader that never answers: the outcome is unknown');
  t.equal(timedOut.body.error?.code, 'forward_timeout');
});

t.test('on_stale=forward sends a read that cannot meet its bound to the leader', async (t) => {
  const { leader, follower } = await pair(t);
  await send(leader.url, 'POST', '/v1/items', JSON.stringify({ sku: 'apple', on_hand: 4 }));
  follower.service.stale = { stalenessMs: 5000, lagEntries: 12 };
  leader.service.stale = { stalenessMs: 3, lagEntries: 0 };
  const path = '/v1/items/apple?consistency=stale&max_staleness_ms=100';
  const refused = await send(follower.url, 'GET', path);
  t.equal(refused.status, 503);
  t.equal(refused.body.error?.code, 'staleness_bound_exceeded');

  const forwarded = await send(follower.url, 'GET', `${path}&on_stale=forward`);
  t.equal(forwarded.status, 200);
  t.same(forwarded.body, { sku: 'apple', on_hand: 4, reserved: 0, available: 4 });
  t.equal(forwarded.headers['x-served-by'], 'leader');
  t.equal(forwarded.headers['x-staleness-ms'], '3');
  t.equal(forwarded.headers['x-raft-lag-entries'], '0');
  t.equal(forwarded.headers['x-raft-index'], '1');

  leader.service.stale = { stalenessMs: 5000, lagEntries: 0 };
  const both = await send(follower.url, 'GET', `${path}&on_stale=forward`);
  t.equal(both.status, 503, 'the leader cannot meet it either: 503 from the leader, no second hop');
  t.equal(both.body.error?.code, 'staleness_bound_exceeded');
  t.equal(both.headers['x-served-by'], 'leader');

  follower.service.readError = { code: 'not_leader', leaderId: 'leader', leaderUrl: leader.url };
  const lease = await send(follower.url, 'GET', '/v1/items/apple?consistency=lease');
  t.equal(lease.status, 200, 'a read the follower cannot serve (not_leader) goes to the leader');
  t.equal(lease.headers['x-served-by'], 'leader');
});
