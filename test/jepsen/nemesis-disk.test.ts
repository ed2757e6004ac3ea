// The disk nemesis heals what it broke: a node whose disk filled up either
// exits or stays up with its storage failed (it then stops its Raft protocol
// until an operator frees space and restarts it, docs/node.md). Healing must
// leave the node serving again in both cases; when it only restarted nodes
// that had exited, a storage-failed node stayed frozen through the final
// phase of a run (the seed-11 all-nemesis run: n2, the tmpfs node, without a
// leader). Needs root on Linux (the tmpfs); skips and says why otherwise.

import t from 'tap';
import { Prng } from '../../src/lib/prng.js';
import { sleep } from './cluster.js';
import { diskFull, diskUnavailable, DISK_TMPFS_MIB } from './nemesis-disk.js';
import { startNemesisCluster } from './nemesis-test-cluster.js';

const unavailable = diskUnavailable();

t.test('healing a full disk leaves the node ready again', { skip: unavailable ?? false }, async (t) => {
  const { cluster, history } = await startNemesisCluster(t, 'jepsen-disk-', { tmpfsNodes: new Map([['n3', DISK_TMPFS_MIB]]) });
  const fault = await diskFull.start({ cluster, history, rng: new Prng(1), log: (line) => t.comment(line) });
  t.equal(fault.details.node, 'n3', 'the tmpfs node is full');

  // Writes reach n3's WAL until it fails (storage failed, or exited).
  const broken = async (): Promise<string | undefined> => {
    if (!cluster.node('n3').child) return 'exited';
    return (await cluster.storageFailed('n3')) ? 'storage failed' : undefined;
  };
  let how: string | undefined;
  for (let i = 0; i < 2000 && how === undefined; i++) {
    const leader = (await cluster.findLeader()) ?? 'n1';
    await cluster.client.send(cluster.node(leader).url, { method: 'POST', path: '/v1/accounts', body: { id: `acct-${i}`, ledger: 'EUR', metadata: { pad: 'x'.repeat(3000) } } });
    if (i % 10 === 0) how = await broken();
  }
  how ??= await broken();
  t.ok(how, `n3 broke on the full disk: ${how}`);

  const healed = await fault.stop();
  t.comment(JSON.stringify(healed));
  let ready = false;
  for (const deadline = Date.now() + 60_000; !ready && Date.now() < deadline; await sleep(200)) {
    const outcome = await cluster.client.send(cluster.node('n3').url, { method: 'GET', path: '/readyz' });
    ready = outcome.kind === 'answer' && outcome.answer.status === 200;
  }
  t.ok(ready, `n3 is ready again after the heal (it had ${how})`);
});
