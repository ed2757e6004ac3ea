// The reservations checker passes concurrent holds, confirms, releases and
// expiries that stay within stock, and catches an item read with more
// reserved than on hand, confirms that sold more than the stock, and a
// confirmed reservation later released or read as expired.

import t from 'tap';
import { checkReservations } from './reservations.js';
import { fail, HistoryBuilder, info, ok } from './history-builder.js';

const hold = (id: string, qty: number) => ({ id, lines: [{ sku: 's', qty }], ttl_ms: 1000 });
const item = (on_hand: number, reserved: number) => ok({ on_hand, reserved, available: on_hand - reserved });

function stocked(onHand: number): HistoryBuilder {
  return new HistoryBuilder().op(0, 'create-items', { items: [{ sku: 's', on_hand: onHand }] }, ok({ status: 'created' }), 0, 1);
}

t.test('holds, confirms, releases and expiries within stock pass', async (t) => {
  const run = stocked(5)
    .invoke(1, 'hold', hold('r1', 3), 10)
    .invoke(2, 'hold', hold('r2', 3), 10)
    .complete(1, 'hold', ok({ status: 'created' }), 12)
    .complete(2, 'hold', fail('insufficient_stock'), 13)
    .op(3, 'read-item', { sku: 's' }, item(5, 3), 14, 15)
    .op(1, 'confirm', { id: 'r1' }, ok({ status: 'confirmed' }), 16, 17)
    .op(1, 'release', { id: 'r1' }, fail('reservation_already_confirmed'), 18, 19)
    .op(2, 'hold', hold('r3', 2), ok({ status: 'created' }), 20, 21)
    .op(2, 'confirm', { id: 'r3' }, info(), 22, 23)
    .op(4, 'hold', hold('r4', 1), info(), 20, 21)
    .op(3, 'read-item', { level: 'stale', sku: 's' }, item(2, 2), 24, 25)
    .op(3, 'read-reservation', { id: 'r1' }, ok({ status: 'confirmed' }), 26, 27)
    .op(3, 'read-reservation', { id: 'r4' }, ok({ status: 'expired' }), 28, 29)
    .parsed();
  const verdict = checkReservations(run);
  t.same(verdict.anomalies, []);
  t.equal(verdict.valid, true);
  t.match(verdict.stats, { acknowledgedConfirms: 1 });
});

t.test('an item read with more reserved than on hand is an oversell', async (t) => {
  const run = stocked(5).op(3, 'read-item', { sku: 's' }, item(5, 6), 10, 11).parsed();
  const verdict = checkReservations(run);
  t.equal(verdict.valid, false);
  t.equal(verdict.anomalies[0]?.kind, 'oversell');
  t.equal(verdict.anomalies[0]?.ops[1]?.f, 'read-item');
});

/** Two holds of 3 confirmed. */
function sellSix(builder: HistoryBuilder): HistoryBuilder {
  return builder
    .op(1, 'hold', hold('r1', 3), ok({ status: 'created' }), 10, 11)
    .op(2, 'hold', hold('r2', 3), ok({ status: 'created' }), 10, 11)
    .op(1, 'confirm', { id: 'r1' }, ok({ status: 'confirmed' }), 12, 13)
    .op(2, 'confirm', { id: 'r2' }, ok({ status: 'confirmed' }), 12, 13);
}

t.test('acknowledged confirms that sold more than the stock are an oversell, with the confirms quoted', async (t) => {
  const verdict = checkReservations(sellSix(stocked(5)).parsed());
  t.equal(verdict.valid, false);
  t.equal(verdict.anomalies[0]?.kind, 'oversell');
  t.match(verdict.anomalies[0]?.message, /sold 6, but its stock was at most 5/);
  t.equal(verdict.anomalies[0]?.ops.filter((event) => event.f === 'confirm').length, 4);
  const raised = stocked(5).op(3, 'adjust', { id: 'adj1', sku: 's', delta: 1 }, ok({ status: 'created' }), 5, 6);
  t.equal(checkReservations(sellSix(raised).parsed()).valid, true, 'an adjustment of +1 makes room for 6');
});

t.test('without a recorded stock, a read before any confirm gives it; with neither, the sale is unknown', async (t) => {
  const sales = (builder: HistoryBuilder) => builder
    .op(1, 'hold', hold('r1', 3), ok({ status: 'created' }), 10, 11)
    .op(1, 'confirm', { id: 'r1' }, ok({ status: 'confirmed' }), 12, 13);
  const readFirst = sales(new HistoryBuilder().op(3, 'read-item', { sku: 's' }, item(2, 0), 0, 1)).parsed();
  t.equal(checkReservations(readFirst).anomalies[0]?.kind, 'oversell');
  t.equal(checkReservations(sales(new HistoryBuilder()).parsed()).valid, 'unknown');
});

t.test('a confirmed reservation that is later released or read as expired is caught', async (t) => {
  const run = stocked(5)
    .op(1, 'hold', hold('r1', 1), ok({ status: 'created' }), 10, 11)
    .op(1, 'confirm', { id: 'r1' }, ok({ status: 'confirmed' }), 12, 13)
    .op(2, 'release', { id: 'r1' }, ok({ status: 'released' }), 14, 15)
    .op(3, 'read-reservation', { level: 'stale', id: 'r1' }, ok({ status: 'expired' }), 16, 17)
    .op(3, 'read-reservation', { id: 'r1' }, ok({ status: 'held' }), 18, 19)
    .op(3, 'read-reservation', { level: 'stale', id: 'r1' }, ok({ status: 'held' }), 20, 21)
    .parsed();
  const verdict = checkReservations(run);
  t.same(verdict.anomalies.map((anomaly) => anomaly.kind), ['confirm-not-final', 'confirm-not-final', 'confirm-not-final'], 'a stale read may still show it held');
  t.match(verdict.anomalies[1]?.message, /read as expired/);
});

t.test('an item whose available is not on_hand - reserved, and a confirm of a hold never made, are caught', async (t) => {
  const run = stocked(5)
    .op(3, 'read-item', { sku: 's' }, ok({ on_hand: 5, reserved: 1, available: 5 }), 10, 11)
    .op(1, 'hold', hold('r1', 1), fail('insufficient_stock'), 12, 13)
    .op(1, 'confirm', { id: 'r1' }, ok({ status: 'confirmed' }), 14, 15)
    .parsed();
  t.same(checkReservations(run).anomalies.map((anomaly) => anomaly.kind), ['inconsistent-item', 'confirm-without-hold']);
});

t.test('a run whose final phase read no item is unknown, not valid', async (t) => {
  const confirmed = (): HistoryBuilder =>
    stocked(5)
      .op(1, 'hold', hold('r1', 3), ok({ status: 'created' }), 10, 11)
      .op(1, 'confirm', { id: 'r1' }, ok({ status: 'confirmed' }), 12, 13)
      .nemesis('final-phase', 20);
  const unread = confirmed().op(11, 'read-item', { sku: 's' }, fail('no_leader'), 21, 22).parsed();
  const verdict = checkReservations(unread);
  t.same(verdict.anomalies, []);
  t.equal(verdict.valid, 'unknown', 'nothing was read after recovery, so nothing after recovery was checked');
  t.same(verdict.stats.skusWithoutFinalRead, ['s']);
  const read = confirmed().op(11, 'read-item', { sku: 's' }, item(2, 0), 21, 22).parsed();
  t.equal(checkReservations(read).valid, true, 'with a final read of the sku the run passes');
});
