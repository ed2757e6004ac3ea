// The staleness bound of a stale read holds in real time although the node
// measures it on its own clock, which may run slow by up to the drift ratio
// the leases assume: a proof t ms old by the node's clock is up to
// t / (1 - drift) real ms old. Found by the jepsen clock-rate-beyond runs
// (seed 9, 3 nodes): a node at x0.327 served reads bounded by 50 and 200 ms
// that missed writes acknowledged longer ago than that.
// A ReadPath over a real (in-memory) ledger, a clock the test moves, and a
// core that answers every read index at once.

import { Histogram } from 'prom-client';
import t from 'tap';
import { LedgerStateMachine } from '../../src/ledger/index.js';
import { systemScheduler } from '../../src/node/driver-io.js';
import { ReadPath } from '../../src/node/read-path.js';

function readPathAt(drift: number): { reads: ReadPath; setClockMs: (ms: number) => void; readIndexRequests: () => number } {
  let nowMs = 0;
  let requests = 0;
  const ledger = LedgerStateMachine.open(':memory:');
  const reads: ReadPath = new ReadPath({
    nodeId: 'n1',
    raw: {
      readIndex: (id: string) => {
        requests++;
        queueMicrotask(() => reads.readState(id, ledger.appliedIndex()));
      },
      summary: () => ({ commit: ledger.appliedIndex(), lead: 'n1' }) as ReturnType<ConstructorParameters<typeof ReadPath>[0]['raw']['summary']>,
    },
    ledger: () => ledger,
    scheduler: systemScheduler,
    clock: { monotonicMs: () => nowMs, wallMs: () => nowMs },
    metrics: { readStalenessSeconds: new Histogram({ name: 'read_staleness_seconds', help: 'unused', registers: [] }) },
    tickMs: 50,
    freshnessWindowMs: 4000,
    maxClockDriftRatio: drift,
    kick: () => undefined,
    catchUpTicks: () => undefined,
    unavailable: () => undefined,
  });
  return { reads, setClockMs: (ms) => (nowMs = ms), readIndexRequests: () => requests };
}

t.test('a bound is proven from an older proof only if that proof is young enough in real time at the slowest clock', async (t) => {
  const { reads, setClockMs, readIndexRequests } = readPathAt(0.1);
  const fresh = await reads.read({ level: 'linearizable', waitMs: 1000 }, () => 0);
  t.ok(fresh.ok, 'a linearizable read proves the state fresh as of local time 0');
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(readIndexRequests(), 1);

  setClockMs(90);
  const unbounded = await reads.read({ level: 'stale', waitMs: 1000 }, () => 0);
  t.equal(unbounded.ok && unbounded.value.stalenessMs, 100, '90 ms by a clock that may run at 0.9: up to 100 real ms old');
  t.equal(readIndexRequests(), 1, 'an unbounded stale read asks nothing');

  setClockMs(190);
  const bounded = await reads.read({ level: 'stale', waitMs: 1000, maxStalenessMs: 200 }, () => 0);
  t.equal(readIndexRequests(), 2, 'a proof 190 local ms old (up to 212 real ms) does not prove 200 ms: a new read index was asked for');
  t.equal(bounded.ok && bounded.value.stalenessMs, 0, 'and the read is served on the new proof');

  setClockMs(370);
  const within = await reads.read({ level: 'stale', waitMs: 1000, maxStalenessMs: 200 }, () => 0);
  t.equal(readIndexRequests(), 2, 'a proof 180 local ms old (200 real ms at most) proves 200 ms');
  t.equal(within.ok && within.value.stalenessMs, 200);
});

t.test('with no drift allowed the clock is taken as exact', async (t) => {
  const { reads, setClockMs } = readPathAt(0);
  await reads.read({ level: 'linearizable', waitMs: 1000 }, () => 0);
  setClockMs(190);
  const unbounded = await reads.read({ level: 'stale', waitMs: 1000 }, () => 0);
  t.equal(unbounded.ok && unbounded.value.stalenessMs, 190);
});
