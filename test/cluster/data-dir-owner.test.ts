// One owner per data directory (issue 13 point 3), with real processes: a
// second ledgerd on a node's --data is refused while the first keeps serving;
// SIGKILL leaves no lock behind; a directory recorded for another node or
// another cluster refuses to start and says which.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { call, freePort, ProcessCluster } from './harness.js';
import { killAll, startProcess, type Started } from './ledgerd-process.js';

t.test('a data directory has one owner, survives SIGKILL, and belongs to one node of one cluster', async (t) => {
  const cluster = new ProcessCluster();
  const started: Started[] = [];
  t.teardown(async () => {
    killAll(started);
    await cluster.close();
  });
  await cluster.startStableTrio(['--cluster-id', 'cluster-a']);
  const n1 = cluster.node('n1');
  const created = await call(n1.url, 'POST', '/v1/accounts', { accounts: [{ id: 'a1', ledger: 'USD' }, { id: 'a2', ledger: 'USD' }] });
  t.equal(created.status, 200, JSON.stringify(created.body));
  t.same(JSON.parse(readFileSync(path.join(n1.dataDir, 'identity.json'), 'utf8')), { format: 1, node_id: 'n1', cluster_id: 'cluster-a' },
    'the directory records its node and cluster');
  const peers = `n1=${n1.url},n2=${cluster.node('n2').url},n3=${cluster.node('n3').url}`;
  const secondStart = async (args: readonly string[]): Promise<string> => {
    const port = await freePort();
    const second = startProcess(['--listen', `127.0.0.1:${port}`, '--data', n1.dataDir, '--peers', peers, '--log-level', 'warn', ...args]);
    started.push(second);
    const exit = await second.exitWithin(15_000);
    t.not(exit, 'timeout', 'the second process does not keep running');
    t.not(exit !== 'timeout' && exit.code, 0, 'and exits non-zero');
    return second.stderr();
  };

  const refused = await secondStart(['--id', 'n1', '--cluster-id', 'cluster-a']);
  t.match(refused, new RegExp(`data directory ${n1.dataDir} is in use by another process \\(pid ${n1.child?.pid} `), 'names the holder');
  t.notMatch(refused, /\n\s+at /, 'one line, no stack trace');
  const transfer = { id: 't1', debit_account_id: 'a1', credit_account_id: 'a2', amount: '7', ledger: 'USD' };
  const after = await call(n1.url, 'POST', '/v1/transfers', transfer);
  t.equal(after.status, 200, `the first process keeps working: ${JSON.stringify(after.body)}`);
  t.equal((await call(n1.url, 'GET', '/v1/accounts/a2')).body.credits_posted, '7');

  cluster.kill9('n1');
  await cluster.restart('n1');
  // Healthy is not serving: if n1 led, the others elect first and n1 learns the new leader.
  let read = await call(n1.url, 'GET', '/v1/accounts/a2?wait_ms=5000');
  for (let attempt = 0; attempt < 10 && read.status === 503; attempt++) read = await call(n1.url, 'GET', '/v1/accounts/a2?wait_ms=5000');
  t.equal(read.status, 200, 'after SIGKILL the node restarts on its directory');
  t.equal(read.body.credits_posted, '7', 'with what it had');

  await cluster.stopNode('n1');
  t.match(await secondStart(['--id', 'n2', '--cluster-id', 'cluster-a']),
    new RegExp(`data directory ${n1.dataDir} belongs to node n1, not n2`), 'another node id refuses, naming the owner');
  t.match(await secondStart(['--id', 'n1', '--cluster-id', 'cluster-b']),
    new RegExp(`data directory ${n1.dataDir} belongs to cluster cluster-a, not cluster-b`), 'another cluster refuses, naming both');
});

t.test('a joining node learns the cluster id from the member, and refuses a directory of another cluster', async (t) => {
  const cluster = new ProcessCluster();
  const other = new ProcessCluster();
  const started: Started[] = [];
  t.teardown(async () => {
    killAll(started);
    await cluster.close();
    await other.close();
  });
  await cluster.start(['n1']);
  await other.start(['n4'], ['--cluster-id', 'other-cluster']);
  const n1 = cluster.node('n1');
  const clusterId = (await call(n1.url, 'GET', '/v1/cluster')).headers['x-raft-cluster-id'];
  t.match(clusterId, /^c-[0-9a-f]{16}$/, 'without --cluster-id, founders derive one; answers carry it');

  const added = await call(n1.url, 'POST', '/v1/cluster/members', { id: 'n4', url: other.node('n4').url, voter: false });
  t.equal(added.status, 200, JSON.stringify(added.body));
  await other.stopNode('n4');
  const port = await freePort();
  const joiner = startProcess(['--id', 'n4', '--listen', `127.0.0.1:${port}`, '--data', other.node('n4').dataDir, '--join', n1.url, '--log-level', 'warn']);
  started.push(joiner);
  const exit = await joiner.exitWithin(15_000);
  t.not(exit !== 'timeout' && exit.code, 0, 'exits non-zero');
  t.match(joiner.stderr(), new RegExp(`belongs to cluster other-cluster, not ${clusterId}`), 'names both clusters');

  const fresh = await cluster.startJoiner('n5', n1.url);
  t.same(JSON.parse(readFileSync(path.join(fresh.dataDir, 'identity.json'), 'utf8')), { format: 1, node_id: 'n5', cluster_id: clusterId },
    'an empty directory that joins records the member\'s cluster id');
});
