// Real processes: under a write load, a new node joins with --join, is added
// as a learner, catches up by snapshot, is promoted to voter; then a founding
// member is removed. No acknowledged write is lost and every member ends with
// the same state.

import t from 'tap';
import { call, ProcessCluster, type NodeProcess } from './harness.js';
import { sleep, waitFor } from '../support/helpers.js';
import { clusterStatusOf } from '../support/api-json.js';

t.test('a member is added (joining by snapshot) and another removed under load', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  await cluster.start(['n1', 'n2', 'n3'], ['--snapshot-entries', '50', '--snapshot-retain-entries', '0']);
  const leader = await cluster.waitForLeader();
  t.equal((await call(leader.url, 'POST', '/v1/accounts', { accounts: [{ id: 'x', ledger: 'EUR' }, { id: 'y', ledger: 'EUR' }] })).status, 200);

  const acknowledged: string[] = [];
  let stop = false;
  // A failed step must not leave the writers looping until tap's timeout.
  t.teardown(() => {
    stop = true;
  });
  const writer = async (w: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const id = `m${w}-${n}`;
      for (let attempt = 0; attempt < 40 && !stop; attempt++) {
        const nodes = cluster.running().filter((node) => node.id !== 'n4');
        const node = nodes[(n + attempt) % nodes.length] as NodeProcess;
        try {
          const answer = await call(node.url, 'POST', '/v1/transfers', { id, debit_account_id: 'x', credit_account_id: 'y', amount: 1, ledger: 'EUR' });
          const status = answer.body?.results?.[0]?.status;
          if (answer.status === 200 && (status === 'created' || status === 'exists')) {
            acknowledged.push(id);
            break;
          }
        } catch {
          // a node going away: try another
        }
        await sleep(30);
      }
    }
  };
  const writers = [0, 1, 2].map((w) => writer(w));
  // Until the leader has compacted (a slow machine needs longer than a fast one to write that far).
  const snapshotIndex = async (): Promise<number> => clusterStatusOf(await call(leader.url, 'GET', '/v1/cluster')).snapshot_index;
  await waitFor('the leader to compact its log', async () => (await snapshotIndex()) > 0, 30_000, 100).catch(() => undefined);
  const compactedAt = await snapshotIndex();
  t.ok(compactedAt > 0, `the leader compacted its log (snapshot at ${compactedAt}): a new node can only start from a snapshot`);
  const joiner = await cluster.startJoiner('n4', leader.url);
  const added = await call(cluster.node('n1').url, 'POST', '/v1/cluster/members', { id: 'n4', url: joiner.url, voter: true });
  t.equal(added.status, 200, `member added: ${JSON.stringify(added.body)}`);

  const promoted = async (): Promise<boolean> =>
    clusterStatusOf(await call((await cluster.waitForLeader()).url, 'GET', '/v1/cluster')).members.some((m) => m.id === 'n4' && m.voter);
  t.ok(await waitFor('n4 to be promoted', promoted, 20_000, 100).catch(() => false), 'the learner was promoted to voter once caught up');
  const n4View = clusterStatusOf(await call(joiner.url, 'GET', '/v1/cluster'));
  t.ok(n4View.snapshot_index >= compactedAt, `n4 caught up by snapshot (snapshot index ${n4View.snapshot_index})`);

  const removed = await call(cluster.node('n3').url, 'DELETE', '/v1/cluster/members/n2');
  t.equal(removed.status, 200, `member removed: ${JSON.stringify(removed.body)}`);
  await sleep(500);
  await cluster.stopNode('n2');
  await sleep(1000);
  stop = true;
  await Promise.all(writers);
  t.ok(acknowledged.length > 50, `${acknowledged.length} transfers acknowledged during the changes`);

  const final = await cluster.waitForLeader();
  const status = clusterStatusOf(await call(final.url, 'GET', '/v1/cluster'));
  t.same(
    status.members.map((m) => `${m.id}:${m.voter ? 'voter' : 'learner'}`).sort(),
    ['n1:voter', 'n3:voter', 'n4:voter'],
    'membership is n1, n3, n4',
  );
  const y = await call(final.url, 'GET', '/v1/accounts/y');
  t.equal(y.body.credits_posted, String(new Set(acknowledged).size), 'every acknowledged transfer was applied exactly once');
  for (const id of ['n1', 'n3', 'n4']) {
    const answer = await call(cluster.node(id).url, 'GET', `/v1/accounts/y?consistency=stale&min_index=${status.commit_index}&wait_ms=10000`);
    t.equal(answer.body.credits_posted, y.body.credits_posted, `${id} has the same balance`);
  }
});
