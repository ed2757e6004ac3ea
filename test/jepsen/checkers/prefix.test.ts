// The history-prefix checker passes account histories that only grow, with
// concurrent reads and transfers of unknown outcome, and catches two reads
// that disagree on the order, a later read that shows less, a read missing a
// transfer acknowledged before it began, a transfer listed twice, and a
// transfer listed that was never written.

import t from 'tap';
import { checkHistoryPrefix } from './prefix.js';
import { created, HistoryBuilder, info, ok } from './history-builder.js';

const transfer = (id: string, from: string, to: string) => ({ id, from, to, amount: '1' });
const history = (account: string, ids: string[], level = 'linearizable') => ['read-account-transfers', { level, account }, ok({ ids })] as const;

function writes(): HistoryBuilder {
  return new HistoryBuilder()
    .op(1, 'transfer', transfer('t1', 'a', 'b'), created(), 0, 10)
    .op(1, 'transfer', transfer('t2', 'b', 'a'), created(), 20, 30)
    .op(2, 'transfer', transfer('t3', 'a', 'c'), info(), 20, 30);
}

t.test('growing histories with concurrent reads and an unknown-outcome transfer pass', async (t) => {
  const run = writes()
    .op(3, ...history('a', []), 1, 2)
    .op(3, ...history('a', ['t1']), 5, 15) // concurrent with t1
    .op(3, ...history('a', ['t1', 't2']), 31, 35)
    .op(4, ...history('a', ['t1'], 'stale'), 32, 33) // a stale read may lag
    .op(3, ...history('a', ['t1', 't2', 't3']), 40, 45) // t3 applied after all
    .op(3, ...history('c', ['t3']), 46, 47)
    .parsed();
  const verdict = checkHistoryPrefix(run);
  t.same(verdict.anomalies, []);
  t.equal(verdict.valid, true);
});

t.test('two reads that disagree on the order are not prefixes of each other', async (t) => {
  const run = writes()
    .op(3, ...history('a', ['t1', 't2']), 31, 35)
    .op(4, ...history('a', ['t2', 't1']), 36, 37)
    .parsed();
  const verdict = checkHistoryPrefix(run);
  t.equal(verdict.valid, false);
  t.equal(verdict.anomalies[0]?.kind, 'non-prefix');
  t.equal(verdict.anomalies[0]?.ops.length, 4, 'both reads quoted');
});

t.test('a linearizable read invoked after another completed must extend it', async (t) => {
  const run = writes()
    .op(3, ...history('a', ['t1', 't2']), 31, 35)
    .op(4, ...history('a', ['t1']), 36, 37)
    .parsed();
  const verdict = checkHistoryPrefix(run);
  t.equal(verdict.valid, false);
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['non-prefix', 'missing-acknowledged-transfer']);
  t.match(verdict.anomalies[1]?.message, /first t2/);
  const staleOnly = writes()
    .op(3, ...history('a', ['t1', 't2']), 31, 35)
    .op(4, ...history('a', ['t1'], 'stale'), 36, 37)
    .parsed();
  t.equal(checkHistoryPrefix(staleOnly).valid, true, 'a stale read may show an older prefix');
});

t.test('a read missing a transfer acknowledged before it began is caught even with nothing to compare', async (t) => {
  const run = writes().op(3, ...history('b', ['t1']), 31, 35).parsed();
  const verdict = checkHistoryPrefix(run);
  t.equal(verdict.anomalies[0]?.kind, 'missing-acknowledged-transfer');
  t.same(verdict.anomalies[0]?.ops.map((event) => `${event.type} ${event.f}`), ['invoke transfer', 'ok transfer', 'invoke read-account-transfers', 'ok read-account-transfers']);
});

t.test('a transfer listed twice, one never written, and one from the future are caught', async (t) => {
  const run = writes()
    .op(3, ...history('a', ['t1', 't1']), 11, 12)
    .op(3, ...history('b', ['t1', 'ghost']), 13, 14)
    .op(4, ...history('c', ['t3']), 15, 16)
    .parsed();
  t.same(checkHistoryPrefix(run).anomalies.map((anomaly) => anomaly.kind), ['duplicate-transfer', 'phantom-transfer', 'future-read']);
});
