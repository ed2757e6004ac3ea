// What an account view's `balance` and `available` mean (docs/ledger.md,
// "Balances"): both are read from the credit side for every account, and
// `available` is exactly the headroom the debits_must_not_exceed_credits check
// uses. A debit-normal account's headroom is the mirror, computed from the
// four totals; these tests hold both readings against the checks themselves.

import t from 'tap';
import type { Account, AccountView, Command, Transfer } from '../../src/ledger/index.js';
import { Driver } from './harness.js';

const USD = 'USD';
const transfers = (...list: Transfer[]): Command => ({ type: 'create_transfers', transfers: list });
const move = (id: string, from: string, to: string, amount: bigint, extra: Partial<Transfer> = {}): Transfer => ({
  id, debit_account_id: from, credit_account_id: to, amount, ledger: USD, ...extra,
});

function driverWith(accounts: Account[]): Driver {
  const driver = new Driver();
  driver.apply({ type: 'create_accounts', accounts });
  return driver;
}

function view(driver: Driver, id: string): AccountView {
  const account = driver.machine.queries.account(id);
  if (account === undefined) throw new Error(`account ${id} missing`);
  return account;
}

t.test('available is what a credit-normal account can still spend: pending debits count, pending credits do not', (t) => {
  const driver = driverWith([
    { id: 'wallet', ledger: USD, flags: { debits_must_not_exceed_credits: true } }, { id: 'bank', ledger: USD }, { id: 'shop', ledger: USD },
  ]);
  t.equal(driver.outcome(transfers(move('fund', 'bank', 'wallet', 100n))), 'created');
  t.equal(driver.outcome(transfers(move('hold-out', 'wallet', 'shop', 30n, { pending: true }))), 'created');
  t.equal(driver.outcome(transfers(move('hold-in', 'bank', 'wallet', 50n, { pending: true }))), 'created');
  const wallet = view(driver, 'wallet');
  t.same(
    [wallet.debits_pending, wallet.debits_posted, wallet.credits_pending, wallet.credits_posted, wallet.balance, wallet.available],
    [30n, 0n, 50n, 100n, 100n, 70n],
  );
  t.equal(driver.outcome(transfers(move('too-much', 'wallet', 'shop', wallet.available + 1n))), 'exceeds_credits', 'one unit above available is refused');
  t.equal(driver.outcome(transfers(move('all', 'wallet', 'shop', wallet.available))), 'created', 'exactly available is accepted');
  t.equal(view(driver, 'wallet').available, 0n);
  t.end();
});

t.test('a debit-normal account keeps the credit-side sign; its headroom is debits_posted - credits_posted - credits_pending', (t) => {
  const driver = driverWith([
    { id: 'cash', ledger: USD, flags: { credits_must_not_exceed_debits: true } }, { id: 'equity', ledger: USD }, { id: 'rent', ledger: USD },
  ]);
  t.equal(driver.outcome(transfers(move('capital', 'cash', 'equity', 100n))), 'created');
  t.equal(driver.outcome(transfers(move('cheque', 'rent', 'cash', 30n, { pending: true }))), 'created', 'a pending payment out of cash');
  t.equal(driver.outcome(transfers(move('incoming', 'cash', 'equity', 20n, { pending: true }))), 'created', 'a pending deposit into cash');
  const cash = view(driver, 'cash');
  t.same(
    [cash.debits_pending, cash.debits_posted, cash.credits_pending, cash.credits_posted, cash.balance, cash.available],
    [20n, 100n, 30n, 0n, -100n, -120n],
    'balance and available follow the contract formulas, not the debit-normal reading',
  );
  const headroom = cash.debits_posted - cash.credits_posted - cash.credits_pending;
  t.equal(headroom, 70n);
  t.equal(driver.outcome(transfers(move('over', 'rent', 'cash', headroom + 1n))), 'exceeds_debits', 'one unit above the headroom is refused');
  t.equal(driver.outcome(transfers(move('pay', 'rent', 'cash', headroom))), 'created', 'exactly the headroom is accepted');
  t.end();
});
