// Bearer auth: with tokens configured every /v1 request needs one (401
// without or with a wrong one, 403 without the scope), admin implies every
// scope, the probes stay open, and auth comes before the body is read.
// Without tokens nothing is asked.

import t from 'tap';
import { errorOf, json, RAFT_HEADERS, testApp } from './helpers.js';

const tokens = [
  { token: 'reader-token', scopes: ['read'] as const, name: 'reader' },
  { token: 'writer-token', scopes: ['write'] as const, name: 'writer' },
  { token: 'admin-token', scopes: ['admin'] as const, name: 'operator' },
];

interface Probe {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  readonly payload?: object;
  readonly scope: 'read' | 'write' | 'admin';
}

const probes: Probe[] = [
  { method: 'GET', url: '/v1/accounts/a', scope: 'read' },
  { method: 'GET', url: '/v1/accounts?ids=a', scope: 'read' },
  { method: 'GET', url: '/v1/accounts/a/transfers', scope: 'read' },
  { method: 'GET', url: '/v1/transfers/t', scope: 'read' },
  { method: 'GET', url: '/v1/items/apple', scope: 'read' },
  { method: 'GET', url: '/v1/reservations/r', scope: 'read' },
  { method: 'GET', url: '/v1/cluster', scope: 'read' },
  { method: 'GET', url: '/v1/cluster/nodes', scope: 'read' },
  { method: 'POST', url: '/v1/accounts', payload: { id: 'a', ledger: 'USD' }, scope: 'write' },
  { method: 'POST', url: '/v1/transfers', payload: { id: 't', debit_account_id: 'a', credit_account_id: 'b', amount: 1, ledger: 'USD' }, scope: 'write' },
  { method: 'POST', url: '/v1/items', payload: { sku: 'apple', on_hand: 1 }, scope: 'write' },
  { method: 'POST', url: '/v1/items/apple/adjust', payload: { id: 'd', delta: 1 }, scope: 'write' },
  { method: 'POST', url: '/v1/reservations', payload: { id: 'r', lines: [{ sku: 'apple', qty: 1 }], ttl_ms: 1000 }, scope: 'write' },
  { method: 'POST', url: '/v1/reservations/r/confirm', scope: 'write' },
  { method: 'POST', url: '/v1/reservations/r/release', scope: 'write' },
  { method: 'POST', url: '/v1/cluster/members', payload: { id: 'n9', url: 'http://127.0.0.1:7009' }, scope: 'admin' },
  { method: 'DELETE', url: '/v1/cluster/members/n9', scope: 'admin' },
  { method: 'POST', url: '/v1/cluster/leadership', payload: { to: 'n1' }, scope: 'admin' },
  { method: 'POST', url: '/v1/cluster/snapshot', scope: 'admin' },
];

const grants: Record<string, readonly string[]> = { 'reader-token': ['read'], 'writer-token': ['write'], 'admin-token': ['read', 'write', 'admin'] };

t.test('every /v1 route: 401 without or with a bad token, 403 without the scope, served with it', async (t) => {
  const { app, service } = testApp(t, { tokens });
  for (const probe of probes) {
    const send = (authorization?: string) =>
      app.inject({
        method: probe.method, url: probe.url,
        ...(probe.payload === undefined ? {} : { payload: probe.payload }),
        ...(authorization === undefined ? {} : { headers: { authorization } }),
      });
    const label = `${probe.method} ${probe.url}`;
    for (const authorization of [undefined, 'Bearer wrong-token', 'Basic cmVhZGVyLXRva2Vu', 'Bearer', 'bearer reader-token', 'Bearer reader-token extra']) {
      const response = await send(authorization);
      t.equal(response.statusCode, 401, `${label} with ${authorization ?? 'no header'}: 401`);
      t.equal(errorOf(response).code, 'unauthorized');
      t.match(response.headers['www-authenticate'], /^Bearer realm="raft-ledger"/);
      for (const header of RAFT_HEADERS) t.ok(response.headers[header] !== undefined, `${label} 401: ${header}`);
    }
    for (const [token, scopes] of Object.entries(grants)) {
      const response = await send(`Bearer ${token}`);
      if (scopes.includes(probe.scope)) {
        t.not(response.statusCode, 401, `${label} with ${token}: authenticated`);
        t.not(response.statusCode, 403, `${label} with ${token}: allowed`);
      } else {
        t.equal(response.statusCode, 403, `${label} with ${token}: 403`);
        t.equal(errorOf(response).code, 'forbidden');
        t.same(errorOf(response).details, { required_scope: probe.scope });
        t.match(response.headers['www-authenticate'], `scope="${probe.scope}"`);
      }
    }
  }
  const reached = service.calls.length;
  t.ok(reached > 0, 'authorized requests reached the node');
});

t.test('a refused request reaches nothing, not even the body parser', async (t) => {
  const { app, service } = testApp(t, { tokens, bodyLimitBytes: 64 });
  const huge = JSON.stringify({ accounts: Array.from({ length: 50 }, (_, i) => ({ id: `a${i}`, ledger: 'USD' })) });
  const anonymous = await app.inject({ method: 'POST', url: '/v1/accounts', headers: json, payload: huge });
  t.equal(anonymous.statusCode, 401, 'auth is checked before the body limit');
  const reader = await app.inject({ method: 'POST', url: '/v1/accounts', headers: { ...json, authorization: 'Bearer reader-token' }, payload: '{bad json' });
  t.equal(reader.statusCode, 403, 'scope is checked before the body is parsed');
  t.equal(service.calls.length, 0);
  t.equal(service.machine.appliedIndex(), 0);
});

t.test('probes are open; without tokens nothing is asked', async (t) => {
  const secured = testApp(t, { tokens });
  t.equal((await secured.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  t.equal((await secured.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);

  const open = testApp(t);
  for (const probe of probes) {
    const response = await open.app.inject({ method: probe.method, url: probe.url, ...(probe.payload === undefined ? {} : { payload: probe.payload }) });
    t.not(response.statusCode, 401, `${probe.method} ${probe.url}: no auth`);
    t.not(response.statusCode, 403);
  }
  const ignored = await open.app.inject({ method: 'GET', url: '/v1/cluster', headers: { authorization: 'Bearer anything' } });
  t.equal(ignored.statusCode, 200, 'a token sent to a node without tokens is ignored');
});
