// Real processes: a leader killed with SIGKILL in the middle of a write load
// loses no acknowledged transfer, every replica converges to the same
// balances, and double entry holds.

import t from 'tap';
import { call, ProcessCluster, type NodeProcess } from './harness.js';
import { sleep } from '../support/helpers.js';
import { required } from '../support/api-json.js';

const ACCOUNTS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'];

t.test('kill -9 of the leader under load loses no acknowledged transfer', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  await cluster.start(['n1', 'n2', 'n3']);
  const first = await cluster.waitForLeader();
  const created = await call(first.url, 'POST', '/v1/accounts', { accounts: ACCOUNTS.map((id) => ({ id, ledger: 'USD' })) });
  t.equal(created.status, 200);

  const acknowledged = new Set<string>();
  const attempted = new Set<string>();
  let stop = false;
  let uncertain = 0;
  const writer = async (w: number): Promise<void> => {
    for (let n = 0; !stop; n++) {
      const id = `w${w}-${n}`;
      const from = ACCOUNTS[(w + n) % ACCOUNTS.length] as string;
      const to = ACCOUNTS[(w + n + 1 + (n % 3)) % ACCOUNTS.length] as string;
      attempted.add(id);
      // Retry with the same id until the outcome is known: idempotency makes it safe.
      for (let attempt = 0; attempt < 40 && !stop; attempt++) {
        const targets = cluster.running();
        const node = targets[(n + attempt) % Math.max(1, targets.length)] as NodeProcess | undefined;
        if (!node) break;
        try {
          const answer = await call(node.url, 'POST', '/v1/transfers', { id, debit_account_id: from, credit_account_id: to, amount: 1 + (n % 7), ledger: 'USD' });
          const status = answer.body?.results?.[0]?.status;
          if (answer.status === 200 && (status === 'created' || status === 'exists')) {
            acknowledged.add(id);
            break;
          }
          uncertain++;
        } catch {
          uncertain++;
        }
        await sleep(50);
      }
    }
  };
  const writers = [0, 1, 2, 3].map((w) => writer(w));

  await sleep(1500);
  const victim = await cluster.waitForLeader();
  const ackedBeforeKill = acknowledged.size;
  cluster.kill9(victim.id);
  t.comment(`killed leader ${victim.id} with SIGKILL after ${ackedBeforeKill} acknowledged transfers`);
  await sleep(2000);
  await cluster.restart(victim.id);
  await sleep(1500);
  stop = true;
  await Promise.all(writers);
  t.ok(acknowledged.size > ackedBeforeKill, `writes went on after the kill (${acknowledged.size} acknowledged, ${uncertain} retried answers)`);

  const leader = await cluster.waitForLeader();
  // Every acknowledged transfer is there, read linearizably.
  const missing: string[] = [];
  for (const id of acknowledged) {
    const answer = await call(leader.url, 'GET', `/v1/transfers/${id}`);
    if (answer.status !== 200 || answer.body.status !== 'posted') missing.push(id);
  }
  t.same(missing, [], `all ${acknowledged.size} acknowledged transfers are posted`);

  // Every replica reaches the same state at the same index, and debits equal credits.
  const index = Number((await call(leader.url, 'GET', '/v1/cluster')).body.commit_index);
  const states: string[] = [];
  for (const node of cluster.running()) {
    const answer = await call(node.url, 'GET', `/v1/accounts?ids=${ACCOUNTS.join(',')}&consistency=stale&min_index=${index}&wait_ms=10000`);
    t.equal(answer.status, 200, `${node.id} caught up to ${index}`);
    const accounts = (answer.body.accounts ?? []).map((a) => required(a, 'account'));
    const debits = accounts.reduce((sum, a) => sum + BigInt(a.debits_posted), 0n);
    const credits = accounts.reduce((sum, a) => sum + BigInt(a.credits_posted), 0n);
    t.equal(debits, credits, `double entry holds on ${node.id}`);
    states.push(JSON.stringify(accounts.map((a) => [a.id, a.balance, a.debits_posted, a.credits_posted])));
  }
  t.equal(new Set(states).size, 1, 'every replica has the same balances');

  // Nothing was applied that no client asked for.
  const applied = await call(leader.url, 'GET', `/v1/accounts?ids=${ACCOUNTS.join(',')}`);
  const totalDebits = (applied.body.accounts ?? []).map((a) => required(a, 'account')).reduce((sum, a) => sum + BigInt(a.debits_posted), 0n);
  let ceiling = 0n;
  for (const id of attempted) {
    const n = Number(id.slice(id.indexOf('-') + 1));
    ceiling += BigInt(1 + (n % 7));
  }
  t.ok(totalDebits <= ceiling, 'no transfer beyond those attempted');
});
