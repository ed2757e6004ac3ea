// The clock-rate nemeses. Their rates: inside the bound a lease never
// outlasts a follower's vote refusal, beyond it a slowed leader's does. The
// runner refuses clock-rate-beyond while lease reads are held to
// linearizability or stale reads to their bounds. And as real processes: a node the nemesis restarts runs
// its monotonic clock at the rate it chose, and at the normal rate again
// after the stop. The clock a node runs on is read from outside through its
// stale reads: after a linearizable read proves the node fresh as of its own
// performance.now(), X-Staleness-Ms of each stale read is that clock's time
// since (stretched by the drift), so it grows at the node's clock rate per
// real millisecond. Needs
// libfaketime (scripts/jepsen-install.sh); skips and says why without it.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Prng } from '../../src/lib/prng.js';
import { type Cluster, sleep } from './cluster.js';
import { clockRate, clockRateBeyond, clockRateUnavailable, leaseCanOutlastRefusal } from './nemesis-clock-rate.js';
import { faketimeLibrary } from './nemesis-clock.js';
import { clockCheckRefusal, resolveNemeses } from './nemeses.js';
import { startNemesisCluster } from './nemesis-test-cluster.js';

const TARGETS = ['leader', 'follower'] as const;

t.test('rates inside the bound keep every lease inside the vote refusal; beyond it a slowed leader\'s lease outlasts it', async (t) => {
  for (const drift of [0.05, 0.1, 0.2, 0.4]) {
    for (const electionTicks of [10, 20, 50]) {
      for (const target of TARGETS) {
        for (const factor of [0, 1]) {
          const pick = <T>(items: readonly T[]): T => items[factor * (items.length - 1)] as T;
          const within = clockRate('within', target, drift, pick);
          const beyond = clockRate('beyond', target, drift, pick);
          const [leaderWithin, followerWithin] = target === 'leader' ? [within, 1] : [1, within];
          t.notOk(leaseCanOutlastRefusal(leaderWithin, followerWithin, electionTicks, drift), `within, ${target} at x${within}, drift ${drift}, ${electionTicks} election ticks`);
          t.ok(Math.abs(within - 1) <= drift + 1e-9 && within !== 1, `within: a ${target} off by at most the drift ratio (x${within})`);
          const [leaderBeyond, followerBeyond] = target === 'leader' ? [beyond, 1] : [1, beyond];
          t.ok(leaseCanOutlastRefusal(leaderBeyond, followerBeyond, electionTicks, drift), `beyond, ${target} at x${beyond}, drift ${drift}, ${electionTicks} election ticks`);
        }
      }
    }
  }
  const first = <T>(items: readonly T[]): T => items[0] as T;
  t.equal(clockRate('beyond', 'leader', 0.1, first), 0.545, 'ledgerd\'s default drift: a leader at about half speed');
  t.equal(clockRate('within', 'leader', 0.1, first), 0.95);
  t.equal(clockRate('within', 'follower', 0.1, first), 1.05);
});

t.test('clock-rate-beyond runs only with lease reads and staleness bounds not held', async (t) => {
  t.notOk(resolveNemeses('all').some((n) => n.name === 'clock-rate-beyond'), '`all` leaves it out');
  t.ok(resolveNemeses('all').some((n) => n.name === 'clock-rate'), '`all` has the variant inside the bound');
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.js');
  const out = mkdtempSync(path.join(tmpdir(), 'jepsen-rate-cli-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const refused = spawnSync(process.execPath, [cli, '--nemesis', 'clock-rate-beyond', '--out', path.join(out, 'run')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(refused.status, 2, 'bad arguments');
  t.match(refused.stderr, /clock-rate-beyond.*--no-lease-linearizable and --no-staleness-bounds/s, 'the refusal names the nemesis and the flags');
  const beyond = resolveNemeses('clock-rate-beyond');
  t.ok(clockCheckRefusal(beyond, { leaseLinearizable: false, stalenessBounds: true }), 'refused with the staleness bounds still held');
  t.ok(clockCheckRefusal(beyond, { leaseLinearizable: true, stalenessBounds: false }), 'refused with lease reads still held');
  t.equal(clockCheckRefusal(beyond, { leaseLinearizable: false, stalenessBounds: false }), undefined, 'run with both relaxed');
  t.equal(clockCheckRefusal(resolveNemeses('all'), { leaseLinearizable: true, stalenessBounds: true }), undefined, 'every other nemesis runs with both held');
  const contradicting = spawnSync(process.execPath, [cli, '--check', out, '--strict', '--no-lease-linearizable'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(contradicting.status, 2);
  t.match(contradicting.stderr, /--strict contradicts/);
});

/**
 * The node's clock rate: its clock's milliseconds per real millisecond, over
 * `realMs`. X-Staleness-Ms is the node's own measure stretched by
 * 1 / (1 - drift) (the slowest clock the drift allows, docs/node.md), so
 * the growth is shrunk back by that much.
 */
async function measuredRate(cluster: Cluster, id: string, realMs: number): Promise<number> {
  const url = cluster.node(id).url;
  const read = (consistency: string) => cluster.client.send(url, { method: 'GET', path: `/v1/accounts/rate-probe?consistency=${consistency}` });
  let fresh = false;
  for (const deadline = Date.now() + 40_000; !fresh && Date.now() < deadline; ) {
    const outcome = await read('linearizable');
    fresh = outcome.kind === 'answer' && outcome.answer.status === 200;
    if (!fresh) await sleep(200);
  }
  if (!fresh) throw new Error(`${id} served no linearizable read within 40 s`);
  const staleRead = async (): Promise<{ nodeMs: number; realMs: number }> => {
    const sent = performance.now();
    const outcome = await read('stale');
    const answered = performance.now();
    const header = outcome.kind === 'answer' ? outcome.answer.headers['x-staleness-ms'] : undefined;
    if (header === undefined) throw new Error(`${id}: a stale read without X-Staleness-Ms: ${JSON.stringify(outcome)}`);
    return { nodeMs: Number(header), realMs: (sent + answered) / 2 };
  };
  const before = await staleRead();
  await sleep(realMs);
  const after = await staleRead();
  return ((after.nodeMs - before.nodeMs) * (1 - cluster.maxClockDriftRatio)) / (after.realMs - before.realMs);
}

const unavailable = clockRateUnavailable();

t.test('a node the nemesis restarts runs its monotonic clock at the chosen rate, and at the normal rate after the stop', { skip: unavailable ?? false }, async (t) => {
  // 20 ms ticks: the nemesis's cut lasts three election timeouts, 1.5 s here.
  const { cluster, history } = await startNemesisCluster(t, 'jepsen-rate-', { clockRateLibrary: faketimeLibrary(), tickMs: 20, electionTicks: 25 });
  const leader = await cluster.waitForLeader(30_000);
  const created = await cluster.client.send(cluster.node(leader).url, { method: 'POST', path: '/v1/accounts', body: { id: 'rate-probe', ledger: 'EUR' } });
  t.equal(created.kind === 'answer' && created.answer.status < 300, true, 'the probe account exists');

  // Seed 4 targets the leader (at x0.545): the nemesis's hand-over of leadership is exercised too.
  const seed = 4;
  const fault = await clockRateBeyond.start({ cluster, history, rng: new Prng(seed), log: (line) => t.comment(line) });
  t.comment(`seed ${seed}: ${JSON.stringify(fault.details)}`);
  const node = fault.details.node as string;
  const rate = fault.details.rate as number;
  t.ok(Math.abs(rate - 1) > 0.3, `a rate far from 1 (x${rate})`);
  t.equal(fault.details.target, 'leader');
  const underRate = await measuredRate(cluster, node, 1_500);
  t.ok(Math.abs(underRate / rate - 1) < 0.15, `${node}'s clock runs at x${underRate.toFixed(3)}, the nemesis chose x${rate}`);
  t.equal(cluster.node(node).clockRate, rate);

  const stopped = await fault.stop();
  t.comment(JSON.stringify(stopped));
  t.equal(stopped.restarted, true, 'it was restarted under the rate');
  t.equal((stopped.leadership as { ok?: boolean } | undefined)?.ok, true, 'and led, with its slow clock measuring its lease');
  t.equal(stopped.isolated, node, 'then its peer links were cut');
  t.equal(cluster.node(node).clockRate, undefined);
  const afterStop = await measuredRate(cluster, node, 1_500);
  t.ok(Math.abs(afterStop - 1) < 0.1, `${node}'s clock runs at x${afterStop.toFixed(3)} after the stop`);
});
