// `--net netns` with real ledgerd processes, as root on Linux: each node in a
// network namespace of its own, a cut made of iptables DROP rules. Isolating
// the leader keeps it from its peers (a TCP connect from its namespace to a
// peer times out) but not from the clients; the other two elect a leader
// without it and commit a write that the isolated node does not commit; after
// heal it catches up. Closing leaves no namespace, veth or rule behind, an
// interrupted run (SIGINT) removes its namespaces, and a killed run's
// leftovers are removed when the next run starts. Skips, saying why, where
// namespaces cannot be made (not root, not Linux, a container that forbids
// them, ip/iptables missing: scripts/jepsen-install.sh installs them).

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Client } from './client.js';
import { Cluster, sleep } from './cluster.js';
import { bothWays } from './net.js';
import { NetnsNetwork, netnsUnavailable, ownerTag, runNamespaces } from './netns.js';

const skip = netnsUnavailable() ?? false;
const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cli.js');

/** The host's own firewall and our runner-side links, to compare before and after. */
/**
 * The host's iptables rules, and the host-side links this test process made
 * (rlj<owner pid>...): another run on the machine (a `make jepsen` beside CI) adds
 * and removes its own links meanwhile, which say nothing about this one.
 */
function hostState(owner: number): { iptables: string; links: string[] } {
  const iptables = execFileSync('iptables', ['-w', '5', '-S'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const ours = new RegExp(`^rlj${owner}[a-z]?(@|$)`);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).split('\n').map((l) => l.split(': ')[1] ?? '').filter((n) => ours.test(n));
  return { iptables, links };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

interface Status {
  role: string;
  term: number;
  commit_index: number;
  applied_index: number;
}

async function status(cluster: Cluster, id: string): Promise<Status | undefined> {
  const outcome = await cluster.client.send(cluster.node(id).url, { method: 'GET', path: '/v1/cluster' });
  return outcome.kind === 'answer' && outcome.answer.status === 200 ? (outcome.answer.body as Status) : undefined;
}

/** Whether a TCP connection from node `from`'s namespace to `host:port` opens within 1.5 s. */
function connects(network: NetnsNetwork, from: string, url: string): string {
  const { hostname, port } = new URL(url);
  const script = `const s=require('net').connect(${port},'${hostname}');s.setTimeout(1500,()=>{console.log('timeout');process.exit(0)});s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)})`;
  return network.exec(from, process.execPath, ['-e', script]).trim();
}

t.test('isolating the leader with iptables in its namespace: the others go on without it, it catches up after heal, nothing is left', { skip }, async (t) => {
  const before = hostState(process.pid);
  const root = mkdtempSync(path.join(tmpdir(), 'jepsen-netns-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cluster = new Cluster({ root, nodeCount: 3, spareCount: 0, faketimeLibrary: undefined, tmpfsNodes: new Map(), tickMs: 20, electionTicks: 25, net: 'netns' });
  const network = cluster.net as NetnsNetwork;
  let closed = false;
  t.teardown(async () => {
    if (!closed) await cluster.close();
  });
  await cluster.start();
  const ids = cluster.ids();
  t.same(new Set(runNamespaces().filter((n) => n.startsWith(`rlj-${ownerTag(process.pid)}-`))),
    new Set([...ids, 'hub'].map((id) => network.namespaceOf(id))), 'a namespace per node and the hub');
  for (const id of ids) t.match(cluster.node(id).url, /^http:\/\/10\.213\.\d+\.\d+:7001$/, `${id} listens at its own address`);

  const leader = await cluster.waitForLeader(60_000);
  const others = ids.filter((id) => id !== leader);
  const [a, b] = others as [string, string];
  const leaderStatus = (await status(cluster, leader)) as Status;
  t.equal(connects(network, leader, cluster.node(a).url), 'connected', 'before the cut the leader reaches its peers');

  await network.drop(bothWays([leader], others));
  t.equal(network.rules(leader).length, 2, 'the isolated node drops what both peers send');
  t.same(network.rules(a), [`-A INPUT -s ${new URL(cluster.node(leader).url).hostname}/32 -j DROP`], 'a peer drops what the isolated node sends');
  t.same(network.blocked().sort(), bothWays([leader], others).map(([x, y]) => `${x}->${y}:drop`).sort());
  t.equal(connects(network, leader, cluster.node(a).url), 'timeout', 'the isolated node cannot open a connection to a peer');
  t.equal(connects(network, a, cluster.node(leader).url), 'timeout', 'a peer cannot open a connection to the isolated node');
  t.equal(connects(network, a, cluster.node(b).url), 'connected', 'the two others still reach each other');
  const health = await cluster.client.send(cluster.node(leader).url, { method: 'GET', path: '/healthz' });
  t.equal(health.kind === 'answer' ? health.answer.status : health.error, 200, 'clients still reach the isolated node');

  const newLeader = await until('no leader among the majority', 30_000, async () => {
    for (const id of others) {
      const s = await status(cluster, id);
      if (s?.role === 'leader') return { id, term: s.term };
    }
    return undefined;
  });
  t.ok(newLeader.term > leaderStatus.term, `the majority elected ${newLeader.id} in a later term (${leaderStatus.term} -> ${newLeader.term})`);

  const url = cluster.node(newLeader.id).url;
  const accounts = await cluster.client.send(url, { method: 'POST', path: '/v1/accounts', body: { accounts: [{ id: 'netns-a', ledger: 'USD' }, { id: 'netns-b', ledger: 'USD' }] } });
  t.equal(accounts.kind === 'answer' ? accounts.answer.status : accounts.error, 200, 'accounts created through the majority');
  const write = await cluster.client.send(url, { method: 'POST', path: '/v1/transfers', body: { id: 'netns-t1', debit_account_id: 'netns-a', credit_account_id: 'netns-b', amount: '5', ledger: 'USD' } });
  const writeIndex = write.kind === 'answer' ? Number(write.answer.headers['x-raft-index']) : NaN;
  t.ok(write.kind === 'answer' && write.answer.status < 300 && writeIndex > 0, `a transfer committed through the majority at index ${writeIndex}`);
  await sleep(1_000);
  const isolated = (await status(cluster, leader)) as Status;
  t.ok(isolated.commit_index < writeIndex, `the isolated node's commit index stays behind (${isolated.commit_index} < ${writeIndex})`);

  await network.healAll();
  for (const id of ids) t.same(network.rules(id), [], `${id} has no rule after heal`);
  const caughtUp = await until(`${leader} did not catch up`, 30_000, async () => {
    const s = await status(cluster, leader);
    return s && s.applied_index >= writeIndex ? s : undefined;
  });
  t.ok(caughtUp.applied_index >= writeIndex, `after heal ${leader} applied index ${caughtUp.applied_index} >= ${writeIndex}`);
  const read = await cluster.client.send(cluster.node(leader).url, { method: 'GET', path: '/v1/transfers/netns-t1?consistency=stale' });
  t.equal(read.kind === 'answer' ? read.answer.status : read.error, 200, `${leader} serves the transfer written without it`);

  await cluster.close();
  closed = true;
  t.same(runNamespaces().filter((n) => n.startsWith(`rlj-${ownerTag(process.pid)}-`)), [], 'no namespace left (ip netns list)');
  t.same(hostState(process.pid), before, 'the host\'s iptables (iptables -S) and links are as before');
});

t.test('an interrupted run (SIGINT) removes its namespaces', { skip }, async (t) => {
  const out = mkdtempSync(path.join(tmpdir(), 'jepsen-netns-int-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const iptablesBefore = hostState(process.pid).iptables;
  const child = spawn(process.execPath, [CLI, '--net', 'netns', '--nodes', '3', '--time-limit', '120', '--concurrency', '2', '--nemesis', 'partition-leader', '--quiet-ms', '0-0', '--fault-ms', '60000-60000', '--seed', '5', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const tag = await until('the child has no pid', 5_000, async () => ownerTag(child.pid as number));
  // Interrupt while the partition (rules in place) and the nodes run.
  await until(`no partition started:\n${output}`, 120_000, async () => (/fault 0 partition-leader/.test(output) ? true : undefined));
  t.ok(runNamespaces().some((n) => n.startsWith(`rlj-${tag}-`)), 'the run made its namespaces');
  child.kill('SIGINT');
  t.equal(await exited, 130, 'the run exits 130 after SIGINT');
  t.match(output, /SIGINT: removing the run's network namespaces/);
  t.same(runNamespaces().filter((n) => n.startsWith(`rlj-${tag}-`)), [], 'no namespace of the run is left');
  t.same(hostState(child.pid as number), { iptables: iptablesBefore, links: [] }, 'the host\'s iptables are as before and no link of the run is left');
  const leftover = spawnSync('pgrep', ['-f', out], { encoding: 'utf8' }).stdout.trim();
  t.equal(leftover, '', 'no ledgerd of the run still runs');
});

t.test("a killed run's namespaces and veth are removed when the next run starts", { skip }, async (t) => {
  // A pid that no longer runs: what a SIGKILLed runner leaves behind.
  const dead = spawnSync('true').pid as number;
  const stale = `rlj-${dead}.1-n1`;
  execFileSync('ip', ['netns', 'add', stale]);
  execFileSync('ip', ['link', 'add', `rlj${dead}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', stale]);
  t.teardown(() => {
    spawnSync('ip', ['netns', 'del', stale]);
    spawnSync('ip', ['link', 'del', `rlj${dead}`]);
  });
  const network = new NetnsNetwork();
  await network.open(['n1']);
  t.notOk(runNamespaces().includes(stale), 'the stale namespace is gone');
  t.same(hostState(dead).links, [], 'the stale veth is gone');
  t.ok(runNamespaces().includes(network.namespaceOf('n1')), 'the new run has its namespace');
  await network.close();
  t.notOk(runNamespaces().includes(network.namespaceOf('n1')), 'and removes it on close');
});

t.test('a write forwarded into a cut reaches the leader after heal, long after its client gave up', { skip }, async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'jepsen-netns-late-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const cluster = new Cluster({ root, nodeCount: 3, spareCount: 0, faketimeLibrary: undefined, tmpfsNodes: new Map(), tickMs: 20, electionTicks: 25, net: 'netns' });
  t.teardown(() => cluster.close());
  await cluster.start();
  const leader = await cluster.waitForLeader(60_000);
  const follower = cluster.ids().find((id) => id !== leader) as string;
  const leaderUrl = cluster.node(leader).url;
  const accounts = await cluster.client.send(leaderUrl, { method: 'POST', path: '/v1/accounts', body: { accounts: [{ id: 'late-a', ledger: 'USD' }, { id: 'late-b', ledger: 'USD' }] } });
  t.equal(accounts.kind === 'answer' ? accounts.answer.status : accounts.error, 200, 'accounts created');

  await cluster.net.drop(bothWays([follower], [leader]));
  const impatient = new Client(1_500, cluster.clientToken);
  t.teardown(() => impatient.close());
  const sentMs = Date.now();
  const write = await impatient.send(cluster.node(follower).url, { method: 'POST', path: '/v1/transfers', body: { id: 'late-t', debit_account_id: 'late-a', credit_account_id: 'late-b', amount: '1', ledger: 'USD' } });
  t.same(write.kind === 'error' ? write.error : write.answer.status, 'TimeoutError', `the client gave up on ${follower}, which forwards to ${leader} across the cut: outcome unknown`);
  await sleep(3_000 - (Date.now() - sentMs));
  await cluster.net.healAll();
  const appliedMs = await until('the write never arrived', 20_000, async () => {
    const read = await cluster.client.send(leaderUrl, { method: 'GET', path: '/v1/transfers/late-t?consistency=linearizable' });
    return read.kind === 'answer' && read.answer.status === 200 ? Date.now() : undefined;
  });
  t.ok(appliedMs - sentMs > 3_000, `the transfer took effect ${appliedMs - sentMs} ms after it was sent: after the heal, not before (so the runner's final phase waits for such writes: runner.ts, finalPhaseWaitMs)`);
});
