// The summary runs the checkers that apply to a history read from a real
// JSON-lines file, gives one overall verdict with every checker's anomalies
// and quoted operations, and measures availability in each nemesis window and
// per fault kind. The history reader refuses bad lines naming the line and the
// field, and counts a missing completion as an unknown outcome.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { HistoryFormatError, pairOperations, parseHistory } from '../history.js';
import { checkEvents, checkHistoryFile } from './summary.js';
import { created, fail, HistoryBuilder, info, ok } from './history-builder.js';

const transfer = (id: string, from: string, to: string, amount: number) => ({ id, from, to, amount: String(amount) });
const ALL = ['bank', 'a', 'b'];

/** Funding, then a partition from 100 to 200 ms with one ok, one fail and one info, and a kill from 300 to 400 ms. */
function run(finalBalances: Record<string, string>): HistoryBuilder {
  return new HistoryBuilder()
    .op(0, 'transfer', transfer('fund-a', 'bank', 'a', 50), created(1), 0, 1)
    .op(0, 'transfer', transfer('fund-b', 'bank', 'b', 50), created(2), 2, 3)
    .op(1, 'transfer', transfer('t0', 'a', 'b', 1), created(3), 10, 20)
    .nemesis('start-partition', 100, { kind: 'isolated-leader' })
    .op(1, 'transfer', transfer('t1', 'a', 'b', 5), created(4), 110, 120)
    .op(2, 'transfer', transfer('t2', 'a', 'b', 5), fail('no_leader'), 120, 121)
    .op(3, 'transfer', transfer('t3', 'b', 'a', 5), info(), 130, 180)
    .nemesis('stop-partition', 200)
    .nemesis('kill', 300, { node: 'n1' })
    .op(1, 'read-account-transfers', { account: 'a' }, ok({ ids: ['fund-a', 't0', 't1'] }), 310, 320)
    .nemesis('restart', 400, { node: 'n1' })
    .nemesis('final-reads', 500)
    .op(1, 'read-transfer', { id: 't3' }, ok({ found: false }), 501, 502)
    .op(1, 'read-balances', { accounts: ALL }, ok({ balances: finalBalances, index: 5 }), 503, 504);
}

t.test('a correct history read from a file is valid, with availability per fault window and kind', async (t) => {
  const directory = mkdtempSync(join(tmpdir(), 'jepsen-summary-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const path = join(directory, 'history.jsonl');
  writeFileSync(path, run({ bank: '-100', a: '44', b: '56' }).lines());
  const report = checkHistoryFile(path);
  t.equal(report.valid, true, JSON.stringify(report.checkers));
  t.same(Object.keys(report.checkers).sort(), ['bank', 'history-prefix', 'linearizability', 'staleness']);
  t.same(report.availability.windows.map((window) => [window.kind, window.startMs, window.endMs, window.ok, window.total]), [
    ['partition', 100, 200, 1, 3],
    ['kill', 300, 400, 1, 1],
  ]);
  t.equal(report.availability.byKind['partition']?.availability, 1 / 3);
  t.same(report.availability.outsideFaults, { ok: 3, fail: 0, info: 0, total: 3, availability: 1 });
  t.same(JSON.parse(JSON.stringify(report)), report, 'the report survives JSON as it is');
});

t.test('a violation makes the whole report invalid and names the checker, anomaly and operations', async (t) => {
  const report = checkEvents(run({ bank: '-100', a: '39', b: '61' }).events);
  t.equal(report.valid, false);
  const bank = report.checkers['bank'];
  t.equal(bank?.valid, false);
  t.equal(bank?.anomalies[0]?.kind, 'double-applied');
  t.ok(bank?.anomalies[0]?.ops.some((event) => (event.value as { id?: string } | undefined)?.id === 't1'));
});

t.test('a history too large for the linearizability limits makes the report unknown, not valid', async (t) => {
  const builder = run({ bank: '-100', a: '44', b: '56' });
  for (let process = 10; process < 16; process++) builder.op(process, 'read-transfer', { id: 't1' }, ok({ found: true, status: 'posted', amount: '5' }), 112, 125);
  const report = checkEvents(builder.events, { linearizability: { maxStatesPerKey: 2 } });
  t.equal(report.checkers['linearizability']?.valid, 'unknown');
  t.equal(report.valid, 'unknown');
  t.equal(checkEvents(builder.events).valid, true, 'within the default limits the same history is valid');
});

t.test('an instant nemesis event and a window still open at the end are measured up to the final phase', async (t) => {
  const report = checkEvents(
    new HistoryBuilder()
      .nemesis('transfer-leadership', 0)
      .op(1, 'read-balances', { accounts: ['a'] }, ok({ balances: { a: '0' } }), 1, 2)
      .nemesis('pause', 10)
      .op(1, 'read-balances', { accounts: ['a'] }, info(), 11, 12)
      .nemesis('final-reads', 20)
      .op(1, 'read-balances', { accounts: ['a'] }, ok({ balances: { a: '0' } }), 21, 22).events,
  );
  t.same(report.availability.windows.map((window) => [window.kind, window.startMs, window.endMs, window.availability]), [
    ['transfer-leadership', 0, 10, 1],
    ['pause', 10, 20, 0],
  ]);
  t.equal(report.availability.windows[1]?.closed, undefined);
});

t.test('a clock-rate window runs from its start to its reset, not to the next event', async (t) => {
  const report = checkEvents(
    new HistoryBuilder()
      .nemesis('clock-rate', 0, { node: 'n1', rate: 0.545 })
      .op(1, 'read-balances', { accounts: ['a'] }, ok({ balances: { a: '0' } }), 1, 2)
      .nemesis('clock-rate-reset', 10, { node: 'n1', rate: 1 })
      .op(1, 'read-balances', { accounts: ['a'] }, info(), 11, 12)
      .nemesis('final-reads', 20)
      .op(1, 'read-balances', { accounts: ['a'] }, ok({ balances: { a: '0' } }), 21, 22).events,
  );
  t.same(report.availability.windows.map((window) => [window.kind, window.startMs, window.endMs, window.availability]), [['clock-rate', 0, 10, 1]]);
  t.equal(report.availability.outsideFaults.total, 1);
});

t.test('the reader names the line and the field of a bad event, and pairs completions per process', async (t) => {
  t.throws(() => parseHistory('{"type":"invoke","process":1,"f":"transfer","time":0,"value":{"id":"x"}}'), {
    name: 'HistoryFormatError', message: /line 1: value of invoke transfer: from: .*/,
  });
  t.throws(() => parseHistory('\n{"type":"done","process":1,"f":"x","time":0}'), { message: /line 2: type:/ });
  t.throws(() => parseHistory('{not json'), HistoryFormatError);
  t.throws(() => pairOperations(parseHistory('{"type":"ok","process":1,"f":"read-item","time":0,"value":{"on_hand":1,"reserved":0}}')), {
    message: /without an open invocation/,
  });
  const history = pairOperations(parseHistory('{"type":"invoke","process":1,"f":"read-item","time":5,"value":{"sku":"s"}}\n'));
  t.equal(history.operations[0]?.outcome, 'info');
  t.equal(history.operations[0]?.ret, Infinity);
});
