// Each NodeError the service can answer becomes the status the contract
// names, with the error body, Retry-After where a retry helps, and the Raft
// headers; the consistency parameters reach the node as ReadOptions.

import t, { type Test } from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import type { NodeError, ReadOptions } from '../../src/node/service.js';
import { errorOf, RAFT_HEADERS, testApp } from './helpers.js';

interface Expected {
  readonly status: number;
  readonly code: string;
  readonly retryAfter?: string;
  readonly details?: Record<string, unknown>;
}

const writeErrors: [NodeError, Expected][] = [
  [{ code: 'no_leader', retryAfterMs: 1500 }, { status: 503, code: 'no_leader', retryAfter: '2' }],
  [{ code: 'commit_timeout', index: 17 }, { status: 504, code: 'commit_timeout', details: { index: 17 } }],
  [{ code: 'commit_timeout', index: undefined }, { status: 504, code: 'commit_timeout', details: { index: null } }],
  [{ code: 'overloaded', retryAfterMs: 100 }, { status: 429, code: 'overloaded', retryAfter: '1' }],
  [{ code: 'storage_failed', message: 'ENOSPC' }, { status: 503, code: 'storage_failed', retryAfter: '5' }],
  [{ code: 'shutting_down' }, { status: 503, code: 'shutting_down', retryAfter: '1' }],
];

const readErrors: [NodeError, Expected][] = [
  [{ code: 'read_timeout', retryAfterMs: 300 }, { status: 503, code: 'read_timeout', retryAfter: '1' }],
  [{ code: 'staleness_bound_exceeded', retryAfterMs: 2000, provenStalenessMs: 900 }, { status: 503, code: 'staleness_bound_exceeded', retryAfter: '2', details: { proven_staleness_ms: 900 } }],
  [{ code: 'index_not_reached', minIndex: 9, appliedIndex: 4, retryAfterMs: 250 }, { status: 503, code: 'index_not_reached', retryAfter: '1', details: { min_index: 9, applied_index: 4 } }],
  [{ code: 'no_leader', retryAfterMs: 3000 }, { status: 503, code: 'no_leader', retryAfter: '3' }],
  [{ code: 'shutting_down' }, { status: 503, code: 'shutting_down', retryAfter: '1' }],
];

function checkError(t: Test, response: LightMyRequestResponse, expected: Expected, label: string): void {
  t.equal(response.statusCode, expected.status, `${label}: status`);
  const body = response.json<{ error: Record<string, unknown> }>();
  t.same(Object.keys(body), ['error'], `${label}: the error body`);
  t.equal(errorOf(response).code, expected.code, `${label}: code`);
  t.type(errorOf(response).message, 'string');
  t.equal(response.headers['retry-after'], expected.retryAfter, `${label}: Retry-After`);
  if (expected.details !== undefined) t.same(errorOf(response).details, expected.details, `${label}: details`);
  for (const header of RAFT_HEADERS) t.ok(response.headers[header] !== undefined, `${label}: ${header}`);
}

t.test('write errors map to the contract statuses, and nothing is applied', async (t) => {
  const { app, service } = testApp(t);
  for (const [error, expected] of writeErrors) {
    service.writeError = error;
    const response = await app.inject({ method: 'POST', url: '/v1/accounts', payload: { id: 'a', ledger: 'USD' } });
    checkError(t, response, expected, `write ${error.code}`);
  }
  t.equal(service.machine.appliedIndex(), 0);
});

t.test('read errors map to the contract statuses', async (t) => {
  const { app, service } = testApp(t);
  for (const [error, expected] of readErrors) {
    service.readError = error;
    const response = await app.inject({ method: 'GET', url: '/v1/accounts/a' });
    checkError(t, response, expected, `read ${error.code}`);
  }
});

t.test('operator errors: cluster_change_refused is 409, others as for writes', async (t) => {
  const { app, service } = testApp(t);
  service.adminError = { code: 'cluster_change_refused', message: 'a membership change is already in progress' };
  const refused = await app.inject({ method: 'POST', url: '/v1/cluster/snapshot' });
  checkError(t, refused, { status: 409, code: 'cluster_change_refused' }, 'snapshot refused');
  t.match(errorOf(refused).message, /already in progress/);
  service.adminError = { code: 'commit_timeout', index: undefined };
  checkError(t, await app.inject({ method: 'DELETE', url: '/v1/cluster/members/n2' }), { status: 504, code: 'commit_timeout' }, 'remove timed out');
  service.adminError = { code: 'no_leader', retryAfterMs: 1000 };
  checkError(t, await app.inject({ method: 'POST', url: '/v1/cluster/leadership' }), { status: 503, code: 'no_leader', retryAfter: '1' }, 'no leader');
});

t.test('consistency parameters reach the node as ReadOptions', async (t) => {
  const { app, service } = testApp(t);
  const cases: [string, ReadOptions][] = [
    ['', { level: 'linearizable', waitMs: 1000 }],
    ['?consistency=lease', { level: 'lease', waitMs: 1000 }],
    ['?consistency=linearizable&min_index=0&wait_ms=0', { level: 'linearizable', waitMs: 0, minIndex: 0 }],
    ['?consistency=stale&max_staleness_ms=250&wait_ms=60000', { level: 'stale', waitMs: 60000, maxStalenessMs: 250 }],
    ['?consistency=stale&on_stale=forward', { level: 'stale', waitMs: 1000 }],
  ];
  for (const [query, expected] of cases) {
    const response = await app.inject({ method: 'GET', url: `/v1/items/apple${query}` });
    t.equal(response.statusCode, 404, `${query}: served (no such item)`);
    t.same(service.calls.at(-1)?.argument, expected, `${query}: read options`);
  }
});

t.test('min_index: read-your-writes, 503 index_not_reached when not applied', async (t) => {
  const { app } = testApp(t);
  const write = await app.inject({ method: 'POST', url: '/v1/items', payload: { sku: 'apple', on_hand: 1 } });
  const index = write.json<{ index: number }>().index;
  const fresh = await app.inject({ method: 'GET', url: `/v1/items/apple?min_index=${index}` });
  t.equal(fresh.statusCode, 200);
  t.equal(fresh.headers['x-raft-index'], String(index));
  const ahead = await app.inject({ method: 'GET', url: `/v1/items/apple?min_index=${index + 5}` });
  checkError(t, ahead, { status: 503, code: 'index_not_reached', retryAfter: '1', details: { min_index: index + 5, applied_index: index } }, 'ahead');
});

t.test('stale reads send X-Staleness-Ms and X-Raft-Lag-Entries; others do not', async (t) => {
  const { app, service } = testApp(t);
  await app.inject({ method: 'POST', url: '/v1/items', payload: { sku: 'apple', on_hand: 1 } });
  service.stale = { stalenessMs: 42, lagEntries: 3 };
  const stale = await app.inject({ method: 'GET', url: '/v1/items/apple?consistency=stale&max_staleness_ms=100' });
  t.equal(stale.statusCode, 200);
  t.equal(stale.headers['x-staleness-ms'], '42');
  t.equal(stale.headers['x-raft-lag-entries'], '3');
  service.stale = { stalenessMs: undefined, lagEntries: 0 };
  const unproven = await app.inject({ method: 'GET', url: '/v1/items/apple?consistency=stale' });
  t.equal(unproven.headers['x-staleness-ms'], undefined, 'nothing proven: no X-Staleness-Ms');
  t.equal(unproven.headers['x-raft-lag-entries'], '0');
  const linearizable = await app.inject({ method: 'GET', url: '/v1/items/apple' });
  t.equal(linearizable.headers['x-staleness-ms'], undefined);
  t.equal(linearizable.headers['x-raft-lag-entries'], undefined);

  service.stale = { stalenessMs: 500, lagEntries: 9 };
  const exceeded = await app.inject({ method: 'GET', url: '/v1/items/apple?consistency=stale&max_staleness_ms=100' });
  checkError(t, exceeded, { status: 503, code: 'staleness_bound_exceeded', retryAfter: '1', details: { proven_staleness_ms: 500 } }, 'bound exceeded');
  service.leaderId = '';
  const noLeader = await app.inject({ method: 'GET', url: '/v1/items/apple?consistency=stale&max_staleness_ms=100&on_stale=forward' });
  checkError(t, noLeader, { status: 503, code: 'no_leader', retryAfter: '1' }, 'forward with no leader known');
});
