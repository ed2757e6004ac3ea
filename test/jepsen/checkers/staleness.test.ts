// The staleness checker, on the history's one clock: a stale read with
// max_staleness_ms=N may miss writes acknowledged less than N ms before it
// began, never older ones; a min_index read answers at least that index and
// shows the writes at or below it; a linearizable read misses nothing
// acknowledged before it began. Misses are seen by index and by value.

import t from 'tap';
import { checkStaleness } from './staleness.js';
import { created, HistoryBuilder, info, ok } from './history-builder.js';

const transfer = (id: string) => ({ id, from: 'a', to: 'b', amount: '1' });

/** t1 acknowledged at 10 ms with index 5, t2 at 200 ms with index 9, t3 unknown. */
function writes(): HistoryBuilder {
  return new HistoryBuilder()
    .op(1, 'transfer', transfer('t1'), created(5), 0, 10)
    .op(1, 'transfer', transfer('t2'), created(9), 190, 200)
    .op(2, 'transfer', transfer('t3'), info(), 190, 200);
}

t.test('reads within their bounds pass, including a stale read that misses a recent write', async (t) => {
  const run = writes()
    .op(3, 'read-transfer', { level: 'stale', max_staleness_ms: 100, id: 't2' }, ok({ found: false }, 5), 250, 251)
    .op(3, 'read-balances', { level: 'stale', max_staleness_ms: 100, accounts: ['a'] }, ok({ balances: { a: '-1' } }, 5), 252, 253)
    .op(3, 'read-transfer', { level: 'stale', id: 't2' }, ok({ found: false }, 2), 400, 401)
    .op(3, 'read-account-transfers', { level: 'stale', min_index: 5, account: 'a' }, ok({ ids: ['t1'] }, 6), 402, 403)
    .op(3, 'read-balances', { level: 'linearizable', accounts: ['a'] }, ok({ balances: { a: '-2' } }, 9), 404, 405)
    .parsed();
  const verdict = checkStaleness(run);
  t.same(verdict.anomalies, []);
  t.equal(verdict.valid, true);
  t.match(verdict.stats, { boundedReads: 4 });
});

t.test('a stale read that misses a write acknowledged longer ago than its bound is caught, by index and by value', async (t) => {
  const run = writes()
    .op(3, 'read-transfer', { level: 'stale', max_staleness_ms: 100, id: 't2' }, ok({ found: false }, 5), 301, 302)
    .parsed();
  const verdict = checkStaleness(run);
  t.equal(verdict.valid, false);
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['stale-read', 'stale-read']);
  t.match(verdict.anomalies[0]?.message, /index 5, below index 9/);
  for (const anomaly of verdict.anomalies) t.same(anomaly.ops.map((event) => (event.value as { id?: string }).id).slice(0, 1), ['t2'], 't2 quoted first');
});

t.test('with staleness bounds not held (clocks beyond the drift) the same read passes, and min_index still holds', async (t) => {
  const run = writes()
    .op(3, 'read-transfer', { level: 'stale', max_staleness_ms: 100, id: 't2' }, ok({ found: false }, 5), 301, 302)
    .op(3, 'read-balances', { level: 'stale', max_staleness_ms: 100, min_index: 9, accounts: ['a'] }, ok({ balances: { a: '-1' } }, 8), 303, 304)
    .parsed();
  const verdict = checkStaleness(run, { stalenessBoundsHold: false });
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['min-index-violated']);
});

t.test('a bounded read without an index is still checked by what it shows', async (t) => {
  const run = writes()
    .op(3, 'read-account-transfers', { level: 'stale', max_staleness_ms: 50, account: 'b' }, ok({ ids: [] }), 100, 101)
    .parsed();
  const verdict = checkStaleness(run);
  t.equal(verdict.anomalies.length, 1);
  t.match(verdict.anomalies[0]?.message, /does not show transfer t1/);
});

t.test('a linearizable read below an index acknowledged before it began is stale', async (t) => {
  const run = writes().op(3, 'read-balances', { accounts: ['a'] }, ok({ balances: { a: '-1' }, index: 8 }), 201, 202).parsed();
  t.equal(checkStaleness(run).anomalies[0]?.kind, 'stale-read');
  const concurrent = writes().op(3, 'read-balances', { accounts: ['a'] }, ok({ balances: { a: '-1' }, index: 8 }), 195, 202).parsed();
  t.equal(checkStaleness(concurrent).valid, true, 'a read concurrent with the write may miss it');
});

t.test('a min_index read that answers a lower index, or misses a write at or below it, is caught', async (t) => {
  const lowIndex = writes().op(3, 'read-balances', { level: 'stale', min_index: 9, accounts: ['a'] }, ok({ balances: { a: '-1' } }, 6), 11, 12).parsed();
  t.same(checkStaleness(lowIndex).anomalies.map((anomaly) => anomaly.kind), ['min-index-violated']);
  const missing = writes().op(3, 'read-transfer', { level: 'stale', min_index: 9, id: 't2' }, ok({ found: false }), 11, 12).parsed();
  const verdict = checkStaleness(missing);
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['min-index-violated']);
  t.match(verdict.anomalies[0]?.message, /does not show transfer t2/);
});
