// Peer security by default (issue 13 point 1), with real processes: the
// `make run` launcher keeps a random cluster secret per data root (owner-only,
// reused on the next start), so a forged unsigned append from "n2" is refused;
// a node that would serve peers or clients beyond loopback without the
// credential refuses to start and names the flag, unless --insecure says so.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { newEpoch, peerRequestHeaders } from '../../src/node/peer-auth.js';
import { encodeMessageBatch } from '../../src/node/peer-codec.js';
import { CLUSTER_FILE } from '../../src/cli/local-cluster.js';
import { message } from '../node/peer-harness.js';
import { call, freePort, ProcessCluster } from './harness.js';
import { waitFor } from '../support/helpers.js';
import { killAll, LAUNCHER, startProcess, type Started } from './ledgerd-process.js';
import { clusterStatusOf } from '../support/api-json.js';

const FORGED_TERM = 1_000_000;

/** A base port with the two after it free as well (the launcher takes three in a row). */
async function freePortRun(length: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await freePort();
    if (base + length > 65535) continue;
    let all = true;
    for (let port = base + 1; port < base + length && all; port++) all = await canBind(port);
    if (all) return base;
  }
  throw new Error('no run of free ports');
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The term, once the node at `url` knows a leader. */
function waitForTerm(url: string, timeoutMs = 20_000): Promise<number> {
  return waitFor(`${url} to know a leader`, async () => {
    const answer = await call(url, 'GET', '/v1/cluster');
    return answer.status === 200 && answer.body.leader ? answer.body.term : undefined;
  }, timeoutMs, 100);
}

/** A heartbeat-free append "from n2" at a far-future term, signed by nobody. */
async function forgeAppend(url: string): Promise<{ status: number; body: string }> {
  const body = encodeMessageBatch([
    message({ type: 'app', from: 'n2', to: 'n1', term: FORGED_TERM, index: 0, logTerm: 0, commit: 0, entries: [] }),
  ]);
  const headers = peerRequestHeaders(undefined, { operation: 'messages', from: 'n2', to: 'n1', epoch: newEpoch(), seq: 1, body, nowMs: Date.now() });
  const response = await request(new URL('/raft/v1/messages', url), {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body,
  });
  return { status: response.statusCode, body: await response.body.text() };
}

/** The launcher's nodes (in their own process groups), found through their data directories' lock owners. */
function launcherNodePids(dataRoot: string): number[] {
  const pids: number[] = [];
  for (const id of ['n1', 'n2', 'n3']) {
    try {
      pids.push((JSON.parse(readFileSync(path.join(dataRoot, id, 'LOCK.owner'), 'utf8')) as { pid: number }).pid);
    } catch {
      // not started yet
    }
  }
  return pids;
}

function killLauncherNodes(dataRoot: string): void {
  for (const pid of launcherNodePids(dataRoot)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

t.test('make run: a cluster secret per data root, kept owner-only and reused; forged peer appends are refused', async (t) => {
  const cluster = new ProcessCluster();
  const dataRoot = path.join(cluster.root, 'data');
  const basePort = await freePortRun(3);
  const started: Started[] = [];
  t.teardown(async () => {
    killAll(started);
    killLauncherNodes(dataRoot);
    await cluster.close();
  });
  const env = { LEDGER_BASE_PORT: String(basePort), LEDGER_DATA_ROOT: dataRoot };
  const n1 = `http://127.0.0.1:${basePort}`;

  const first = startProcess([], { env }, LAUNCHER);
  started.push(first);
  const term = await waitForTerm(n1);
  const file = path.join(dataRoot, CLUSTER_FILE);
  t.equal(statSync(file).mode & 0o777, 0o600, 'the cluster file is readable by its owner only');
  const kept = JSON.parse(readFileSync(file, 'utf8')) as { cluster_id: string; cluster_secret: string };
  t.match(kept.cluster_secret, /^[0-9a-f]{64}$/, '256 random bits');
  const nodePids = launcherNodePids(dataRoot);
  t.equal(nodePids.length, 3);
  for (const pid of nodePids) t.notMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), kept.cluster_secret, 'the secret is not on a node\'s command line');

  const forged = await forgeAppend(n1);
  t.equal(forged.status, 401, `an unsigned append "from n2" is refused: ${forged.body}`);
  t.match(forged.body, /peer_unauthenticated/);
  const after = await call(n1, 'GET', '/v1/cluster');
  t.ok(clusterStatusOf(after).term < FORGED_TERM, `n1 did not take the forged term (term ${after.body.term}, was ${term})`);
  t.match(first.output(), /without client tokens \(--tokens or LEDGER_TOKENS\)/, 'the start-up warning names what is missing');
  t.notMatch(first.output(), /without a cluster secret/, 'nothing warns about a secret that is there');

  first.child.kill('SIGTERM');
  t.same(await first.exitWithin(30_000), { code: 0, signal: null }, 'the launcher stops its nodes and exits 0');

  const second = startProcess([], { env }, LAUNCHER);
  started.push(second);
  await waitForTerm(n1);
  t.same(JSON.parse(readFileSync(file, 'utf8')), kept, 'the next start reuses the secret and cluster id');
  t.equal((await forgeAppend(n1)).status, 401, 'and still refuses forged appends');
  t.same(readdirSync(dataRoot).sort(), [CLUSTER_FILE, 'n1', 'n2', 'n3']);
  const secondPids = launcherNodePids(dataRoot);
  second.child.kill('SIGHUP');
  t.same(await second.exitWithin(30_000), { code: 0, signal: null }, 'SIGHUP (the terminal closed) stops the launcher cleanly');
  for (const pid of secondPids) t.notOk(alive(pid), `node pid ${pid} stopped with it: nothing left holding the ports`);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('a port beyond loopback without its credential refuses to start, naming the flag; --insecure accepts the risk', async (t) => {
  const cluster = new ProcessCluster();
  const started: Started[] = [];
  t.teardown(async () => {
    killAll(started);
    await cluster.close();
  });
  const [apiPort, peerPort] = [await freePort(), await freePort()];
  const base = ['--id', 'n1', '--peers', `n1=http://127.0.0.1:${apiPort}`, '--log-level', 'warn'];

  const peersOpen = startProcess([...base, '--data', path.join(cluster.root, 'a'), '--listen', `127.0.0.1:${apiPort}`, '--peer-listen', `0.0.0.0:${peerPort}`]);
  started.push(peersOpen);
  const peersExit = await peersOpen.exitWithin(15_000);
  t.not(peersExit, 'timeout');
  t.not(peersExit !== 'timeout' && peersExit.code, 0, 'exits non-zero');
  t.match(peersOpen.stderr(), /--peer-listen 0\.0\.0\.0:\d+ serves peer RPCs beyond loopback without a cluster secret \(--cluster-secret or LEDGER_CLUSTER_SECRET\)/);
  t.match(peersOpen.stderr(), /--insecure/, 'and says how to accept the risk');

  const clientsOpen = startProcess([...base, '--data', path.join(cluster.root, 'b'), '--listen', `0.0.0.0:${apiPort}`, '--cluster-secret', 'a-secret-of-enough-length']);
  started.push(clientsOpen);
  const clientsExit = await clientsOpen.exitWithin(15_000);
  t.not(clientsExit !== 'timeout' && clientsExit.code, 0);
  t.match(clientsOpen.stderr(), /--listen 0\.0\.0\.0:\d+ serves the client API beyond loopback without client tokens \(--tokens or LEDGER_TOKENS\)/);
  t.notMatch(clientsOpen.stderr(), /cluster secret/, 'the secret it has is not named as missing');

  const accepted = startProcess([...base, '--data', path.join(cluster.root, 'c'), '--listen', `127.0.0.1:${apiPort}`, '--peer-listen', `0.0.0.0:${peerPort}`], { env: { LEDGER_INSECURE: '1' } });
  started.push(accepted);
  await waitForTerm(`http://127.0.0.1:${apiPort}`);
  t.match(accepted.output(), /peer RPCs on 0\.0\.0\.0:\d+ without a cluster secret \(--cluster-secret or LEDGER_CLUSTER_SECRET\): open to anyone who reaches it \(--insecure\)/,
    'with LEDGER_INSECURE=1 it starts and warns, naming what is missing');
});
