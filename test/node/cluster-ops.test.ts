// Membership requests on a leader elected moments ago: Raft makes it commit
// an entry of its own term before any change (the single-server change bug),
// which is a state of milliseconds. An operator's request that lands in it
// waits for that entry (within its time) instead of being refused with 409.
// The core is the real RawNode; messages move through the Raft test harness,
// which can hold the new leader's appends to keep its no-op uncommitted.

import t, { type Test } from 'tap';
import { ClusterOps } from '../../src/node/cluster-ops.js';
import { systemScheduler } from '../../src/node/driver-io.js';
import { systemClock } from '../../src/node/node-options.js';
import type { NodeError } from '../../src/node/service.js';
import { TestCluster } from '../raft/harness.js';

const three = ['n1', 'n2', 'n3'];
const silent = { info: () => {}, warn: () => {}, error: () => {} };

/** ClusterOps for `id` over the harness: applying is the harness's committed entries; kick delivers everything. */
function clusterOps(c: TestCluster, id: string): { ops: ClusterOps; settle: () => void } {
  const waiters: { index: number; resolve: (applied: boolean) => void; timer?: NodeJS.Timeout }[] = [];
  const applied = (): number => c.applied.get(id)?.at(-1)?.index ?? 0;
  const settle = (): void => {
    c.stabilize();
    for (const waiter of [...waiters]) {
      if (applied() < waiter.index) continue;
      waiters.splice(waiters.indexOf(waiter), 1);
      clearTimeout(waiter.timer);
      waiter.resolve(true);
    }
  };
  const notLeader = (): NodeError => ({ code: 'no_leader', retryAfterMs: 100 });
  const ops = new ClusterOps({
    nodeId: id,
    initialPeers: new Map(three.map((peer) => [peer, `http://${peer}.test`])),
    raw: c.node(id),
    storage: c.storages.get(id) as NonNullable<ReturnType<typeof c.storages.get>>,
    appliedIndex: applied,
    scheduler: systemScheduler,
    clock: systemClock,
    tickMs: 10,
    logger: silent,
    peersChanged: () => {},
    kick: () => setImmediate(settle),
    waitApplied: (index, timeoutMs) =>
      new Promise((resolve) => {
        if (applied() >= index) return resolve(true);
        const waiter: (typeof waiters)[number] = { index, resolve };
        waiters.push(waiter);
        waiter.timer = setTimeout(() => {
          if (waiters.includes(waiter)) waiters.splice(waiters.indexOf(waiter), 1);
          resolve(false);
        }, timeoutMs);
      }),
    refusal: () => (c.node(id).summary().role === 'leader' ? undefined : notLeader()),
    notLeader,
  });
  return { ops, settle };
}

/** n1 wins an election, but its appends are held: its no-op of the new term is not committed. */
function freshLeaderWithUncommittedNoop(t: Test): TestCluster {
  const c = new TestCluster(three, {}, ['n4']);
  // Outlast the leases of start-up with every link cut, as the Raft tests do.
  c.network.partition(three.map((id) => [id]));
  c.tickAll(10);
  c.heal();
  c.holdIf = (m) => m.type === 'app' && m.from === 'n1';
  c.node('n1').campaign();
  c.stabilize();
  const status = c.node('n1').status();
  t.equal(status.role, 'leader', 'n1 leads');
  t.ok(status.commit < status.lastIndex, `its no-op at ${status.lastIndex} is not committed (commit ${status.commit})`);
  return c;
}

t.test('a member added just after an election waits for the leader\'s first commit, then is added', async (t) => {
  const c = freshLeaderWithUncommittedNoop(t);
  const { ops, settle } = clusterOps(c, 'n1');
  let answered = false;
  const pending = ops.addMember('n4', 'http://n4.test', false, 5000).finally(() => (answered = true));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.notOk(answered, 'not answered (refused) while the no-op is uncommitted');
  c.holdIf = undefined;
  c.release(() => true);
  settle();
  const outcome = await pending;
  t.ok(outcome.ok, `added: ${JSON.stringify(outcome)}`);
  c.stabilize();
  t.same(c.node('n1').status().conf.learners, ['n4'], 'n4 is a learner in force on the leader');
});

t.test('if the leader never commits an entry of its term in time, the request is refused with the reason, not left hanging', async (t) => {
  const c = freshLeaderWithUncommittedNoop(t);
  const { ops } = clusterOps(c, 'n1');
  const started = Date.now();
  const outcome = await ops.addMember('n4', 'http://n4.test', false, 300);
  t.notOk(outcome.ok);
  if (!outcome.ok) {
    t.equal(outcome.error.code, 'cluster_change_refused');
    t.match('message' in outcome.error ? outcome.error.message : '', /has not committed an entry in its term/);
  }
  t.ok(Date.now() - started >= 290, 'after the request\'s time');
  t.same(c.node('n1').status().conf.learners, [], 'and nothing changed');
});

t.test('a leadership transfer the core abandoned (its target too slow for an election timeout) is tried again while the request has time', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  const { ops, settle } = clusterOps(c, 'n1');
  // The first TimeoutNow is lost: n2 never starts its election, and n1 gives the transfer up after an election timeout.
  let lost = 0;
  c.holdIf = (m) => m.type === 'timeoutNow' && lost++ === 0;
  const ticker = setInterval(() => {
    c.tick(three, 1);
    settle();
  }, 5);
  t.teardown(() => clearInterval(ticker));
  const outcome = await ops.transferLeadership('n2', 5000);
  clearInterval(ticker);
  t.equal(c.held.filter((m) => m.type === 'timeoutNow').length, 1, 'the first TimeoutNow was lost');
  t.same(outcome, { ok: true, value: { leader: 'n2' } }, 'leadership moved to n2 on a later round');
  t.equal(c.node('n2').status().role, 'leader');
});
