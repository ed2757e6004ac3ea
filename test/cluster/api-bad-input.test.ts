// Real processes: bad input of every kind, sent to the leader and to a
// follower of a 3-node cluster, is answered with the right 4xx, the contract's
// error body ({"error": {code, message, details}}, details.issues naming each
// bad field path for validation 400s) and the Raft headers, and nothing is
// applied: the cluster's commit index on the leader does not move.

import t, { type Test } from 'tap';
import { call, callRaw, describeAnswer, ProcessCluster, RAFT_HEADERS, type Answer, type NodeProcess } from './harness.js';
import { clusterStatusOf } from '../support/api-json.js';

interface BadRequest {
  readonly name: string;
  readonly method?: 'GET' | 'POST';
  readonly path: string;
  /** JSON-encoded unless `raw` is given; sent as application/json unless `headers` say otherwise. */
  readonly body?: unknown;
  readonly raw?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly status: number;
  readonly code: string;
  /** Paths that details.issues must name (validation 400s). */
  readonly paths?: readonly string[];
  /** An issue code that must be among details.issues. */
  readonly issueCode?: string;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024; // ledgerd's default --body-limit
const longId = 'x'.repeat(129);
const transfer = (amount: unknown, fields: Record<string, unknown> = {}) => ({ id: 'bad.t', debit_account_id: 'a', credit_account_id: 'b', amount, ledger: 'USD', ...fields });
const rawTransfer = (amountText: string) => `{"id":"bad.t","debit_account_id":"a","credit_account_id":"b","amount":${amountText},"ledger":"USD"}`;
const hold = (lines: unknown, ttl: unknown = 1000) => ({ id: 'bad.r', lines, ttl_ms: ttl });

const cases: BadRequest[] = [
  // bodies that are not the JSON asked for
  { name: 'malformed JSON', path: '/v1/transfers', raw: '{"id": "bad.t", "amount": ', status: 400, code: 'malformed_json' },
  { name: 'trailing garbage after JSON', path: '/v1/accounts', raw: '{"id":"bad.a","ledger":"USD"} x', status: 400, code: 'malformed_json' },
  { name: 'a top-level __proto__ is an unknown field', path: '/v1/accounts', raw: '{"id":"bad.a","ledger":"USD","__proto__":{"admin":true}}', status: 400, code: 'invalid_body', paths: ['__proto__'], issueCode: 'unknown_field' },
  { name: 'an amount JSON.parse would round to 3', path: '/v1/transfers', raw: rawTransfer('2.9999999999999999'), status: 400, code: 'invalid_body', paths: ['amount'], issueCode: 'not_an_integer' },
  { name: 'an amount given twice', path: '/v1/transfers', raw: rawTransfer('5').replace('"ledger"', '"amount":500,"ledger"'), status: 400, code: 'invalid_body', paths: ['amount'], issueCode: 'duplicate_key' },
  { name: 'text/plain content type', path: '/v1/accounts', raw: '{"id":"bad.a","ledger":"USD"}', headers: { 'content-type': 'text/plain' }, status: 415, code: 'unsupported_media_type' },
  { name: 'form content type', path: '/v1/transfers', raw: 'id=bad.t&amount=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported_media_type' },
  { name: 'no content type', path: '/v1/items', raw: '{"sku":"bad.s","on_hand":1}', headers: {}, status: 415, code: 'unsupported_media_type' },
  { name: 'empty body where one is required', path: '/v1/accounts', raw: '', status: 400, code: 'invalid_body', paths: [''] },
  { name: 'JSON array body', path: '/v1/transfers', raw: '[]', status: 400, code: 'invalid_body', paths: [''] },
  { name: 'huge body', path: '/v1/accounts', raw: Buffer.alloc(MAX_BODY_BYTES + 1024, 0x20), status: 413, code: 'body_too_large' },
  // fields
  { name: 'unknown field', path: '/v1/accounts', body: { id: 'bad.a', ledger: 'USD', owner: 'eve' }, status: 400, code: 'invalid_body', paths: ['owner'], issueCode: 'unknown_field' },
  { name: 'unknown field in a batch item', path: '/v1/transfers', body: { transfers: [transfer(1), transfer(1, { id: 'bad.t2', priority: 'high' })] }, status: 400, code: 'invalid_body', paths: ['transfers.1.priority'], issueCode: 'unknown_field' },
  { name: 'unknown top-level field next to a batch', path: '/v1/items', body: { items: [{ sku: 'bad.s', on_hand: 1 }], dry_run: true }, status: 400, code: 'invalid_body', paths: ['dry_run'] },
  { name: 'wrong types', path: '/v1/accounts', body: { id: 7, ledger: ['USD'], code: 'x', flags: { debits_must_not_exceed_credits: 'yes' } }, status: 400, code: 'invalid_body', paths: ['id', 'ledger', 'code', 'flags.debits_must_not_exceed_credits'] },
  { name: 'transfer flags of the wrong type', path: '/v1/transfers', body: transfer(1, { pending: 'true', linked: 1, timeout_ms: '5' }), status: 400, code: 'invalid_body', paths: ['linked', 'pending', 'timeout_ms'] },
  { name: 'missing required fields', path: '/v1/transfers', body: { id: 'bad.t' }, status: 400, code: 'invalid_body', paths: ['debit_account_id', 'credit_account_id', 'amount', 'ledger'] },
  { name: 'empty batch', path: '/v1/accounts', body: { accounts: [] }, status: 400, code: 'invalid_body', paths: ['accounts'] },
  { name: 'batch of 8191', path: '/v1/accounts', body: { accounts: Array.from({ length: 8191 }, (_, i) => ({ id: `bad.${i}`, ledger: 'USD' })) }, status: 400, code: 'invalid_body', paths: ['accounts'] },
  { name: 'metadata over 4 KiB', path: '/v1/accounts', body: { id: 'bad.a', ledger: 'USD', metadata: { blob: 'm'.repeat(5000) } }, status: 400, code: 'invalid_body', paths: ['metadata'] },
  // ids out of pattern
  { name: 'id too long', path: '/v1/accounts', body: { id: longId, ledger: 'USD' }, status: 400, code: 'invalid_body', paths: ['id'] },
  { name: 'id with a space', path: '/v1/transfers', body: transfer(1, { id: 'bad t' }), status: 400, code: 'invalid_body', paths: ['id'] },
  { name: 'id with a slash', path: '/v1/items', body: { sku: 'a/b', on_hand: 1 }, status: 400, code: 'invalid_body', paths: ['sku'] },
  { name: 'id not ASCII', path: '/v1/accounts', body: { id: 'café', ledger: 'USD' }, status: 400, code: 'invalid_body', paths: ['id'] },
  { name: 'empty id', path: '/v1/accounts', body: { id: '', ledger: 'USD' }, status: 400, code: 'invalid_body', paths: ['id'] },
  { name: 'account reference out of pattern', path: '/v1/transfers', body: transfer(1, { debit_account_id: 'a;drop', post_pending_id: longId }), status: 400, code: 'invalid_body', paths: ['debit_account_id', 'post_pending_id'] },
  { name: 'path id with a space', path: '/v1/reservations/bad%20r/confirm', status: 400, code: 'invalid_path', paths: ['id'] },
  { name: 'path sku too long', path: `/v1/items/${longId}/adjust`, body: { id: 'bad.d', delta: 1 }, status: 400, code: 'invalid_path', paths: ['sku'] },
  { name: 'GET path id too long', method: 'GET', path: `/v1/accounts/${longId}`, status: 400, code: 'invalid_path', paths: ['id'] },
  { name: 'GET path id with bad characters', method: 'GET', path: '/v1/transfers/a%2Bb%24', status: 400, code: 'invalid_path', paths: ['id'] },
  // amounts out of range
  { name: 'amount above 2^53-1 as a JSON number', path: '/v1/transfers', raw: rawTransfer('9007199254740993'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'amount 2^53 as a JSON number', path: '/v1/transfers', raw: rawTransfer('9007199254740992'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'amount above 2^63-1 as a string', path: '/v1/transfers', body: transfer('9223372036854775808'), status: 400, code: 'invalid_body', paths: ['amount'], issueCode: 'overflow' },
  { name: 'amount of 25 digits', path: '/v1/transfers', body: transfer('1234567890123456789012345'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'negative amount', path: '/v1/transfers', body: transfer(-1), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'negative amount string', path: '/v1/transfers', body: transfer('-5'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'fractional amount', path: '/v1/transfers', body: transfer(1.5), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'fractional amount string', path: '/v1/transfers', body: transfer('1.5'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'amount "1e3"', path: '/v1/transfers', body: transfer('1e3'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'amount 1e400 as a JSON number', path: '/v1/transfers', raw: rawTransfer('1e400'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'amount with leading zeros', path: '/v1/transfers', body: transfer('007'), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'amount as a boolean', path: '/v1/transfers', body: transfer(true), status: 400, code: 'invalid_body', paths: ['amount'] },
  { name: 'bad amount deep in a batch', path: '/v1/transfers', body: { transfers: [transfer(1), transfer(2, { id: 'bad.t2' }), transfer(' 3', { id: 'bad.t3' })] }, status: 400, code: 'invalid_body', paths: ['transfers.2.amount'] },
  // quantities out of range
  { name: 'on_hand above 2^31-1', path: '/v1/items', body: { sku: 'bad.s', on_hand: 2 ** 31 }, status: 400, code: 'invalid_body', paths: ['on_hand'] },
  { name: 'negative on_hand', path: '/v1/items', body: { items: [{ sku: 'bad.s', on_hand: -1 }] }, status: 400, code: 'invalid_body', paths: ['items.0.on_hand'] },
  { name: 'fractional on_hand', path: '/v1/items', body: { sku: 'bad.s', on_hand: 0.5 }, status: 400, code: 'invalid_body', paths: ['on_hand'] },
  { name: 'on_hand as a string', path: '/v1/items', body: { sku: 'bad.s', on_hand: '5' }, status: 400, code: 'invalid_body', paths: ['on_hand'] },
  { name: 'qty above 2^31-1', path: '/v1/reservations', body: hold([{ sku: 'bad.s', qty: 2 ** 31 }]), status: 400, code: 'invalid_body', paths: ['lines.0.qty'] },
  { name: 'negative qty', path: '/v1/reservations', body: hold([{ sku: 'bad.s', qty: 1 }, { sku: 'bad.s2', qty: -2 }]), status: 400, code: 'invalid_body', paths: ['lines.1.qty'] },
  { name: 'no lines', path: '/v1/reservations', body: hold([]), status: 400, code: 'invalid_body', paths: ['lines'] },
  { name: 'negative ttl', path: '/v1/reservations', body: hold([{ sku: 'bad.s', qty: 1 }], -1), status: 400, code: 'invalid_body', paths: ['ttl_ms'] },
  { name: 'adjust delta above 2^31-1', path: '/v1/items/bad.s/adjust', body: { id: 'bad.d', delta: 2 ** 31 }, status: 400, code: 'invalid_body', paths: ['delta'] },
  { name: 'adjust delta fractional', path: '/v1/items/bad.s/adjust', body: { id: 'bad.d', delta: -0.5 }, status: 400, code: 'invalid_body', paths: ['delta'] },
  { name: 'confirm with a body field', path: '/v1/reservations/bad.r/confirm', body: { force: true }, status: 400, code: 'invalid_body', paths: ['force'] },
  // query parameters
  { name: 'unknown write query parameter', path: '/v1/accounts?dry_run=true', body: { id: 'bad.a', ledger: 'USD' }, status: 400, code: 'invalid_query', paths: ['dry_run'] },
  { name: 'redirect not a boolean', path: '/v1/transfers?redirect=yes', body: transfer(1), status: 400, code: 'invalid_query', paths: ['redirect'] },
  { name: 'consistency=bogus', method: 'GET', path: '/v1/accounts/a?consistency=bogus', status: 400, code: 'invalid_query', paths: ['consistency'] },
  { name: 'limit=0', method: 'GET', path: '/v1/accounts/a/transfers?limit=0', status: 400, code: 'invalid_query', paths: ['limit'] },
  { name: 'limit=1001', method: 'GET', path: '/v1/accounts/a/transfers?limit=1001', status: 400, code: 'invalid_query', paths: ['limit'] },
  { name: 'after=-1', method: 'GET', path: '/v1/accounts/a/transfers?after=-1', status: 400, code: 'invalid_query', paths: ['after'] },
  { name: 'wait_ms=-1', method: 'GET', path: '/v1/items/bad.s?wait_ms=-1', status: 400, code: 'invalid_query', paths: ['wait_ms'] },
  { name: 'wait_ms not a number', method: 'GET', path: '/v1/items/bad.s?wait_ms=soon', status: 400, code: 'invalid_query', paths: ['wait_ms'] },
  { name: 'min_index fractional', method: 'GET', path: '/v1/transfers/bad.t?min_index=1.5', status: 400, code: 'invalid_query', paths: ['min_index'] },
  { name: 'max_staleness_ms without stale', method: 'GET', path: '/v1/reservations/bad.r?max_staleness_ms=100', status: 400, code: 'invalid_query', paths: ['max_staleness_ms'] },
  { name: 'unknown read parameter', method: 'GET', path: '/v1/accounts/a?fields=balance', status: 400, code: 'invalid_query', paths: ['fields'] },
  { name: 'ids with an empty one', method: 'GET', path: '/v1/accounts?ids=a,,b', status: 400, code: 'invalid_query', paths: ['ids.1'] },
  { name: 'ids missing', method: 'GET', path: '/v1/accounts', status: 400, code: 'invalid_query', paths: ['ids'] },
  { name: 'GET /v1/cluster with a bad consistency', method: 'GET', path: '/v1/cluster?consistency=bogus', status: 400, code: 'invalid_query', paths: ['consistency'] },
  // routes
  { name: 'no such route', path: '/v1/ledgers', body: {}, status: 404, code: 'route_not_found' },
  { name: 'no such method', method: 'GET', path: '/v1/reservations/bad.r/confirm', status: 404, code: 'route_not_found' },
];

const cluster = new ProcessCluster();
let leader: NodeProcess;
let follower: NodeProcess;

t.before(async () => {
  ({ leader, followers: [follower] } = await cluster.startStableTrio());
  const setup = await call(leader.url, 'POST', '/v1/accounts', { accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] });
  if (setup.status !== 200) throw new Error(`setup: ${describeAnswer(setup)}`);
});
t.teardown(() => cluster.close());

async function commitPoint(): Promise<{ commit: number; term: number }> {
  const status = clusterStatusOf(await call(leader.url, 'GET', '/v1/cluster'));
  return { commit: status.commit_index, term: status.term };
}

async function send(_t: Test, node: NodeProcess, bad: BadRequest): Promise<Answer> {
  const headers = bad.headers ?? (bad.raw !== undefined || bad.body !== undefined ? { 'content-type': 'application/json' } : {});
  const body = bad.raw ?? (bad.body === undefined ? undefined : JSON.stringify(bad.body));
  // No retry: an oversized body is read to its end before the 413, so the client never sees EPIPE.
  return callRaw(node.url, bad.method ?? 'POST', bad.path, { headers, ...(body === undefined ? {} : { body }) });
}

/** Error answers whose body has no `details` object, which the contract's error body shows on every error. */
const withoutDetails = new Set<string>();
function noteDetails(answer: Answer): void {
  const details: unknown = answer.body?.error?.details;
  if (typeof details !== 'object' || details === null || Array.isArray(details)) withoutDetails.add(`${answer.status} ${answer.body?.error?.code}`);
}

function checkAnswer(t: Test, bad: BadRequest, answer: Answer, where: string): void {
  const what = `${bad.name} on ${where}`;
  t.equal(answer.status, bad.status, `${what}: ${describeAnswer(answer)}`);
  t.equal(answer.body?.error?.code, bad.code, `${what}: code`);
  t.ok(typeof answer.body?.error?.message === 'string' && answer.body.error.message.length > 10, `${what}: a message that says what is wrong`);
  t.same(Object.keys(answer.body ?? {}), ['error'], `${what}: only the error body`);
  for (const header of RAFT_HEADERS) t.ok(answer.headers[header] !== undefined, `${what}: ${header}`);
  noteDetails(answer);
  if (bad.status === 400 && bad.code.startsWith('invalid_')) {
    const issues = answer.body?.error?.details?.issues as { path: string; code: string; message: string }[] | undefined;
    t.ok(Array.isArray(issues) && issues.length > 0, `${what}: details.issues`);
    t.same([...new Set((issues ?? []).map((issue) => issue.path))], bad.paths ?? [], `${what}: the paths named`);
    if (bad.issueCode !== undefined) t.ok(issues?.some((issue) => issue.code === bad.issueCode), `${what}: issue code ${bad.issueCode}`);
  }
}

for (const role of ['leader', 'follower'] as const) {
  t.test(`bad input sent to the ${role}: the right 4xx, the error body, nothing applied`, async (t) => {
    const node = role === 'leader' ? leader : follower;
    const moved: string[] = [];
    for (const bad of cases) {
      const before = await commitPoint();
      const answer = await send(t, node, bad);
      checkAnswer(t, bad, answer, `${role} ${node.id}`);
      const after = await commitPoint();
      // A new term appends an empty entry of its own: only a move within one term is this request's doing.
      if (after.term === before.term && after.commit !== before.commit) moved.push(`${bad.name}: ${before.commit} -> ${after.commit}`);
      if (after.term !== before.term) t.comment(`term changed during "${bad.name}"; its commit check is skipped`);
    }
    t.same(moved, [], 'the commit index did not move for any bad request');
    for (const path of ['/v1/accounts/bad.a', '/v1/accounts/bad.0', '/v1/transfers/bad.t', '/v1/items/bad.s', '/v1/reservations/bad.r']) {
      t.equal((await call(node.url, 'GET', path)).status, 404, `${path}: not created`);
    }
  });
}

t.test('every error body carries details, as the contract shows it', async (t) => {
  t.same([...withoutDetails].sort(), [], `answered without error.details: ${[...withoutDetails].sort().join(', ')}`);
});
