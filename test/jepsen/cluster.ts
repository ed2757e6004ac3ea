// The ledgerd processes of one run: an address each on the run's network
// (net.ts: a loopback port behind a proxy mesh, or a network namespace), a
// data directory each under the run folder, and the process faults the
// nemeses need (SIGKILL and restart, SIGSTOP/SIGCONT, the faked clock file of
// libfaketime, a tmpfs data directory). Everything started here is killed by
// `close`, whatever happened before.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_DEFAULTS } from '../../src/node/node-options.js';
import { sleep } from '../support/helpers.js';
import { Client } from './client.js';
import { ProxyNetwork, type NetKind, type PeerNetwork } from './net.js';
import { NetnsNetwork } from './netns.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const LEDGERD = path.resolve(here, '..', '..', 'src', 'cli', 'ledgerd.js');

export { sleep };

export interface ClusterNode {
  readonly id: string;
  /** ledgerd --listen (host:port). */
  readonly listen: string;
  readonly url: string;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  paused: boolean;
  /** Whether the node is a member now (the membership nemesis removes and adds). */
  member: boolean;
  /** Started with --join (the spare, or a member re-added after removal). */
  joined: boolean;
  /** libfaketime's timestamp file for this node, when the clock nemesis runs. */
  clockFile: string | undefined;
  /** The rate its clocks run at since its last start, when the clock-rate nemesis restarted it under one. */
  clockRate: number | undefined;
  /** The tmpfs mounted as this node's data directory, when the disk nemesis runs. */
  tmpfs: boolean;
  log: WriteStream;
}

export interface ClusterOptions {
  readonly root: string;
  /** Founding voters. */
  readonly nodeCount: number;
  /** Extra nodes that are not members at the start (for the membership nemesis). */
  readonly spareCount: number;
  /** The libfaketime library to preload into every node, when the clock nemesis runs. */
  readonly faketimeLibrary: string | undefined;
  /** The libfaketime library to preload into a node restarted under a clock rate (the clock-rate nemeses). */
  readonly clockRateLibrary?: string | undefined;
  /** Node ids whose data directory is a tmpfs of this many MiB (the disk nemesis). */
  readonly tmpfsNodes: ReadonlyMap<string, number>;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** ledgerd --max-clock-drift: the clock rate difference its leases allow for (default ledgerd's, 0.1). */
  readonly maxClockDriftRatio?: number;
  /** How nodes reach each other and partitions cut them (default proxy). */
  readonly net?: NetKind;
}

export class Cluster {
  readonly nodes = new Map<string, ClusterNode>();
  readonly net: PeerNetwork;
  private readonly clusterSecret = randomBytes(24).toString('hex');
  /**
   * An admin token every node accepts and every client sends: a node in a
   * namespace listens beyond loopback, where ledgerd refuses to start without
   * tokens; the proxy network uses it too, so both run the same configuration.
   */
  readonly clientToken = randomBytes(24).toString('hex');
  /** Probes (health, leader): a short deadline. */
  readonly client = new Client(3_000, this.clientToken);
  /** Membership and leadership requests: the server allows them 10 s (docs/api.md, adminTimeoutMs). */
  readonly adminClient = new Client(15_000, this.clientToken);

  constructor(readonly options: ClusterOptions) {
    this.net = options.net === 'netns' ? new NetnsNetwork() : new ProxyNetwork();
  }

  /** The clock rate difference every node's leases allow for (the clock-rate nemeses choose their rates from it). */
  get maxClockDriftRatio(): number {
    return this.options.maxClockDriftRatio ?? NODE_DEFAULTS.maxClockDriftRatio;
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  members(): ClusterNode[] {
    return [...this.nodes.values()].filter((n) => n.member);
  }

  memberIds(): string[] {
    return this.members().map((n) => n.id);
  }

  node(id: string): ClusterNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /** The URL at which `from` reaches `to` (through the proxy of the link from->to, or at `to`'s address). */
  peerUrl(from: string, to: string): string {
    return this.net.peerUrl(from, to);
  }

  async start(): Promise<void> {
    const total = this.options.nodeCount + this.options.spareCount;
    mkdirSync(path.join(this.options.root, 'logs'), { recursive: true });
    const ids = Array.from({ length: total }, (_, i) => `n${i + 1}`);
    const addresses = await this.net.open(ids);
    for (let i = 1; i <= total; i++) {
      const id = `n${i}`;
      const address = addresses.get(id);
      if (!address) throw new Error(`the network gave ${id} no address`);
      const dataDir = path.join(this.options.root, 'data', id);
      mkdirSync(dataDir, { recursive: true });
      const tmpfsMiB = this.options.tmpfsNodes.get(id);
      if (tmpfsMiB !== undefined) execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${tmpfsMiB}m`, 'tmpfs', dataDir]);
      let clockFile: string | undefined;
      if (this.options.faketimeLibrary) {
        clockFile = path.join(this.options.root, 'clock', id);
        mkdirSync(path.dirname(clockFile), { recursive: true });
        writeFileSync(clockFile, '+0\n');
      }
      this.nodes.set(id, {
        id, listen: address.listen, url: address.url, dataDir, child: undefined, paused: false,
        member: i <= this.options.nodeCount, joined: false, clockFile, clockRate: undefined, tmpfs: tmpfsMiB !== undefined,
        log: createWriteStream(path.join(this.options.root, 'logs', `${id}.log`), { flags: 'a' }),
      });
    }
    for (const node of this.members()) this.spawn(node.id, ['--peers', this.peersFor(node.id)]);
    // Generous: on a loaded machine a node takes tens of seconds to boot.
    await this.waitForLeader(120_000);
  }

  /** The founding voters as `id` reaches them. */
  private peersFor(id: string): string {
    return this.ids()
      .slice(0, this.options.nodeCount)
      .map((other) => `${other}=${this.peerUrl(id, other)}`)
      .join(',');
  }

  /** A node's environment: the runner's, plus libfaketime and the node's timestamp file when the clock nemesis runs. */
  private nodeEnv(node: ClusterNode): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (this.options.faketimeLibrary && node.clockFile) {
      env.LD_PRELOAD = this.options.faketimeLibrary;
      env.FAKETIME_TIMESTAMP_FILE = node.clockFile;
      // Re-read the file once a second (nemesis-clock.ts waits for it). Re-reading it on
      // every call (FAKETIME_NO_CACHE) made Date.now() cost 59 µs instead of 1.2 µs: the
      // nodes starved, and the clock runs measured that rather than the skew.
      env.FAKETIME_CACHE_DURATION = '1';
      // The monotonic clock (Node's performance.now and timers) is faked too
      // unless this is set; see docs/jepsen.md, Nemeses, clock.
      env.FAKETIME_DONT_FAKE_MONOTONIC = '1';
    }
    return env;
  }

  /**
   * The environment of a node whose clocks all run at `rate` from its first
   * instruction (nemesis-clock-rate.ts): libfaketime with FAKETIME "+0 x<rate>"
   * and the monotonic clock faked, no timestamp file (so no cache expiry can
   * change the rate while it runs).
   */
  private clockRateEnv(rate: number): NodeJS.ProcessEnv {
    const library = this.options.clockRateLibrary;
    if (!library) throw new Error('no libfaketime to run a node under a clock rate');
    const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: library, FAKETIME: `+0 x${rate}` };
    delete env.FAKETIME_TIMESTAMP_FILE;
    delete env.FAKETIME_DONT_FAKE_MONOTONIC;
    delete env.FAKETIME_CACHE_DURATION;
    delete env.FAKETIME_NO_CACHE;
    return env;
  }

  private spawn(id: string, args: readonly string[], clockRate?: number): void {
    const node = this.node(id);
    const env = clockRate === undefined ? this.nodeEnv(node) : this.clockRateEnv(clockRate);
    node.clockRate = clockRate;
    const command = this.net.command(id, [
      LEDGERD, '--id', id, '--listen', node.listen, '--data', node.dataDir,
      '--cluster-secret', this.clusterSecret, '--tokens', `${this.clientToken}=admin`,
      '--tick-ms', String(this.options.tickMs), '--election-ticks', String(this.options.electionTicks),
      '--max-clock-drift', String(this.maxClockDriftRatio), '--log-level', 'warn', ...args,
    ]);
    const child = spawn(command.file, command.args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    node.child = child;
    node.paused = false;
    node.log.write(`--- ${new Date().toISOString()} start ${args.join(' ')}${clockRate === undefined ? '' : ` (clock rate x${clockRate})`}\n`);
    child.stdout?.pipe(node.log, { end: false });
    child.stderr?.pipe(node.log, { end: false });
    child.on('exit', (code, signal) => {
      node.log.write(`--- ${new Date().toISOString()} exit code=${code} signal=${signal}\n`);
      if (node.child === child) node.child = undefined;
    });
  }

  running(): ClusterNode[] {
    return [...this.nodes.values()].filter((n) => n.child !== undefined);
  }

  /** Members that run and are not paused: the ones that can answer. */
  reachableMembers(): ClusterNode[] {
    return this.members().filter((n) => n.child !== undefined && !n.paused);
  }

  kill(id: string): void {
    const node = this.node(id);
    node.child?.kill('SIGCONT');
    node.child?.kill('SIGKILL');
  }

  async waitExited(id: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.node(id).child && Date.now() < deadline) await sleep(20);
  }

  /**
   * Starts a stopped node again on its data: with --peers (the founders' URLs
   * through its links) or --join; with every clock running at `clockRate`
   * when given (the clock-rate nemeses), else at the normal rate.
   */
  async restart(id: string, clockRate?: number): Promise<void> {
    const node = this.node(id);
    if (node.child) return;
    const founder = this.ids().indexOf(id) < this.options.nodeCount;
    if (founder && !node.joined) this.spawn(id, ['--peers', this.peersFor(id)], clockRate);
    else this.spawn(id, ['--join', await this.joinUrl(id)], clockRate);
    await this.waitHealthy(id);
  }

  /** Starts `id` with an empty data directory to join through another member. */
  async startJoiner(id: string): Promise<void> {
    const node = this.node(id);
    if (node.child) throw new Error(`${id} still runs`);
    this.wipeData(id);
    node.joined = true;
    this.spawn(id, ['--join', await this.joinUrl(id)]);
    await this.waitHealthy(id);
  }

  /**
   * The URL of a member that answers, to join through. ledgerd --join exits
   * when that member does not answer, so a member merely started is not
   * enough: when every member restarts at once (kill-all), a joined node
   * picked one that was not listening yet and stayed down (seed 11).
   */
  private async joinUrl(id: string, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const via of this.reachableMembers().filter((n) => n.id !== id)) {
        const outcome = await this.client.send(via.url, { method: 'GET', path: '/healthz' });
        if (outcome.kind === 'answer' && outcome.answer.status === 200) return via.url;
      }
      await sleep(100);
    }
    throw new Error(`no member answered /healthz within ${timeoutMs} ms to join through`);
  }

  /** Whether `id` answers that its storage failed (it then stops its protocol until restarted). */
  async storageFailed(id: string): Promise<boolean> {
    const outcome = await this.client.send(this.node(id).url, { method: 'GET', path: '/readyz' });
    if (outcome.kind !== 'answer' || outcome.answer.status === 200) return false;
    const reason: unknown = outcome.answer.body.error?.details?.reason;
    return typeof reason === 'string' && reason.startsWith('storage failed');
  }

  wipeData(id: string): void {
    const node = this.node(id);
    if (node.tmpfs) {
      for (const entry of readdirSafe(node.dataDir)) rmSync(path.join(node.dataDir, entry), { recursive: true, force: true });
    } else {
      rmSync(node.dataDir, { recursive: true, force: true });
      mkdirSync(node.dataDir, { recursive: true });
    }
  }

  pause(id: string): void {
    const node = this.node(id);
    if (!node.child) return;
    node.child.kill('SIGSTOP');
    node.paused = true;
  }

  resume(id: string): void {
    const node = this.node(id);
    node.child?.kill('SIGCONT');
    node.paused = false;
  }

  async waitHealthy(id: string, timeoutMs = 60_000): Promise<void> {
    const node = this.node(id);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const outcome = await this.client.send(node.url, { method: 'GET', path: '/healthz' });
      if (outcome.kind === 'answer' && outcome.answer.status === 200) return;
      if (!node.child) throw new Error(`${id} exited while starting (see logs/${id}.log)`);
      await sleep(100);
    }
    throw new Error(`${id} did not answer /healthz within ${timeoutMs} ms (see logs/${id}.log)`);
  }

  /** The member that says it leads with the highest term, if any answers. */
  async findLeader(): Promise<string | undefined> {
    const views = await Promise.all(
      this.reachableMembers().map(async (node) => {
        const outcome = await this.client.send(node.url, { method: 'GET', path: '/v1/cluster' });
        return outcome.kind === 'answer' && outcome.answer.status === 200 ? { id: node.id, body: outcome.answer.body } : undefined;
      }),
    );
    let best: { id: string; term: number } | undefined;
    for (const view of views) {
      const term = view?.body.role === 'leader' ? view.body.term : undefined;
      if (view && term !== undefined && (!best || term > best.term)) best = { id: view.id, term };
    }
    return best?.id;
  }

  async waitForLeader(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leader = await this.findLeader();
      if (leader) {
        const ready = await this.client.send(this.node(leader).url, { method: 'GET', path: '/readyz' });
        if (ready.kind === 'answer' && ready.answer.status === 200) return leader;
      }
      await sleep(100);
    }
    throw new Error(`no ready leader within ${timeoutMs} ms`);
  }

  /** Every running node's GET /v1/cluster (or the error), for the run's record. */
  async views(): Promise<Record<string, unknown>> {
    const views: Record<string, unknown> = {};
    for (const node of this.running()) {
      const outcome = await this.client.send(node.url, { method: 'GET', path: '/v1/cluster' });
      views[node.id] = outcome.kind === 'answer' ? outcome.answer.body : { error: outcome.error };
    }
    return views;
  }

  /** Sets the faked clock of `id` (libfaketime's FAKETIME syntax, e.g. "+30s", "-5s"). */
  setClock(id: string, spec: string): void {
    const file = this.node(id).clockFile;
    if (!file) throw new Error(`${id} does not run under libfaketime`);
    writeFileSync(file, `${spec}\n`);
  }

  async close(): Promise<void> {
    for (const node of this.nodes.values()) this.kill(node.id);
    for (const node of this.nodes.values()) await this.waitExited(node.id, 5_000);
    await this.net.close();
    await this.client.close();
    await this.adminClient.close();
    for (const node of this.nodes.values()) {
      node.log.end();
      if (node.tmpfs) {
        try {
          execFileSync('umount', ['-l', node.dataDir]);
        } catch {
          // already unmounted
        }
      }
    }
  }
}

function readdirSafe(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}
