// Bad input of every kind is answered with the right 4xx and the contract's
// error body, 400s list each bad field path, and nothing reaches the node: the
// state machine's applied index does not move and no write was proposed.

import t from 'tap';
import { MAX_BATCH_ITEMS } from '../../src/ledger/index.js';
import { errorOf, issuePaths, json, RAFT_HEADERS, testApp } from './helpers.js';

interface BadRequest {
  readonly name: string;
  readonly method?: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  readonly headers?: Record<string, string>;
  readonly payload?: unknown;
  readonly status: number;
  readonly code: string;
  /** Paths expected in details.issues (400 validation only). */
  readonly paths?: readonly string[];
  /** Issue codes expected in details.issues, in order. */
  readonly issueCodes?: readonly string[];
}

const transfer = (id: string, amount: unknown) => ({ id, debit_account_id: 'a', credit_account_id: 'b', amount, ledger: 'USD' });
const longId = 'x'.repeat(129);

const cases: BadRequest[] = [
  { name: 'malformed JSON', url: '/v1/accounts', headers: json, payload: '{"id": "a",', status: 400, code: 'malformed_json' },
  { name: 'a top-level __proto__ is an unknown field like any other', url: '/v1/accounts', headers: json, payload: '{"id": "a", "ledger": "USD", "__proto__": {"x": 1}}', status: 400, code: 'invalid_body', paths: ['__proto__'], issueCodes: ['unknown_field'] },
  { name: 'text/plain body', url: '/v1/accounts', headers: { 'content-type': 'text/plain' }, payload: '{"id":"a","ledger":"USD"}', status: 415, code: 'unsupported_media_type' },
  { name: 'form body', url: '/v1/transfers', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'id=a', status: 415, code: 'unsupported_media_type' },
  { name: 'content type that only starts like JSON', url: '/v1/accounts', headers: { 'content-type': 'application/jsonx' }, payload: '{"id":"a","ledger":"USD"}', status: 415, code: 'unsupported_media_type' },
  { name: 'body without a content type', url: '/v1/items', headers: { 'content-length': '2' }, payload: '{}', status: 415, code: 'unsupported_media_type' },
  { name: 'JSON null body', url: '/v1/accounts', headers: json, payload: 'null', status: 400, code: 'invalid_body', paths: [''] },
  { name: 'path not validly percent-encoded', method: 'GET', url: '/v1/accounts/%E0%A4%A', status: 400, code: 'invalid_path' },
  { name: 'empty body', url: '/v1/accounts', headers: json, payload: '', status: 400, code: 'invalid_body', paths: [''] },
  { name: 'JSON array body', url: '/v1/accounts', headers: json, payload: '[{"id": "a", "ledger": "USD"}]', status: 400, code: 'invalid_body', paths: [''] },
  { name: 'JSON string body', url: '/v1/items', headers: json, payload: '"apple"', status: 400, code: 'invalid_body', paths: [''] },
  { name: 'unknown field', url: '/v1/accounts', payload: { id: 'a', ledger: 'USD', colour: 'red' }, status: 400, code: 'invalid_body', paths: ['colour'], issueCodes: ['unknown_field'] },
  { name: 'unknown field in a batch item', url: '/v1/accounts', payload: { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD', owner: 'x' }] }, status: 400, code: 'invalid_body', paths: ['accounts.1.owner'] },
  { name: 'unknown top-level field next to a batch', url: '/v1/transfers', payload: { transfers: [transfer('t', 1)], dry_run: true }, status: 400, code: 'invalid_body', paths: ['dry_run'] },
  { name: 'wrong types', url: '/v1/accounts', payload: { id: 7, ledger: ['USD'], code: 'x', flags: { debits_must_not_exceed_credits: 'yes' } }, status: 400, code: 'invalid_body', paths: ['id', 'ledger', 'code', 'flags.debits_must_not_exceed_credits'] },
  { name: 'id out of pattern', url: '/v1/accounts', payload: { id: 'a b', ledger: 'USD' }, status: 400, code: 'invalid_body', paths: ['id'] },
  { name: 'id too long', url: '/v1/accounts', payload: { id: longId, ledger: 'USD' }, status: 400, code: 'invalid_body', paths: ['id'] },
  { name: 'empty id', url: '/v1/items', payload: { sku: '', on_hand: 1 }, status: 400, code: 'invalid_body', paths: ['sku'] },
  {
    name: 'bad amount deep in a batch', url: '/v1/transfers',
    payload: { transfers: [transfer('t0', 1), transfer('t1', 2), transfer('t2', 3), transfer('t3', 'ten')] },
    status: 400, code: 'invalid_body', paths: ['transfers.3.amount'],
  },
  { name: 'amount above 2^63-1 as a string', url: '/v1/transfers', payload: transfer('t', '9223372036854775808'), status: 400, code: 'invalid_body', paths: ['amount'], issueCodes: ['overflow'] },
  { name: 'amount of 20 digits', url: '/v1/transfers', payload: transfer('t', '99999999999999999999'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'amount above 2^53-1 as a number', url: '/v1/transfers', headers: json, payload: '{"id":"t","debit_account_id":"a","credit_account_id":"b","amount":9007199254740993,"ledger":"USD"}', status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'negative amount', url: '/v1/transfers', payload: transfer('t', -1), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'fractional amount', url: '/v1/transfers', payload: transfer('t', 1.5), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'signed amount string', url: '/v1/transfers', payload: transfer('t', '-5'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'transfer missing fields', url: '/v1/transfers', payload: { id: 't' }, status: 400, code: 'invalid_body', paths: ['debit_account_id', 'credit_account_id', 'amount', 'ledger'] },
  { name: 'empty batch', url: '/v1/transfers', payload: { transfers: [] }, status: 400, code: 'invalid_body', paths: ['transfers'] },
  { name: 'negative on_hand', url: '/v1/items', payload: { items: [{ sku: 'apple', on_hand: -1 }] }, status: 400, code: 'invalid_body', paths: ['items.0.on_hand'] },
  { name: 'on_hand above 2^31-1', url: '/v1/items', payload: { sku: 'apple', on_hand: 2 ** 31 }, status: 400, code: 'invalid_body', paths: ['on_hand'] },
  { name: 'negative qty', url: '/v1/reservations', payload: { id: 'r', lines: [{ sku: 'apple', qty: -2 }], ttl_ms: 1000 }, status: 400, code: 'invalid_body', paths: ['lines.0.qty'] },
  { name: 'reservation without ttl', url: '/v1/reservations', payload: { id: 'r', lines: [{ sku: 'apple', qty: 1 }] }, status: 400, code: 'invalid_body', paths: ['ttl_ms'] },
  { name: 'adjust delta as string', url: '/v1/items/apple/adjust', payload: { id: 'd', delta: '5' }, status: 400, code: 'invalid_body', paths: ['delta'] },
  { name: 'adjust with sku in the body', url: '/v1/items/apple/adjust', payload: { id: 'd', delta: 5, sku: 'pear' }, status: 400, code: 'invalid_body', paths: ['sku'] },
  { name: 'confirm with a body field', url: '/v1/reservations/r/confirm', payload: { force: true }, status: 400, code: 'invalid_body', paths: ['force'] },
  { name: 'path id out of pattern', url: '/v1/reservations/a%20b/confirm', status: 400, code: 'invalid_path', paths: ['id'] },
  { name: 'path sku too long', url: `/v1/items/${longId}/adjust`, payload: { id: 'd', delta: 1 }, status: 400, code: 'invalid_path', paths: ['sku'] },
  { name: 'unknown write query parameter', url: '/v1/accounts?dry_run=true', payload: { id: 'a', ledger: 'USD' }, status: 400, code: 'invalid_query', paths: ['dry_run'] },
  { name: 'redirect not a boolean', url: '/v1/accounts?redirect=yes', payload: { id: 'a', ledger: 'USD' }, status: 400, code: 'invalid_query', paths: ['redirect'] },
  { name: 'member with a bad url', url: '/v1/cluster/members', payload: { id: 'n4', url: 'ftp://x' }, status: 400, code: 'invalid_body', paths: ['url'] },
  { name: 'member with voter as string', url: '/v1/cluster/members', payload: { id: 'n4', url: 'http://127.0.0.1:7004', voter: 'true' }, status: 400, code: 'invalid_body', paths: ['voter'] },
  { name: 'leadership to a bad id', url: '/v1/cluster/leadership', payload: { to: 'n 2' }, status: 400, code: 'invalid_body', paths: ['to'] },
  { name: 'remove member with a bad id', method: 'DELETE', url: `/v1/cluster/members/${longId}`, status: 400, code: 'invalid_path', paths: ['id'] },
  // reads
  { name: 'path id too long', method: 'GET', url: `/v1/accounts/${longId}`, status: 400, code: 'invalid_path', paths: ['id'] },
  { name: 'unknown consistency', method: 'GET', url: '/v1/accounts/a?consistency=eventual', status: 400, code: 'invalid_query', paths: ['consistency'] },
  { name: 'wait_ms above the bound', method: 'GET', url: '/v1/accounts/a?wait_ms=60001', status: 400, code: 'invalid_query', paths: ['wait_ms'] },
  { name: 'negative min_index', method: 'GET', url: '/v1/items/a?min_index=-1', status: 400, code: 'invalid_query', paths: ['min_index'] },
  { name: 'max_staleness_ms without stale', method: 'GET', url: '/v1/accounts/a?max_staleness_ms=100', status: 400, code: 'invalid_query', paths: ['max_staleness_ms'] },
  { name: 'on_stale without stale', method: 'GET', url: '/v1/transfers/t?on_stale=forward', status: 400, code: 'invalid_query', paths: ['on_stale'] },
  { name: 'repeated parameter', method: 'GET', url: '/v1/accounts/a?consistency=stale&consistency=lease', status: 400, code: 'invalid_query', paths: ['consistency'] },
  { name: 'unknown read parameter', method: 'GET', url: '/v1/reservations/r?fields=id', status: 400, code: 'invalid_query', paths: ['fields'] },
  { name: 'limit 0', method: 'GET', url: '/v1/accounts/a/transfers?limit=0', status: 400, code: 'invalid_query', paths: ['limit'] },
  { name: 'limit 1001', method: 'GET', url: '/v1/accounts/a/transfers?limit=1001', status: 400, code: 'invalid_query', paths: ['limit'] },
  { name: 'after not a number', method: 'GET', url: '/v1/accounts/a/transfers?after=x', status: 400, code: 'invalid_query', paths: ['after'] },
  { name: 'ids missing', method: 'GET', url: '/v1/accounts', status: 400, code: 'invalid_query', paths: ['ids'] },
  { name: 'ids with a bad one', method: 'GET', url: '/v1/accounts?ids=a,,c', status: 400, code: 'invalid_query', paths: ['ids.1'] },
  { name: 'ids above the bound', method: 'GET', url: `/v1/accounts?ids=${Array.from({ length: 1001 }, (_, i) => `a${i}`).join(',')}`, status: 400, code: 'invalid_query', paths: ['ids'] },
];

t.test('bad input: the right 4xx, the error body, the paths, and nothing applied', async (t) => {
  const { app, service } = testApp(t);
  await app.inject({ method: 'POST', url: '/v1/accounts', payload: { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] } });
  const appliedBefore = service.machine.appliedIndex();
  const writesBefore = service.calls.filter((call) => call.method !== 'read').length;
  for (const bad of cases) {
    const response = await app.inject({
      method: bad.method ?? 'POST',
      url: bad.url,
      ...(bad.headers === undefined ? {} : { headers: bad.headers }),
      ...(bad.payload === undefined ? {} : { payload: bad.payload as string }),
    });
    t.equal(response.statusCode, bad.status, `${bad.name}: status`);
    const error = errorOf(response);
    t.equal(error.code, bad.code, `${bad.name}: code`);
    t.type(error.message, 'string');
    t.ok(error.message.length > 10, `${bad.name}: a message that says what to fix`);
    t.same(Object.keys(response.json<object>()), ['error'], `${bad.name}: only the error body`);
    for (const header of RAFT_HEADERS) t.ok(response.headers[header] !== undefined, `${bad.name}: ${header}`);
    if (bad.paths !== undefined) t.same(issuePaths(response), bad.paths, `${bad.name}: issue paths`);
    if (bad.issueCodes !== undefined) {
      const codes = (error.details?.['issues'] as { code: string }[]).map((issue) => issue.code);
      t.same(codes, bad.issueCodes, `${bad.name}: issue codes`);
    }
  }
  t.equal(service.machine.appliedIndex(), appliedBefore, 'no bad request applied anything');
  t.equal(service.calls.filter((call) => call.method !== 'read').length, writesBefore, 'no bad request reached the node');
});

t.test('the first bad field names itself in the message', async (t) => {
  const { app } = testApp(t);
  const response = await app.inject({ method: 'POST', url: '/v1/transfers', payload: { transfers: [transfer('t0', 1), transfer('t1', 'ten'), transfer('t2', -1)] } });
  t.match(errorOf(response).message, /^transfers\.1\.amount: .*\(1 more in details.issues\)/);
  t.equal(errorOf(response).details?.['issue_count'], 2);
});

t.test('body limit: 413 with the error body; a full batch of 8190 fits the default', async (t) => {
  const small = testApp(t, { bodyLimitBytes: 1024 });
  const big = { accounts: Array.from({ length: 40 }, (_, i) => ({ id: `account-${i}`, ledger: 'USD' })) };
  const tooLarge = await small.app.inject({ method: 'POST', url: '/v1/accounts', payload: big });
  t.equal(tooLarge.statusCode, 413);
  t.equal(errorOf(tooLarge).code, 'body_too_large');
  t.equal(errorOf(tooLarge).details?.['limit_bytes'], 1024);
  t.equal(small.service.machine.appliedIndex(), 0);

  const { app, service } = testApp(t);
  const id = (prefix: string, i: number) => `${prefix}-${String(i).padStart(120, '0')}`;
  await app.inject({ method: 'POST', url: '/v1/accounts', payload: { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] } });
  const transfers = Array.from({ length: MAX_BATCH_ITEMS }, (_, i) => ({ ...transfer(id('t', i), '9223372036854'), code: 1 }));
  const payload = JSON.stringify({ transfers });
  t.ok(payload.length > 1024 * 1024, 'the batch is larger than fastify default limit of 1 MiB');
  const full = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload });
  t.equal(full.statusCode, 200);
  t.equal(full.json<{ results: unknown[] }>().results.length, MAX_BATCH_ITEMS);
  t.equal(service.machine.appliedIndex(), 2);

  const oneMore = JSON.stringify({ transfers: [...transfers, transfer('extra', 1)] });
  const tooMany = await app.inject({ method: 'POST', url: '/v1/transfers', headers: json, payload: oneMore });
  t.equal(tooMany.statusCode, 400);
  t.same(issuePaths(tooMany), ['transfers']);
  t.equal(service.machine.appliedIndex(), 2, 'an oversized batch applied nothing');
});
