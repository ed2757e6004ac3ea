// Request schemas (what the HTTP layer validates) and the entry codec.

import t from 'tap';
import {
  accountsRequestSchema, decodeEntry, encodeEntry, itemsRequestSchema, jsonText, LedgerStateMachine, reservationRequestSchema,
  transfersRequestSchema, MAX_ENTRY_TIME_MS, MAX_HOLD_MS, MAX_METADATA_DEPTH, type Command,
} from '../../src/ledger/index.js';

const transfer = { id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: 10, ledger: 'USD' };

t.test('single and batch forms normalize to an array', (t) => {
  t.same(transfersRequestSchema.parse(transfer), [{ ...transfer, amount: 10n }]);
  t.same(transfersRequestSchema.parse({ transfers: [transfer, { ...transfer, id: 't2' }] }).length, 2);
  t.same(accountsRequestSchema.parse({ id: 'a', ledger: 'USD' }), [{ id: 'a', ledger: 'USD' }]);
  t.same(itemsRequestSchema.parse({ items: [{ sku: 's', on_hand: 3 }] }), [{ sku: 's', on_hand: 3 }]);
  t.end();
});

t.test('amounts: JSON integers up to 2^53-1, digit strings up to 2^63-1, never floats', (t) => {
  const amount = (value: unknown) => transfersRequestSchema.safeParse({ ...transfer, amount: value });
  t.equal(amount('9223372036854775807').data?.[0]?.amount, 2n ** 63n - 1n);
  t.equal(amount(Number.MAX_SAFE_INTEGER).data?.[0]?.amount, BigInt(Number.MAX_SAFE_INTEGER));
  t.equal(amount('0').data?.[0]?.amount, 0n, 'zero parses (the state machine refuses it with amount_must_be_positive)');
  t.equal(amount('10000000000000000000').error?.issues[0]?.message, 'overflow: amount must be <= 2^63-1', 'a 20-digit amount is an overflow');
  const badAmounts = ['9223372036854775808', Number.MAX_SAFE_INTEGER + 1, 1.5, -1, '-1', '1e3', ' 1', '1 ', '+1', '1.0', '0x10', '', '007', '00000000000000000001', '1'.repeat(41)];
  for (const bad of badAmounts) {
    t.notOk(amount(bad).success, `refuses ${String(bad)}`);
  }
  t.end();
});

t.test('each bad field is reported with its path, in the form the client sent', (t) => {
  const single = transfersRequestSchema.safeParse({ id: 'bad id!', amount: 1.5, debit_account_id: 'a', credit_account_id: 'b', ledger: 'USD', extra: 1 });
  t.same(single.error?.issues.map((issue) => issue.path.join('.')).sort(), ['', 'amount', 'id']);
  const batch = transfersRequestSchema.safeParse({ transfers: [transfer, { ...transfer, id: '' }] });
  t.same([...new Set(batch.error?.issues.map((issue) => issue.path.join('.')))], ['transfers.1.id']);
  t.notOk(transfersRequestSchema.safeParse({ transfers: [] }).success, 'an empty batch is refused');
  t.notOk(transfersRequestSchema.safeParse({ transfers: Array.from({ length: 8191 }, (_, n) => ({ ...transfer, id: `t${n}` })) }).success);
  const missing = transfersRequestSchema.safeParse({ id: 'x' });
  t.same(missing.error?.issues.map((issue) => issue.path.join('.')), ['debit_account_id', 'credit_account_id', 'amount', 'ledger']);
  t.ok(transfersRequestSchema.safeParse({ id: 'x', post_pending_id: 'p' }).success, 'post needs only the pending id');
  t.notOk(transfersRequestSchema.safeParse({ ...transfer, timeout_ms: 5 }).success, 'timeout_ms needs pending');
  t.notOk(accountsRequestSchema.safeParse({ id: 'a', ledger: 'USD', metadata: { blob: 'x'.repeat(5000) } }).success, 'metadata over 4 KiB');
  t.notOk(reservationRequestSchema.safeParse({ id: 'r', lines: [{ sku: 's', qty: 2 ** 31 }], ttl_ms: 5 }).success, 'quantity over 2^31-1');
  t.end();
});

t.test('entries round-trip through bytes with exact amounts', (t) => {
  const command: Command = { type: 'create_transfers', transfers: [{ ...transfer, amount: 2n ** 63n - 1n, metadata: { note: 'x' } }] };
  const decoded = decodeEntry(encodeEntry({ timeMs: 1234, command }));
  t.same(decoded, { kind: 'command', timeMs: 1234, command });
  t.same(decodeEntry(new Uint8Array(0)), { kind: 'empty' });
  t.end();
});

t.test('entry_invalid: corrupt, unknown-version or invalid entries give the same result on every replica', (t) => {
  const machine = LedgerStateMachine.open(':memory:');
  const bad = [
    new Uint8Array([0xff, 0xfe]),
    new TextEncoder().encode('{"v":99,"time_ms":5,"command":{}}'),
    new TextEncoder().encode('{"v":1,"time_ms":5,"command":{"type":"create_accounts","accounts":[]}}'),
  ];
  bad.forEach((bytes, position) => {
    const outcome = machine.applyEntry(position + 1, bytes);
    t.equal(outcome.result.type, 'entry_invalid');
    t.match(outcome.result, { code: 'entry_invalid' });
  });
  t.equal(machine.appliedIndex(), 3, 'invalid entries still take their index');
  t.ok(machine.verifyChain().ok);
  machine.close();
  t.end();
});

t.test('amounts render as decimal strings', (t) => {
  t.equal(jsonText({ amount: 2n ** 63n - 1n, nested: [{ x: 1n }], n: 3, gone: undefined }), '{"amount":"9223372036854775807","nested":[{"x":"1"}],"n":3}');
  t.end();
});

t.test('metadata nested deeper than the limit is refused with an issue, never a stack overflow', (t) => {
  const nested = (depth: number) => JSON.parse(`{"k":${'['.repeat(depth)}${']'.repeat(depth)}}`) as unknown;
  const account = (metadata: unknown) => accountsRequestSchema.safeParse({ id: 'a', ledger: 'USD', metadata });
  t.ok(account(nested(MAX_METADATA_DEPTH)).success, `${MAX_METADATA_DEPTH} levels are accepted`);
  // 2000 levels fit in 4 KiB; they used to overflow zod's recursive JSON check.
  for (const depth of [MAX_METADATA_DEPTH + 1, 2_000, 100_000]) {
    const parsed = account(nested(depth));
    t.notOk(parsed.success, `${depth} levels are refused`);
    t.equal(parsed.error?.issues[0]?.path[0], 'metadata', 'the issue names the field');
  }
  const bytes = new TextEncoder().encode(
    `{"v":1,"time_ms":5,"command":{"type":"create_accounts","accounts":[{"id":"a","ledger":"USD","metadata":{"k":${'['.repeat(100_000)}${']'.repeat(100_000)}}}]}}`,
  );
  t.equal(decodeEntry(bytes).kind, 'invalid', 'a replica decoding such an entry gets entry_invalid instead of crashing');
  t.end();
});

t.test('metadata: JSON values only, size in UTF-8 bytes, "__proto__" kept as an ordinary own key', (t) => {
  const account = (metadata: unknown) => accountsRequestSchema.safeParse({ id: 'a', ledger: 'USD', metadata });
  const proto = account(JSON.parse('{"__proto__":{"x":1},"constructor":{"prototype":2},"a":1}')).data?.[0]?.metadata;
  t.equal(JSON.stringify(proto), '{"__proto__":{"x":1},"constructor":{"prototype":2},"a":1}', 'kept, in order, as data');
  t.equal(Object.getPrototypeOf(proto), Object.prototype, 'the prototype is untouched');
  t.notOk(account({ a: Number.POSITIVE_INFINITY }).success);
  t.notOk(account([1]).success, 'an array is not an object');
  t.ok(account({ s: 'é'.repeat(2000) }).success, '4007 bytes');
  t.notOk(account({ s: 'é'.repeat(2100) }).success, '4207 bytes');
  t.notOk(account({ a: Array.from({ length: 5000 }, () => 0) }).success, 'too many values');
  t.same(account({ b: [1, { c: null }], a: 'x' }).data?.[0]?.metadata, { b: [1, { c: null }], a: 'x' });
  t.end();
});

t.test('entry time is bounded so every deadline is an exact integer', (t) => {
  const machine = LedgerStateMachine.open(':memory:');
  const accounts: Command = { type: 'create_accounts', accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] };
  t.equal(machine.applyEntry(1, encodeEntry({ timeMs: Number.MAX_SAFE_INTEGER, command: accounts })).result.type, 'entry_invalid');
  machine.applyEntry(2, encodeEntry({ timeMs: MAX_ENTRY_TIME_MS, command: accounts }));
  const hold: Command = {
    type: 'create_transfers',
    transfers: [{ id: 'p', debit_account_id: 'a', credit_account_id: 'b', amount: 1n, ledger: 'USD', pending: true, timeout_ms: MAX_HOLD_MS }],
  };
  machine.applyEntry(3, encodeEntry({ timeMs: MAX_ENTRY_TIME_MS, command: hold }));
  t.equal(machine.queries.transfer('p')?.expires_at, Number.MAX_SAFE_INTEGER);
  t.equal(machine.nextDeadlineMs(), Number.MAX_SAFE_INTEGER);
  machine.close();
  t.end();
});
