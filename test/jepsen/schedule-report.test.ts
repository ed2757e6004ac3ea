// The fault schedule replays from its seed and runs every selected nemesis at
// least once when there is time; the report's availability per fault kind is
// the share of operations invoked inside that kind's windows that were ok.

import t from 'tap';
import { Prng } from '../../src/lib/prng.js';
import type { HistoryEvent } from './history-writer.js';
import { schedule } from './nemesis.js';
import { ALL_NEMESES, resolveNemeses } from './nemeses.js';
import { renderReport, summarize } from './report.js';

const options = { timeLimitMs: 300_000, quietMs: [2000, 5000] as const, faultMs: [4000, 9000] as const };

t.test('same seed, same schedule; every nemesis at least once', async (t) => {
  const first = schedule(ALL_NEMESES, new Prng(42), options).map((f) => [f.nemesis.name, f.atMs, f.durationMs]);
  const again = schedule(ALL_NEMESES, new Prng(42), options).map((f) => [f.nemesis.name, f.atMs, f.durationMs]);
  const other = schedule(ALL_NEMESES, new Prng(43), options).map((f) => [f.nemesis.name, f.atMs, f.durationMs]);
  t.same(again, first);
  t.not(JSON.stringify(other), JSON.stringify(first));
  t.same(new Set(first.map((f) => f[0])), new Set(ALL_NEMESES.map((n) => n.name)));
  const last = first[first.length - 1] as number[];
  t.ok((last[1] as number) + (last[2] as number) <= options.timeLimitMs, 'no fault beyond the first round outlasts the time limit');
});

t.test('a time limit too short for every nemesis still schedules each once', async (t) => {
  const faults = schedule(ALL_NEMESES, new Prng(7), { ...options, timeLimitMs: 10_000 });
  t.equal(faults.length, ALL_NEMESES.length);
  t.ok(faults.every((f) => f.required));
  t.same(new Set(faults.map((f) => f.nemesis.name)), new Set(ALL_NEMESES.map((n) => n.name)));
});

t.test('--nemesis names and groups', async (t) => {
  t.same(resolveNemeses('partition,kill-leader').map((n) => n.name), ['partition-random-halves', 'partition-leader', 'partition-majorities-ring', 'partition-bridge', 'partition-one-way', 'kill-leader']);
  t.throws(() => resolveNemeses('partition,flood'), /unknown nemesis "flood"/);
  t.same(resolveNemeses('none'), [], '"none", the CLI default, names no nemesis');
});

const S = 1e9;
function op(process: number, f: string, startS: number, endS: number, type: 'ok' | 'fail' | 'info'): HistoryEvent[] {
  return [
    { type: 'invoke', process, f, value: {}, time: startS * S, node: 'n1' },
    { type, process, f, value: {}, time: endS * S, node: 'n1', ...(type === 'ok' ? {} : { error: 'no_leader' }) },
  ];
}

t.test('availability per fault kind', async (t) => {
  const events: HistoryEvent[] = [
    ...op(0, 'transfer', 0.1, 0.2, 'ok'),
    ...op(0, 'transfer', 0.5, 0.6, 'ok'),
    { type: 'info', process: -1, f: 'start-partition', value: { nemesis: 'partition-leader', window: 0 }, time: 1 * S },
    ...op(0, 'transfer', 1.1, 1.5, 'ok'),
    ...op(1, 'read-balances', 1.2, 1.3, 'fail'),
    ...op(2, 'transfer', 1.4, 2.5, 'info'),
    ...op(1, 'read-balances', 1.5, 1.6, 'fail'),
    { type: 'info', process: -1, f: 'stop-partition', value: { nemesis: 'partition-leader', window: 0 }, time: 2 * S },
    ...op(0, 'transfer', 2.1, 2.2, 'ok'),
    // setup and final-phase processes are not client operations
    ...op(5, 'transfer', 2.3, 2.4, 'fail'),
  ];
  events.sort((a, b) => a.time - b.time);
  const summary = summarize(events, 3);
  const partition = summary.availability.find((a) => a.kind === 'partition-leader');
  t.match(partition, { windows: 1, ops: 4, ok: 1, fail: 2, info: 1, okShare: 0.25, writeOkShare: 0.5, readOkShare: 0 });
  t.match(summary.availability.find((a) => a.kind === 'no fault'), { ops: 3, ok: 3, okShare: 1 });
  t.equal(summary.totals.ops, 7);
  const html = renderReport({ run: { seed: 1, nodes: 3, workload: 'bank', nemeses: ['partition-leader'] }, report: { valid: false }, summary });
  t.match(html, /INVALID/);
  t.match(html, /partition-leader/);
  t.notMatch(html, /<script src|<link |https?:\/\/(?!www\.w3\.org)/, 'no external assets');
  t.notMatch(html, /relaxed checks/);
  const relaxed = renderReport({ run: { seed: 1, nodes: 3, workload: 'bank', nemeses: ['clock-rate-beyond'], lease_linearizable: false, staleness_bounds: false }, report: { valid: true }, summary });
  t.match(relaxed, /relaxed checks:<\/b> lease reads not held to linearizability; stale reads not held to max_staleness_ms/, 'a verdict reached with relaxed checks says so');
});
