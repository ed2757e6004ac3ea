// The fast decode path of entry-fast-path.ts may decline, never disagree with
// the zod schema: over generated commands, valid and subtly invalid, every
// answer it gives equals the schema's output (values and key order), and it
// does answer for the common valid shape (else it would be dead weight).

import fc from 'fast-check';
import t from 'tap';
import { fastCommand } from '../../src/ledger/entry-fast-path.js';
import { commandSchemaV1 } from '../../src/ledger/schemas.js';
import { decodeEntry, encodeEntry, type Command } from '../../src/ledger/index.js';

const ordered = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

const validId = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,12}$/);
const anyId = fc.oneof(
  validId,
  fc.constantFrom('', 'a b', 'é', 'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(32), 'x'.repeat(33), 'a\n', '__proto__'),
  fc.integer(),
  fc.constant(null),
);
const anyAmount = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String),
  fc.constantFrom('9223372036854775807', '9223372036854775808', '007', '-1', '1.0', '1e3', ' 1', '', '0', '1'.repeat(41)),
  fc.integer({ min: -5, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 1, Number.MAX_SAFE_INTEGER, 1.5, -0, 0, -1),
  fc.constant(true),
);
const anyCode = fc.oneof(fc.integer({ min: -2, max: 2 ** 31 + 1 }), fc.constantFrom(1.5, '1', null, -1, 2 ** 31 - 1, 2 ** 31));
const anyBool = fc.oneof(fc.boolean(), fc.constantFrom(0, 1, 'true', null));

const transferLike = fc.record(
  {
    id: anyId,
    debit_account_id: anyId,
    credit_account_id: anyId,
    amount: anyAmount,
    ledger: anyId,
    code: anyCode,
    linked: anyBool,
    pending: anyBool,
    timeout_ms: fc.integer({ min: 0, max: 10_000 }),
    post_pending_id: validId,
    void_pending_id: validId,
    metadata: fc.constantFrom({}, { a: 1 }, 'x'),
    extra: fc.constant(1),
  },
  { requiredKeys: [] },
);
/** Mostly valid: the fields the fast path takes, then one field possibly broken or one key added. */
const nearlyValid = fc
  .tuple(
    fc.record({ id: validId, debit_account_id: validId, credit_account_id: validId, amount: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String), ledger: validId }),
    fc.record({ code: fc.integer({ min: 0, max: 2 ** 31 - 1 }), linked: fc.boolean() }, { requiredKeys: [] }),
    fc.option(
      fc.oneof(
        fc.record({ id: anyId }), fc.record({ debit_account_id: anyId }), fc.record({ credit_account_id: anyId }),
        fc.record({ ledger: anyId }), fc.record({ amount: anyAmount }), fc.record({ code: anyCode }), fc.record({ linked: anyBool }),
        transferLike,
      ),
      { freq: 2 },
    ),
  )
  .map(([required, optional, broken]) => ({ ...required, ...optional, ...(broken ?? {}) }));
const commandLike = fc.oneof(
  { weight: 8, arbitrary: fc.array(fc.oneof(nearlyValid, transferLike), { minLength: 0, maxLength: 4 }).map((transfers) => ({ type: 'create_transfers', transfers })) },
  { weight: 1, arbitrary: fc.record({ type: fc.constantFrom('create_transfers', 'create_accounts'), transfers: fc.constant([]), more: fc.constant(1) }, { requiredKeys: ['type'] }) },
  { weight: 1, arbitrary: fc.constantFrom(null, [], 'create_transfers', { type: 'create_transfers', transfers: {} }) },
);

t.test('whenever the fast path answers, the schema gives the same command, key order included', (t) => {
  let answered = 0;
  fc.assert(
    fc.property(commandLike, (generated) => {
      // Entries are JSON: decode sees what JSON.parse makes of the text.
      const input: unknown = JSON.parse(JSON.stringify(generated));
      const fast = fastCommand(input);
      if (fast === undefined) return true;
      answered++;
      const slow = commandSchemaV1.safeParse(input);
      return slow.success && ordered(slow.data) === ordered(fast);
    }),
    { numRuns: 20_000, seed: 20261201 },
  );
  t.ok(answered > 100, `the fast path answered ${answered} generated commands`);
  t.end();
});

t.test('the fast path answers for the transfers the HTTP layer writes, and decodeEntry gives the same as before', (t) => {
  const command: Command = {
    type: 'create_transfers',
    transfers: [
      { id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: 10n, ledger: 'USD' },
      { id: 't2', debit_account_id: 'a', credit_account_id: 'b', amount: 2n ** 63n - 1n, ledger: 'USD', code: 7, linked: true },
      { id: 't3', debit_account_id: 'b', credit_account_id: 'a', amount: 1n, ledger: 'USD', linked: false },
    ],
  };
  const parsed: unknown = JSON.parse(new TextDecoder().decode(encodeEntry({ timeMs: 5, command }))) as { command: unknown };
  t.ok(fastCommand((parsed as { command: unknown }).command) !== undefined, 'taken by the fast path');
  t.same(decodeEntry(encodeEntry({ timeMs: 5, command })), { kind: 'command', timeMs: 5, command });
  t.end();
});

t.test('the fast path declines what it does not fully check, and the schema still decides', (t) => {
  const base = { id: 't1', debit_account_id: 'a', credit_account_id: 'b', amount: '10', ledger: 'USD' };
  const declined = [
    { ...base, metadata: { k: 1 } },
    { ...base, pending: true, timeout_ms: 10 },
    { id: 't2', post_pending_id: 't1' },
    { ...base, amount: '9223372036854775808' },
    { ...base, unknown: 1 },
  ];
  for (const transfer of declined) {
    t.equal(fastCommand({ type: 'create_transfers', transfers: [transfer] }), undefined, JSON.stringify(transfer));
  }
  const pendingEntry = encodeEntry({ timeMs: 1, command: { type: 'create_transfers', transfers: [{ ...base, amount: 10n, pending: true, timeout_ms: 10 }] } });
  t.match(decodeEntry(pendingEntry), { kind: 'command', command: { transfers: [{ pending: true, timeout_ms: 10 }] } }, 'declined shapes still decode through zod');
  t.end();
});
