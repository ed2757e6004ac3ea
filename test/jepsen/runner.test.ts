// A short real run (3 ledgerd processes, a leader partition) writes a run
// folder a checker can rely on: every operation invoked once and completed at
// most once by the same process, times never decreasing, each fault's start
// and stop sharing a window, a final phase on every node that found the
// transfers acknowledged during the run, and the report files.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { HistoryEvent } from './history-writer.js';
import { resolveNemeses } from './nemeses.js';
import { countOnlyChecker, finalPhaseWaitMs, run, UNKNOWN_WRITE_SETTLE_MS } from './runner.js';

t.test('the final phase starts only once no write of unknown outcome can still arrive', async (t) => {
  t.equal(finalPhaseWaitMs(0, 1_000_000), 0, 'no unknown write: no wait');
  t.equal(finalPhaseWaitMs(1_000_000, 1_000_000 + 6_000), UNKNOWN_WRITE_SETTLE_MS - 6_000, 'a write invoked 6 s ago may still be forwarded for the rest of the forward timeout');
  t.equal(finalPhaseWaitMs(1_000_000, 1_000_000 + UNKNOWN_WRITE_SETTLE_MS + 1), 0, 'an older one cannot arrive any more');
  t.ok(UNKNOWN_WRITE_SETTLE_MS > 15_000, 'longer than ledgerd\'s forward timeout');
});

t.test('a run with a leader partition writes a well-formed history and report', async (t) => {
  const out = mkdtempSync(path.join(tmpdir(), 'jepsen-run-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const seed = 20;
  const lines: string[] = [];
  const result = await run({
    nodes: 3, timeLimitS: 10, concurrency: 4, seed, nemeses: resolveNemeses('partition-leader'), workload: 'bank', out,
    opTimeoutMs: 4000, quietMs: [1000, 1500], faultMs: [3000, 4000], tickMs: 20, electionTicks: 25,
    checker: countOnlyChecker, log: (line) => lines.push(line),
  });
  t.comment(`seed ${seed}\n${lines.join('\n')}`);
  const runInfo = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
  t.equal(runInfo.error, undefined, 'the run did not fail');
  const events = readFileSync(path.join(out, 'history.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as HistoryEvent);

  let lastTime = -1;
  const inFlight = new Map<number, HistoryEvent>();
  const acknowledged = new Set<string>();
  const problems: string[] = [];
  for (const event of events) {
    if (!Number.isSafeInteger(event.time) || event.time < lastTime) problems.push(`time goes back at ${JSON.stringify(event)}`);
    lastTime = event.time;
    if (event.process === -1) continue;
    if (event.type === 'invoke') {
      if (inFlight.has(event.process)) problems.push(`process ${event.process} invoked twice`);
      inFlight.set(event.process, event);
      continue;
    }
    const invoke = inFlight.get(event.process);
    if (!invoke || invoke.f !== event.f || invoke.node !== event.node) problems.push(`completion without its invocation: ${JSON.stringify(event)}`);
    inFlight.delete(event.process);
    if (event.f === 'transfer' && event.type === 'ok') acknowledged.add((invoke?.value as { id: string }).id);
  }
  t.same(problems, [], 'the history is well-formed');
  t.ok(acknowledged.size >= 8, `transfers were acknowledged (${acknowledged.size}, 8 of them funding)`);

  const nemesis = events.filter((e) => e.process === -1 && e.f.endsWith('-partition'));
  t.ok(nemesis.length >= 2, 'at least one partition ran');
  nemesis.forEach((e, i) => {
    t.equal(e.f, i % 2 === 0 ? 'start-partition' : 'stop-partition');
    t.equal((e.value as { window: number }).window, Math.floor(i / 2), 'start and stop share the window number');
  });

  const finalLists = events.filter((e) => e.phase === 'final' && e.type === 'ok' && e.f === 'read-account-transfers');
  t.same(new Set(finalLists.map((e) => e.node)), new Set(['n1', 'n2', 'n3']), 'the final phase read on every node');
  for (const node of ['n1', 'n2', 'n3']) {
    const present = new Set(finalLists.filter((e) => e.node === node).flatMap((e) => (e.value as { ids: string[] }).ids));
    t.same([...acknowledged].filter((id) => !present.has(id)), [], `${node} has every acknowledged transfer`);
  }
  t.equal(result.report.valid, 'unknown', 'the count-only checker decides nothing');
  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  t.match(html, /partition-leader/);
  const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
  t.ok(report.availability.some((a: { kind: string }) => a.kind === 'partition-leader'));
});
