// The two systems `make bench` compares, each as three real processes on
// loopback with data in a temp directory and logs in files there (never piped
// through this process, which would then compete for CPU): raft-ledger as
// `node dist/src/cli/ledgerd.js` with default settings, and etcd as Debian's
// etcd-server binary with its defaults (fsync on every commit). Every process
// started here is killed when this process exits, however it exits.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { call, freePort, LEDGERD, type Answer } from '../test/cluster/harness.js';
import { clusterStatusOf, required } from '../test/support/api-json.js';
import { sleep, waitFor } from '../test/support/helpers.js';

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

/**
 * GET with a retry on connection errors: a node may close an idle keep-alive
 * socket just as the client reuses it (ECONNRESET), which says nothing about
 * the node. GETs are safe to repeat.
 */
export async function get(url: string, pathAndQuery: string, attempts = 3): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(url, 'GET', pathAndQuery);
    } catch (error) {
      if (attempt >= attempts) throw error;
      await sleep(100);
    }
  }
}

export interface BenchNode {
  readonly id: string;
  readonly url: string;
  readonly dataDir: string;
  readonly logPath: string;
  child: ChildProcess | undefined;
}

function spawnLogged(command: string, args: readonly string[], logPath: string): ChildProcess {
  const log = openSync(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

async function stopChild(child: ChildProcess | undefined, graceMs = 15_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  if ((await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) === false) {
    child.kill('SIGKILL');
    await exited;
  }
}

async function newNode(root: string, id: string): Promise<BenchNode> {
  const port = await freePort();
  const dataDir = path.join(root, id);
  mkdirSync(dataDir, { recursive: true });
  return { id, url: `http://127.0.0.1:${port}`, dataDir, logPath: path.join(root, `${id}.log`), child: undefined };
}

export interface LedgerOptions {
  readonly logLevel: string;
  readonly extraArgs?: readonly string[];
}

/** A 3-node raft-ledger, peers authenticated with a random cluster secret. */
export class LedgerCluster {
  readonly secret = randomBytes(24).toString('hex');
  private peersArg = '';

  private constructor(
    readonly root: string,
    readonly nodes: BenchNode[],
    private readonly options: LedgerOptions,
  ) {}

  static async start(root: string, options: LedgerOptions): Promise<LedgerCluster> {
    const nodes = [await newNode(root, 'n1'), await newNode(root, 'n2'), await newNode(root, 'n3')];
    const cluster = new LedgerCluster(root, nodes, options);
    cluster.peersArg = nodes.map((n) => `${n.id}=${n.url}`).join(',');
    for (const node of nodes) cluster.spawn(node, ['--peers', cluster.peersArg]);
    await cluster.leader();
    return cluster;
  }

  /** Starts `node` with its data dir (a restart when the dir holds data). */
  spawn(node: BenchNode, membershipArgs: readonly string[]): void {
    const listen = new URL(node.url).host;
    const args = [LEDGERD, '--id', node.id, '--listen', listen, '--data', node.dataDir, '--cluster-secret', this.secret];
    args.push('--log-level', this.options.logLevel, ...membershipArgs, ...(this.options.extraArgs ?? []));
    node.child = spawnLogged(process.execPath, args, node.logPath);
  }

  /** Extra ledgerd flags from BENCH_LEDGERD_ARGS (space-separated), for flags newer than this bench. */
  static extraArgsFromEnv(): string[] {
    return (process.env['BENCH_LEDGERD_ARGS'] ?? '').split(' ').filter((arg) => arg !== '');
  }

  /** Starts a stopped founding node again on its data; answers at once. */
  respawn(node: BenchNode): void {
    this.spawn(node, ['--peers', this.peersArg]);
  }

  /** Adds a new node through the leader and starts it with --join; answers once it serves. */
  async join(id: string): Promise<BenchNode> {
    const node = await newNode(this.root, id);
    const leader = await this.leader();
    const added = await call(leader.url, 'POST', '/v1/cluster/members', { id, url: node.url, voter: true });
    if (added.status !== 200) throw new Error(`POST /v1/cluster/members: ${added.status} ${JSON.stringify(added.body)}`);
    this.nodes.push(node);
    this.spawn(node, ['--join', leader.url]);
    await waitHealthy(node);
    return node;
  }

  /** The node that says it leads with the highest term, once it is ready. */
  async leader(timeoutMs = 30_000): Promise<BenchNode> {
    return waitFor('raft-ledger leader', async () => {
      let best: { node: BenchNode; term: number } | undefined;
      for (const node of this.nodes) {
        if (!node.child) continue;
        const answer = await call(node.url, 'GET', '/v1/cluster').catch(() => undefined);
        const term = answer?.status === 200 && answer.body.role === 'leader' ? answer.body.term : undefined;
        if (term !== undefined && (!best || term > best.term)) best = { node, term };
      }
      if (!best) return undefined;
      return (await call(best.node.url, 'GET', '/readyz')).status === 200 ? best.node : undefined;
    }, timeoutMs, 100);
  }

  /**
   * Waits until every running node has applied the leader's commit index, so
   * that the backlog of one phase (requests wrk gave up on are still being
   * committed) does not slow down the next or a check.
   */
  async settle(timeoutMs = 300_000): Promise<void> {
    await waitFor('raft-ledger nodes to apply the backlog', async () => {
      const leader = await this.leader();
      const commit = clusterStatusOf(await call(leader.url, 'GET', '/v1/cluster')).commit_index;
      for (const node of this.nodes) {
        if (!node.child) continue;
        if (clusterStatusOf(await call(node.url, 'GET', '/v1/cluster')).applied_index < commit) return undefined;
      }
      return true;
    }, timeoutMs, 100);
  }

  async follower(): Promise<BenchNode> {
    const leader = await this.leader();
    const follower = this.nodes.find((n) => n !== leader && n.child);
    if (!follower) throw new Error('no running follower');
    return follower;
  }

  async stopNode(node: BenchNode): Promise<void> {
    await stopChild(node.child);
    node.child = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n)));
  }
}

export async function waitHealthy(node: BenchNode, timeoutMs = 600_000): Promise<void> {
  await waitFor(`${node.id} /healthz`, async () => ((await call(node.url, 'GET', '/healthz')).status === 200 ? true : undefined), timeoutMs, 100);
}

export function accountIds(count: number, first = 0): string[] {
  return Array.from({ length: count }, (_, n) => `acct-${first + n}`);
}

/**
 * Creates acct-<first>..acct-<first+count-1> in ledger USD, 8190 per request,
 * through whichever node leads; retries 429/503/504 with the same ids, which
 * is safe (creation is idempotent, a repeat answers "exists").
 */
export async function createAccounts(cluster: LedgerCluster, count: number, first = 0): Promise<void> {
  const ids = accountIds(count, first);
  for (let start = 0; start < ids.length; start += 8190) {
    const accounts = ids.slice(start, start + 8190).map((id) => ({ id, ledger: 'USD' }));
    const answer = await waitFor('POST /v1/accounts other than 429/503/504', async () => {
      const got = await call((await cluster.leader()).url, 'POST', '/v1/accounts', { accounts });
      return [429, 503, 504].includes(got.status) ? undefined : got;
    }, 120_000, 100);
    const bad = answer.status === 200 ? required(answer.body.results, 'results').filter((r) => r.status === 'error') : [];
    if (answer.status !== 200 || bad.length > 0) throw new Error(`POST /v1/accounts: ${answer.status} ${JSON.stringify(bad[0] ?? answer.body)}`);
  }
}

/**
 * Sum of balances of the given accounts (linearizable reads, 200 ids per
 * request; call it when no write is in flight, so the chunks agree).
 */
export async function balanceSum(url: string, ids: readonly string[]): Promise<bigint> {
  let sum = 0n;
  for (let start = 0; start < ids.length; start += 200) {
    const chunk = ids.slice(start, start + 200);
    const answer = await waitFor('GET /v1/accounts?ids=... other than 503', async () => {
      const got = await get(url, `/v1/accounts?ids=${chunk.join(',')}&consistency=linearizable`);
      return got.status === 503 ? undefined : got;
    }, 60_000, 100);
    if (answer.status !== 200) throw new Error(`GET /v1/accounts?ids=...: ${answer.status} ${JSON.stringify(answer.body)}`);
    for (const account of answer.body.accounts ?? []) sum += BigInt(required(account, 'account').balance);
  }
  return sum;
}

/** A 3-member etcd with default settings; client and peer URLs on loopback. */
export class EtcdCluster {
  private constructor(
    readonly nodes: BenchNode[],
    readonly prefix: string,
    readonly version: string,
  ) {}

  static async start(root: string): Promise<EtcdCluster> {
    const members: { node: BenchNode; peerUrl: string }[] = [];
    for (const id of ['e1', 'e2', 'e3']) members.push({ node: await newNode(root, id), peerUrl: `http://127.0.0.1:${await freePort()}` });
    const initialCluster = members.map((m) => `${m.node.id}=${m.peerUrl}`).join(',');
    for (const { node, peerUrl } of members) {
      node.child = spawnLogged(
        'etcd',
        [
          '--name', node.id, '--data-dir', node.dataDir,
          '--listen-client-urls', node.url, '--advertise-client-urls', node.url,
          '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
          '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', `bench-${process.pid}`,
        ],
        node.logPath,
      );
    }
    const nodes = members.map((m) => m.node);
    const first = nodes[0] as BenchNode;
    const version = await waitFor('etcd /version', async () => {
      const answer = await call(first.url, 'GET', '/version');
      return answer.status === 200 ? String(answer.body.etcdserver) : undefined;
    }, 30_000, 100);
    // etcd 3.4 serves the JSON gateway under /v3 and /v3beta, 3.3 only /v3beta.
    const probe = await call(first.url, 'POST', '/v3/kv/range', { key: 'AAAA' }).catch(() => undefined);
    const cluster = new EtcdCluster(nodes, probe?.status === 200 ? '/v3' : '/v3beta', version);
    await cluster.leader();
    return cluster;
  }

  /** The member whose own id is the leader it reports. */
  async leader(timeoutMs = 30_000): Promise<BenchNode> {
    return waitFor('etcd leader', async () => {
      for (const node of this.nodes) {
        const answer = await call(node.url, 'POST', `${this.prefix}/maintenance/status`, {}).catch(() => undefined);
        const header = answer?.body['header'];
        const memberId = typeof header === 'object' && header !== null && 'member_id' in header ? header.member_id : undefined;
        if (answer?.status === 200 && answer.body.leader !== undefined && answer.body.leader === memberId) return node;
      }
      return undefined;
    }, timeoutMs, 100);
  }

  async follower(): Promise<BenchNode> {
    const leader = await this.leader();
    return this.nodes.find((n) => n !== leader) as BenchNode;
  }

  /** Writes the keys the read phases pick from (the same names bench.lua builds). */
  async preloadReadKeys(count: number): Promise<void> {
    const leader = await this.leader();
    const value = Buffer.from('v'.repeat(128)).toString('base64');
    const keys = Array.from({ length: count }, (_, n) => `cmVh${String(n).padStart(8, '0')}`);
    for (let start = 0; start < keys.length; start += 50) {
      await Promise.all(
        keys.slice(start, start + 50).map(async (key) => {
          const answer = await call(leader.url, 'POST', `${this.prefix}/kv/put`, { key, value });
          if (answer.status !== 200) throw new Error(`etcd put ${key}: ${answer.status} ${JSON.stringify(answer.body)}`);
        }),
      );
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => stopChild(n.child)));
  }
}
