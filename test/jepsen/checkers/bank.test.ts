// The bank checker passes a correct run with concurrent and unknown-outcome
// transfers, and catches a lost acknowledged transfer, a double-applied one, a
// refused one that appears, a read whose total is not zero, a negative
// balance, and final balances that no replay explains. Without final reads,
// or with too many transfers of unknown outcome, it answers 'unknown'.

import t from 'tap';
import { checkBank } from './bank.js';
import { created, fail, HistoryBuilder, info, ok } from './history-builder.js';

const transfer = (id: string, from: string, to: string, amount: number, extra: object = {}) => ({ id, from, to, amount: String(amount), ...extra });
const balances = (values: Record<string, number>) => ok({ balances: Object.fromEntries(Object.entries(values).map(([account, balance]) => [account, String(balance)])), index: 1 });
const ALL = ['bank', 'a', 'b', 'c'];

/** Funding from the bank: a, b and c start at 100 each. */
function funded(): HistoryBuilder {
  return new HistoryBuilder()
    .op(0, 'transfer', transfer('fund-a', 'bank', 'a', 100), created(1), 0, 1)
    .op(0, 'transfer', transfer('fund-b', 'bank', 'b', 100), created(2), 2, 3)
    .op(0, 'transfer', transfer('fund-c', 'bank', 'c', 100), created(3), 4, 5);
}

/**
 * A correct run: t1 a->b 30 concurrent with a read; t2 timed out but applied; t3 timed out and did
 * not apply; t4 refused; p1 pending 20 b->c posted for 15 by q1; t5 timed out with no final read of it.
 */
function correctRun(): HistoryBuilder {
  return funded()
    .invoke(1, 'transfer', transfer('t1', 'a', 'b', 30), 10)
    .invoke(2, 'read-balances', { level: 'linearizable', accounts: ALL }, 11)
    .complete(2, 'read-balances', balances({ bank: -300, a: 100, b: 100, c: 100 }), 12)
    .complete(1, 'transfer', created(4), 13)
    .op(2, 'read-balances', { level: 'stale', accounts: ['a', 'b'] }, balances({ a: 70, b: 130 }), 14, 15)
    .op(3, 'transfer', transfer('t2', 'b', 'c', 10), info(), 20, 30)
    .op(4, 'transfer', transfer('t3', 'c', 'a', 5), info(), 20, 30)
    .op(5, 'transfer', transfer('t4', 'c', 'a', 500), fail('exceeds_credits'), 20, 21)
    .op(6, 'transfer', transfer('p1', 'b', 'c', 20, { pending: true }), created(5), 22, 23)
    .op(6, 'post', { id: 'q1', pending_id: 'p1', amount: '15' }, created(6), 24, 25)
    .op(7, 'transfer', transfer('t5', 'a', 'c', 1), info(), 26, 27)
    .nemesis('final-reads', 100)
    .op(1, 'read-transfer', { id: 't1' }, ok({ found: true, status: 'posted', amount: '30' }), 101, 102)
    .op(1, 'read-transfer', { id: 't2' }, ok({ found: true, status: 'posted', amount: '10' }), 103, 104)
    .op(1, 'read-transfer', { id: 't3' }, ok({ found: false }), 105, 106)
    .op(1, 'read-transfer', { id: 't4' }, ok({ found: false }), 107, 108)
    .op(1, 'read-transfer', { id: 'q1' }, ok({ found: true, status: 'posted', amount: '15' }), 109, 110);
}

// After: a 100-30=70 (+1 if t5), b 100+30-10-15=105, c 100+10+15=125 (+1 if t5), bank -300.
const finalWithT5 = { bank: -300, a: 69, b: 105, c: 126 };

t.test('a correct run with concurrent, unknown-outcome, refused and pending transfers passes', async (t) => {
  const history = correctRun().op(1, 'read-balances', { accounts: ALL }, balances(finalWithT5), 111, 112).parsed();
  const verdict = checkBank(history);
  t.same(verdict.anomalies, []);
  t.equal(verdict.valid, true);
  t.match(verdict.stats, { transfers: 10, refused: 1, undecidedTransfers: 1, finalBalanceReads: 1 });
  const withoutT5 = correctRun().op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 70, b: 105, c: 125 }), 111, 112).parsed();
  t.equal(checkBank(withoutT5).valid, true, 'the transfer of unknown outcome may also not have applied');
});

t.test('an acknowledged transfer missing after recovery is a lost write, quoted', async (t) => {
  const history = funded()
    .op(1, 'transfer', transfer('t1', 'a', 'b', 30), created(4), 10, 11)
    .nemesis('final-reads', 100)
    .op(1, 'read-transfer', { id: 't1' }, ok({ found: false }), 101, 102)
    .op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 100, b: 100, c: 100 }), 103, 104)
    .parsed();
  const verdict = checkBank(history);
  t.equal(verdict.valid, false);
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['lost-write', 'lost-write'], 'by the final read-transfer and by the balances');
  for (const anomaly of verdict.anomalies) t.ok(anomaly.ops.some((event) => event.f === 'transfer' && (event.value as { id?: string }).id === 't1'), 't1 is quoted');
});

t.test('a transfer applied twice is caught from the final balances', async (t) => {
  const history = funded()
    .op(1, 'transfer', transfer('t1', 'a', 'b', 30), created(4), 10, 11)
    .nemesis('final-reads', 100)
    .op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 40, b: 160, c: 100 }), 101, 102)
    .parsed();
  const verdict = checkBank(history);
  t.equal(verdict.valid, false);
  t.equal(verdict.anomalies[0]?.kind, 'double-applied');
  t.match(verdict.anomalies[0]?.message, /t1 applied twice/);
  t.ok(verdict.anomalies[0]?.ops.some((event) => event.f === 'read-balances' && event.type === 'ok'), 'the read is quoted');
});

t.test('a refused transfer that a read shows is caught', async (t) => {
  const history = funded()
    .op(1, 'transfer', transfer('t1', 'a', 'b', 30), fail('exceeds_credits'), 10, 11)
    .op(2, 'read-account-transfers', { level: 'stale', account: 'a' }, ok({ ids: ['fund-a', 't1'] }), 12, 13)
    .nemesis('final-reads', 100)
    .op(1, 'read-transfer', { id: 't1' }, ok({ found: true, status: 'posted', amount: '30' }), 101, 102)
    .op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 70, b: 130, c: 100 }), 103, 104)
    .parsed();
  const verdict = checkBank(history);
  t.equal(verdict.valid, false);
  const kinds = verdict.anomalies.map((anomaly) => anomaly.kind);
  t.equal(kinds.filter((kind) => kind === 'refused-applied').length, 2, 'by the stale history read and by the final read');
  t.ok(kinds.includes('final-balance-mismatch'), 'balances that include it match no replay of what exists');
});

t.test('a read whose total is not zero, and a negative balance, are caught', async (t) => {
  const history = funded()
    .op(1, 'read-balances', { level: 'lease', accounts: ALL }, balances({ bank: -300, a: 100, b: 130, c: 100 }), 10, 11)
    .op(1, 'read-balances', { level: 'stale', accounts: ['a', 'b'] }, balances({ a: -5, b: 105 }), 12, 13)
    .nemesis('final-reads', 100)
    .op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 100, b: 100, c: 100 }), 101, 102)
    .parsed();
  const verdict = checkBank(history);
  t.equal(verdict.valid, false);
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['total-not-conserved', 'negative-balance']);
  t.match(verdict.anomalies[0]?.message, /sum to 30/);
  t.match(verdict.stats, { balanceReadsWithTotalChecked: 2 }, 'reads of only some accounts are not summed');
});

t.test('without final reads, or with too many unknown outcomes, the replay is unknown, never true', async (t) => {
  const noFinal = funded().op(1, 'transfer', transfer('t1', 'a', 'b', 30), created(4), 10, 11).parsed();
  t.equal(checkBank(noFinal).valid, 'unknown');
  const builder = funded();
  for (let n = 0; n < 6; n++) builder.op(1, 'transfer', transfer(`t${n}`, 'a', 'b', 1), info(), 10 + n * 2, 11 + n * 2);
  builder.nemesis('final-reads', 100).op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 97, b: 103, c: 100 }), 101, 102);
  t.equal(checkBank(builder.parsed(), { maxUndecidedTransfers: 5 }).valid, 'unknown');
  t.equal(checkBank(builder.parsed()).valid, true, 'three of the six applied: a combination explains the balances');
  const impossible = funded();
  for (let n = 0; n < 3; n++) impossible.op(1, 'transfer', transfer(`t${n}`, 'a', 'b', 2), info(), 10 + n * 2, 11 + n * 2);
  impossible.nemesis('final-reads', 100).op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 97, b: 103, c: 100 }), 101, 102);
  t.equal(checkBank(impossible.parsed()).anomalies[0]?.kind, 'final-balance-mismatch', 'no combination of 2s moves 3');
});

t.test('without recorded funding, a read of every account before the first transfer is the starting point', async (t) => {
  const unfunded = (withBaseline: boolean) => {
    const builder = new HistoryBuilder();
    if (withBaseline) builder.op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 100, b: 100, c: 100 }), 0, 1);
    return builder
      .op(1, 'transfer', transfer('t1', 'a', 'b', 30), created(4), 10, 11)
      .nemesis('final-reads', 100)
      .op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 70, b: 130, c: 100 }), 101, 102)
      .parsed();
  };
  t.equal(checkBank(unfunded(true)).valid, true);
  t.equal(checkBank(unfunded(false)).anomalies[0]?.kind, 'final-balance-mismatch', 'from zero the replay cannot match');
  t.equal(checkBank(unfunded(false), { initialBalances: { bank: '-300', a: '100', b: '100', c: '100' } }).valid, true);
});

t.test('final reads on two nodes that disagree on a transfer are caught', async (t) => {
  const history = funded()
    .op(1, 'transfer', transfer('t1', 'a', 'b', 30), info(), 10, 11)
    .nemesis('final-reads', 100)
    .op(1, 'read-transfer', { id: 't1' }, ok({ found: true, status: 'posted', amount: '30' }), 101, 102)
    .op(2, 'read-account-transfers', { account: 'b' }, ok({ ids: ['fund-b'] }), 103, 104)
    .op(1, 'read-balances', { accounts: ALL }, balances({ bank: -300, a: 70, b: 130, c: 100 }), 105, 106)
    .parsed();
  const verdict = checkBank(history);
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['final-reads-disagree']);
  t.equal(verdict.anomalies[0]?.ops.length, 4, 'both reads quoted');
});
