// One focused case per result code: the shortest sequence of commands that
// makes the state machine answer it, and a check that the refused item changed
// nothing (the chain still verifies and balances are untouched).

import t from 'tap';
import { resultCodes, type Command, type Transfer } from '../../src/ledger/index.js';
import { brokenInvariant, Driver } from './harness.js';

const USD = 'USD';
const accounts: Command = {
  type: 'create_accounts',
  accounts: [
    { id: 'a', ledger: USD },
    { id: 'b', ledger: USD },
    { id: 'limited', ledger: USD, flags: { debits_must_not_exceed_credits: true } },
    { id: 'capped', ledger: USD, flags: { credits_must_not_exceed_debits: true } },
    { id: 'euro', ledger: 'EUR' },
  ],
};
const transfers = (...list: Transfer[]): Command => ({ type: 'create_transfers', transfers: list });
const move = (id: string, amount: bigint, extra: Partial<Transfer> = {}): Transfer => ({
  id, debit_account_id: 'a', credit_account_id: 'b', amount, ledger: USD, ...extra,
});
const hold = transfers(move('p', 100n, { pending: true, timeout_ms: 1_000 }));
const stock: Command = { type: 'create_items', items: [{ sku: 'apple', on_hand: 5 }] };
const reserve = (id: string, qty: number, sku = 'apple'): Command => ({
  type: 'create_reservations', reservations: [{ id, lines: [{ sku, qty }], ttl_ms: 1_000 }],
});

interface Case {
  setup: Command[];
  command: Command;
  /** Entry time of the final command (setup runs at 1000). */
  timeMs?: number;
  /** Expected code or status of the last result of the final command. */
  expected: string;
}

const cases: Record<string, Case> = {
  exists_with_different_fields: { setup: [accounts], command: { type: 'create_accounts', accounts: [{ id: 'a', ledger: 'EUR' }] }, expected: 'exists_with_different_fields' },
  flags_are_mutually_exclusive: {
    setup: [],
    command: { type: 'create_accounts', accounts: [{ id: 'x', ledger: USD, flags: { debits_must_not_exceed_credits: true, credits_must_not_exceed_debits: true } }] },
    expected: 'flags_are_mutually_exclusive',
  },
  amount_must_be_positive: { setup: [accounts], command: transfers(move('t', 0n)), expected: 'amount_must_be_positive' },
  accounts_must_be_different: { setup: [accounts], command: transfers(move('t', 1n, { credit_account_id: 'a' })), expected: 'accounts_must_be_different' },
  debit_account_not_found: { setup: [accounts], command: transfers(move('t', 1n, { debit_account_id: 'nobody' })), expected: 'debit_account_not_found' },
  credit_account_not_found: { setup: [accounts], command: transfers(move('t', 1n, { credit_account_id: 'nobody' })), expected: 'credit_account_not_found' },
  ledger_mismatch: { setup: [accounts], command: transfers(move('t', 1n, { credit_account_id: 'euro' })), expected: 'ledger_mismatch' },
  exceeds_credits: { setup: [accounts], command: transfers(move('t', 1n, { debit_account_id: 'limited' })), expected: 'exceeds_credits' },
  exceeds_debits: { setup: [accounts], command: transfers(move('t', 1n, { credit_account_id: 'capped' })), expected: 'exceeds_debits' },
  overflow: {
    setup: [accounts, transfers(move('big', 2n ** 63n - 1n))],
    command: transfers(move('t', 1n)),
    expected: 'overflow',
  },
  pending_transfer_not_found: { setup: [accounts], command: transfers({ id: 'x', post_pending_id: 'missing' }), expected: 'pending_transfer_not_found' },
  pending_transfer_not_pending: { setup: [accounts, transfers(move('plain', 5n))], command: transfers({ id: 'x', void_pending_id: 'plain' }), expected: 'pending_transfer_not_pending' },
  pending_transfer_has_different_debit_account_id: {
    setup: [accounts, hold], command: transfers({ id: 'x', post_pending_id: 'p', debit_account_id: 'b' }), expected: 'pending_transfer_has_different_debit_account_id',
  },
  pending_transfer_has_different_credit_account_id: {
    setup: [accounts, hold], command: transfers({ id: 'x', post_pending_id: 'p', credit_account_id: 'a' }), expected: 'pending_transfer_has_different_credit_account_id',
  },
  pending_transfer_has_different_ledger: {
    setup: [accounts, hold], command: transfers({ id: 'x', post_pending_id: 'p', ledger: 'EUR' }), expected: 'pending_transfer_has_different_ledger',
  },
  pending_transfer_already_posted: {
    setup: [accounts, hold, transfers({ id: 'post', post_pending_id: 'p' })], command: transfers({ id: 'x', void_pending_id: 'p' }), expected: 'pending_transfer_already_posted',
  },
  pending_transfer_already_voided: {
    setup: [accounts, hold, transfers({ id: 'void', void_pending_id: 'p' })], command: transfers({ id: 'x', post_pending_id: 'p' }), expected: 'pending_transfer_already_voided',
  },
  pending_transfer_expired: { setup: [accounts, hold], command: transfers({ id: 'x', post_pending_id: 'p' }), timeMs: 2_000, expected: 'pending_transfer_expired' },
  amount_exceeds_pending: { setup: [accounts, hold], command: transfers({ id: 'x', post_pending_id: 'p', amount: 101n }), expected: 'amount_exceeds_pending' },
  void_amount_must_equal_pending: { setup: [accounts, hold], command: transfers({ id: 'x', void_pending_id: 'p', amount: 99n }), expected: 'void_amount_must_equal_pending' },
  linked_event_failed: { setup: [accounts], command: transfers(move('t1', 0n, { linked: true }), move('t2', 1n)), expected: 'linked_event_failed' },
  linked_event_chain_open: { setup: [accounts], command: transfers(move('t1', 1n, { linked: true })), expected: 'linked_event_chain_open' },
  item_not_found: { setup: [], command: { type: 'adjust_stock', adjustments: [{ id: 'j', sku: 'pear', delta: 1 }] }, expected: 'item_not_found' },
  on_hand_below_reserved: {
    setup: [stock, reserve('r', 3)], command: { type: 'adjust_stock', adjustments: [{ id: 'j', sku: 'apple', delta: -3 }] }, expected: 'on_hand_below_reserved',
  },
  insufficient_stock: { setup: [stock], command: reserve('r', 6), expected: 'insufficient_stock' },
  lines_must_have_distinct_skus: {
    setup: [stock],
    command: { type: 'create_reservations', reservations: [{ id: 'r', lines: [{ sku: 'apple', qty: 1 }, { sku: 'apple', qty: 1 }], ttl_ms: 10 }] },
    expected: 'lines_must_have_distinct_skus',
  },
  quantity_must_be_positive: { setup: [stock], command: reserve('r', 0), expected: 'quantity_must_be_positive' },
  reservation_not_found: { setup: [], command: { type: 'confirm_reservations', ids: ['r'] }, expected: 'reservation_not_found' },
  reservation_already_confirmed: {
    setup: [stock, reserve('r', 1), { type: 'confirm_reservations', ids: ['r'] }], command: { type: 'release_reservations', ids: ['r'] }, expected: 'reservation_already_confirmed',
  },
  reservation_already_released: {
    setup: [stock, reserve('r', 1), { type: 'release_reservations', ids: ['r'] }], command: { type: 'confirm_reservations', ids: ['r'] }, expected: 'reservation_already_released',
  },
  reservation_expired: { setup: [stock, reserve('r', 1)], command: { type: 'confirm_reservations', ids: ['r'] }, timeMs: 2_000, expected: 'reservation_expired' },
};

for (const [code, scenario] of Object.entries(cases)) {
  t.test(code, (t) => {
    const driver = new Driver();
    for (const command of scenario.setup) driver.apply(command);
    const before = driver.machine.queries.accounts(['a', 'b']);
    const results = driver.results(scenario.command, scenario.timeMs ?? 1_000);
    const last = results[results.length - 1];
    t.equal(last?.code ?? last?.status, scenario.expected, JSON.stringify(results));
    if (last?.status === 'error') t.same(driver.machine.queries.accounts(['a', 'b']), before, 'a refused item changes no balance');
    t.equal(brokenInvariant(driver.machine, ['a', 'b', 'limited', 'capped', 'euro'], ['apple']), undefined);
    t.ok(driver.machine.verifyChain().ok);
    driver.machine.close();
    t.end();
  });
}

t.test('every code in the catalogue has a focused case (entry_invalid is in entry.test)', (t) => {
  t.same(resultCodes.filter((code) => !(code in cases) && code !== 'entry_invalid'), []);
  t.end();
});

t.test('exists: an identical repeat answers exists and the effect happens once', (t) => {
  const driver = new Driver();
  driver.apply(accounts);
  t.equal(driver.outcome(transfers(move('t', 7n))), 'created');
  t.equal(driver.outcome(transfers(move('t', 7n))), 'exists');
  t.equal(driver.machine.queries.account('b')?.credits_posted, 7n);
  t.equal(driver.outcome(transfers(move('t', 8n))), 'exists_with_different_fields');
  t.same(driver.results(accounts).map((result) => result.status), ['exists', 'exists', 'exists', 'exists', 'exists']);
  t.end();
});

t.test('exists: a repeat that spells out a default (code 0, empty flags, linked/pending false) is the same request', (t) => {
  const driver = new Driver();
  driver.apply(accounts);
  t.same(driver.results({ type: 'create_accounts', accounts: [{ id: 'a', ledger: USD, code: 0, flags: {} }] }).map((r) => r.status), ['exists']);
  t.same(driver.results({ type: 'create_accounts', accounts: [{ id: 'limited', ledger: USD, flags: { debits_must_not_exceed_credits: true, credits_must_not_exceed_debits: false } }] }).map((r) => r.status), ['exists']);
  t.equal(driver.outcome(transfers(move('t', 7n))), 'created');
  t.equal(driver.outcome(transfers(move('t', 7n, { code: 0, pending: false, linked: false }))), 'exists');
  t.equal(driver.outcome(transfers(move('t', 7n, { code: 1 }))), 'exists_with_different_fields');
  t.equal(driver.outcome(transfers(move('t', 7n, { metadata: {} }))), 'exists_with_different_fields');
  t.equal(driver.machine.queries.account('b')?.credits_posted, 7n);
  driver.apply(transfers(move('p', 10n, { pending: true, code: 3 })));
  t.equal(driver.outcome(transfers({ id: 'post', post_pending_id: 'p' })), 'created');
  t.equal(driver.machine.queries.transfer('post')?.code, 3, 'a post without a code takes the pending code');
  t.equal(driver.outcome(transfers({ id: 'post', post_pending_id: 'p', code: 0 })), 'exists_with_different_fields', 'so there code 0 is not the default');
  t.end();
});

t.test('exists: metadata key order does not make a repeat different', (t) => {
  const driver = new Driver();
  driver.apply(accounts);
  t.equal(driver.outcome(transfers(move('t', 7n, { metadata: { a: 1, b: { c: 2, d: 3 } } }))), 'created');
  t.equal(driver.outcome(transfers(move('t', 7n, { metadata: { b: { d: 3, c: 2 }, a: 1 } }))), 'exists');
  t.end();
});

t.test('a linked chain applies all or nothing; a replayed chain answers exists for every member', (t) => {
  const driver = new Driver();
  driver.apply(accounts);
  const chain = transfers(move('c1', 5n, { linked: true }), move('c2', 6n, { linked: true }), move('c3', 7n));
  t.same(driver.results(chain).map((r) => r.status), ['created', 'created', 'created']);
  t.same(driver.results(chain).map((r) => r.status), ['exists', 'exists', 'exists']);
  const failing = driver.results(transfers(move('d1', 5n, { linked: true }), move('d2', 1n, { debit_account_id: 'limited' })));
  t.same(failing.map((r) => r.code), ['linked_event_failed', 'exceeds_credits']);
  t.equal(driver.machine.queries.transfer('d1'), undefined);
  t.equal(driver.machine.queries.account('b')?.credits_posted, 18n);
  t.end();
});

t.test('a chain that repeats one of its own ids applies once and answers exists for the repeat', (t) => {
  const driver = new Driver();
  driver.apply(accounts);
  const repeated = driver.results(transfers(move('x', 5n, { linked: true }), move('x', 5n, { linked: true }), move('y', 1n)));
  t.same(repeated.map((r) => r.code ?? r.status), ['created', 'exists', 'created']);
  t.equal(driver.machine.queries.transfer('x')?.amount, 5n, 'the transfer answered exists is stored');
  t.equal(driver.machine.queries.account('b')?.credits_posted, 6n, 'and applied once');
  const refused = driver.results(transfers(move('u', 5n, { linked: true }), move('u', 5n, { linked: true }), move('v', 0n)));
  t.same(refused.map((r) => r.code ?? r.status), ['linked_event_failed', 'linked_event_failed', 'amount_must_be_positive']);
  t.equal(driver.machine.queries.transfer('u'), undefined);
  t.end();
});

t.test('partial post releases the whole hold and posts the amount given', (t) => {
  const driver = new Driver();
  driver.apply(accounts);
  driver.apply(hold);
  t.equal(driver.machine.queries.account('a')?.debits_pending, 100n);
  t.equal(driver.outcome(transfers({ id: 'post', post_pending_id: 'p', amount: 40n })), 'created');
  const a = driver.machine.queries.account('a');
  t.same([a?.debits_pending, a?.debits_posted, a?.balance, a?.available], [0n, 40n, -40n, -40n]);
  t.equal(driver.machine.queries.transfer('p')?.status, 'posted');
  t.equal(driver.machine.queries.transfer('post')?.post_pending_id, 'p');
  t.end();
});

t.test('confirm takes stock out; release and expiry give it back', (t) => {
  const driver = new Driver();
  driver.apply(stock);
  driver.apply(reserve('r1', 2));
  driver.apply(reserve('r2', 1));
  driver.apply(reserve('r3', 1));
  t.same(driver.machine.queries.item('apple'), { sku: 'apple', on_hand: 5, reserved: 4, available: 1 });
  t.same(driver.results({ type: 'confirm_reservations', ids: ['r1', 'r1'] }).map((r) => r.status), ['confirmed', 'exists']);
  t.same(driver.results({ type: 'release_reservations', ids: ['r2'] }).map((r) => r.status), ['released']);
  t.same(driver.machine.queries.item('apple'), { sku: 'apple', on_hand: 3, reserved: 1, available: 2 });
  t.equal(driver.machine.nextDeadlineMs(), 2_000);
  t.same(driver.apply({ type: 'expire' }, 2_000), { type: 'expire', expired_transfers: 0, expired_reservations: 1 });
  t.same(driver.machine.queries.item('apple'), { sku: 'apple', on_hand: 3, reserved: 0, available: 3 });
  t.same(driver.machine.queries.reservation('r3'), { id: 'r3', status: 'expired', lines: [{ sku: 'apple', qty: 1 }], expires_at: 2_000 });
  t.equal(driver.machine.nextDeadlineMs(), undefined);
  t.end();
});

t.test('expire is bounded per entry and goes in deadline then id order', (t) => {
  const driver = new Driver();
  driver.apply(accounts);
  driver.apply(transfers(move('z', 1n, { pending: true, timeout_ms: 10 }), move('y', 1n, { pending: true, timeout_ms: 10 }), move('x', 1n, { pending: true, timeout_ms: 20 })));
  t.same(driver.apply({ type: 'expire', limit: 1 }, 1_100), { type: 'expire', expired_transfers: 1, expired_reservations: 0 });
  t.same(['x', 'y', 'z'].map((id) => driver.machine.queries.transfer(id)?.status), ['pending', 'expired', 'pending']);
  t.same(driver.apply({ type: 'expire' }, 1_100), { type: 'expire', expired_transfers: 2, expired_reservations: 0 });
  t.equal(driver.machine.queries.account('a')?.debits_pending, 0n);
  t.end();
});
