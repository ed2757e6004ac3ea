// The netns network (`--net netns`): each node runs in a network namespace of
// its own (`nsenter --net`, so it shares everything else with the runner: the
// file system, the tmpfs of the disk nemesis), with one address on a private
// /24 of 10.213.0.0/16 that nothing else on the machine routes. The node
// namespaces hang off a bridge in a hub namespace of the run, and the runner
// reaches the bridge through one veth (the .1 address), so clients talk to
// every node directly. A cut from A to B is an iptables DROP of packets from
// A's address in B's namespace (INPUT), the way Jepsen cuts links; rules only
// ever name node addresses, so the runner's clients are never cut off.
//
// Everything lives inside namespaces named rlj-<pid>.<start time>-<node|hub>:
// deleting the namespaces removes every interface, address, route and rule
// (the runner's veth goes with its peer in the hub). The host's own iptables
// are never touched. Teardown runs on close, on SIGINT/SIGTERM/SIGHUP and on
// exit; a run killed outright leaves namespaces whose owner (pid and start
// time) is gone, and the next run removes them before it starts.

import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { DirectedLink, NodeAddress, PeerNetwork } from './net.js';

const PREFIX = 'rlj-';
/** Every node listens on this port at its own address. */
const NODE_PORT = 7001;
const SUBNET_FIRST_OCTETS = [10, 213] as const;
const INSTALL_HINT = "run scripts/jepsen-install.sh (installs Debian's iproute2 and iptables)";

/** `<pid>.<start time in clock ticks>`: names a process unambiguously while it lives. */
export function ownerTag(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) in parentheses; start time is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return `${pid}.${fields[19]}`;
  } catch {
    return undefined;
  }
}

function errorText(error: unknown): string {
  const e = error as { stderr?: Buffer | string; message?: string };
  const stderr = e.stderr ? String(e.stderr).trim() : '';
  return (stderr || e.message || String(error)).split('\n')[0] as string;
}

function run(file: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(file, args, { input: input ?? '', stdio: ['pipe', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    throw new Error(`${file} ${args.join(' ')}: ${errorText(error)}`);
  }
}

function runAsync(file: string, args: readonly string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, (error, _stdout, stderr) => {
      if (error) reject(new Error(`${file} ${args.join(' ')}: ${String(stderr).trim() || error.message}`));
      else resolve();
    });
    child.stdin?.end(input);
  });
}

function quietly(file: string, args: readonly string[]): void {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** iptables-restore input that replaces a namespace's filter table: drop packets from these addresses. */
function filterTable(sources: readonly string[]): string {
  return ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...sources.map((s) => `-A INPUT -s ${s}/32 -j DROP`), 'COMMIT', ''].join('\n');
}

function inNamespace(namespace: string, file: string, args: readonly string[]): { file: string; args: string[] } {
  return { file: 'nsenter', args: [`--net=/run/netns/${namespace}`, '--', file, ...args] };
}

/** Our namespaces now on the machine, by name. */
export function runNamespaces(): string[] {
  const listed = run('ip', ['netns', 'list']);
  return listed.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.startsWith(PREFIX));
}

/** Kills what still runs in a namespace, then deletes it (its interfaces and rules go with it). */
function deleteNamespace(name: string): void {
  let pids: string[] = [];
  try {
    pids = run('ip', ['netns', 'pids', name]).split('\n').filter((p) => /^\d+$/.test(p));
  } catch {
    // no such namespace
  }
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  quietly('ip', ['netns', 'del', name]);
}

/**
 * Removes what runs killed outright left: namespaces whose owner process (pid
 * and start time in the name) is gone, and runner-side veths of dead pids.
 * Answers what it removed.
 */
export function cleanupStale(): string[] {
  const removed: string[] = [];
  for (const name of runNamespaces()) {
    const match = /^rlj-(\d+)\.(\d+)-/.exec(name);
    if (!match || ownerTag(Number(match[1])) === `${match[1]}.${match[2]}`) continue;
    deleteNamespace(name);
    removed.push(name);
  }
  for (const line of run('ip', ['-o', 'link', 'show']).split('\n')) {
    const match = /^\d+: (rlj(\d+)[a-z]?)[@:]/.exec(line);
    if (!match || pidAlive(Number(match[2]))) continue;
    quietly('ip', ['link', 'del', match[1] as string]);
    removed.push(match[1] as string);
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === 'EPERM';
  }
}

let unavailableReason: string | undefined | null = null;

/**
 * Why the netns network cannot run here (one line), or undefined: needs Linux,
 * root, ip, nsenter and iptables-restore, and a namespace, a veth into it and
 * an iptables table inside it that really work (containers may forbid them).
 * Probed once per process.
 */
export function netnsUnavailable(): string | undefined {
  if (unavailableReason !== null) return unavailableReason;
  unavailableReason = probe();
  return unavailableReason;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces and iptables need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces and iptables need root';
  for (const [file, args] of [['ip', ['-V']], ['nsenter', ['--version']], ['iptables-restore', ['--version']]] as const) {
    try {
      execFileSync(file, args, { stdio: 'ignore' });
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return `${file} not found: ${INSTALL_HINT}`;
    }
  }
  const namespace = `${PREFIX}${ownerTag(process.pid)}-probe`;
  const link = `rlj${process.pid}p`;
  try {
    run('ip', ['netns', 'add', namespace]);
    run('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    const restore = inNamespace(namespace, 'iptables-restore', ['-w', '5']);
    run(restore.file, restore.args, filterTable([]));
    return undefined;
  } catch (error) {
    return `cannot set up a network namespace here: ${errorText(error)}`;
  } finally {
    quietly('ip', ['link', 'del', link]);
    quietly('ip', ['netns', 'del', namespace]);
  }
}

/** Networks set up and not yet closed: torn down on a signal or at exit. */
const live = new Set<NetnsNetwork>();
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

function onSignal(signal: keyof typeof SIGNALS): void {
  process.stderr.write(`${signal}: removing the run's network namespaces\n`);
  for (const network of [...live]) network.teardownSync();
  process.exit(128 + SIGNALS[signal]);
}

function onExit(): void {
  for (const network of [...live]) network.teardownSync();
}

function register(network: NetnsNetwork): void {
  if (live.size === 0) {
    for (const signal of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) process.on(signal, onSignal);
    process.on('exit', onExit);
  }
  live.add(network);
}

function unregister(network: NetnsNetwork): void {
  if (!live.delete(network) || live.size > 0) return;
  for (const signal of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) process.off(signal, onSignal);
  process.off('exit', onExit);
}

function ipv4ToNumber(text: string): number {
  return text.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** The /24s under 10.213.0.0/16 that a route or address on the machine already covers. */
function subnetsInUse(): Set<number> {
  const used = new Set<number>();
  const base = ipv4ToNumber(`${SUBNET_FIRST_OCTETS.join('.')}.0.0`);
  const prefixes = [
    ...run('ip', ['-4', '-o', 'route', 'show', 'table', 'all']).split('\n').map((line) => line.split(' ')[0] ?? ''),
    ...run('ip', ['-4', '-o', 'addr', 'show']).split('\n').map((line) => /inet (\S+)/.exec(line)?.[1] ?? ''),
  ];
  for (const prefix of prefixes) {
    const match = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(prefix);
    if (!match) continue; // default, broadcast, local, ...
    const length = Number(match[2] ?? 32);
    if (length === 0) continue;
    const start = ipv4ToNumber(match[1] as string) - (ipv4ToNumber(match[1] as string) % 2 ** (32 - length));
    const end = start + 2 ** (32 - length);
    for (let third = 0; third < 256; third++) {
      const subnet = base + third * 256;
      if (subnet < end && subnet + 256 > start) used.add(third);
    }
  }
  return used;
}

export class NetnsNetwork implements PeerNetwork {
  readonly kind = 'netns';
  private readonly tag: string;
  /** Created namespaces, the hub first. */
  private readonly namespaces: string[] = [];
  private readonly addresses = new Map<string, NodeAddress>();
  private readonly hosts = new Map<string, string>();
  private readonly dropped = new Set<string>();
  /** Receivers whose table holds DROP rules now. */
  private readonly withRules = new Set<string>();
  private subnet = '';

  constructor() {
    const tag = ownerTag(process.pid);
    if (!tag) throw new Error('cannot read /proc/self/stat');
    this.tag = tag;
  }

  namespaceOf(id: string): string {
    return `${PREFIX}${this.tag}-${id}`;
  }

  /** The runner's end of the link to the hub, in the root namespace. */
  private get rootLink(): string {
    return `rlj${process.pid}`;
  }

  async open(ids: readonly string[]): Promise<ReadonlyMap<string, NodeAddress>> {
    const reason = netnsUnavailable();
    if (reason) throw new Error(`--net netns: ${reason}`);
    if (ids.length > 200) throw new Error('at most 200 nodes fit the subnet');
    cleanupStale();
    register(this);
    try {
      this.setUp(ids);
    } catch (error) {
      this.teardownSync();
      throw error;
    }
    return this.addresses;
  }

  private setUp(ids: readonly string[]): void {
    const used = subnetsInUse();
    const first = process.pid % 254;
    const third = Array.from({ length: 254 }, (_, i) => ((first + i) % 254) + 1).find((n) => !used.has(n));
    if (third === undefined) throw new Error(`--net netns: every /24 of ${SUBNET_FIRST_OCTETS.join('.')}.0.0/16 is in use`);
    this.subnet = `${SUBNET_FIRST_OCTETS.join('.')}.${third}`;
    const hub = this.namespaceOf('hub');
    this.addNamespace(hub);
    this.inside(hub, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    this.inside(hub, 'ip', ['link', 'set', 'br0', 'up']);
    run('ip', ['link', 'add', this.rootLink, 'type', 'veth', 'peer', 'name', 'runner', 'netns', hub]);
    this.inside(hub, 'ip', ['link', 'set', 'runner', 'master', 'br0', 'up']);
    run('ip', ['addr', 'add', `${this.subnet}.1/24`, 'dev', this.rootLink]);
    run('ip', ['link', 'set', this.rootLink, 'up']);
    ids.forEach((id, i) => {
      const namespace = this.namespaceOf(id);
      const host = `${this.subnet}.${11 + i}`;
      this.addNamespace(namespace);
      run('ip', ['link', 'add', `v${i}`, 'netns', hub, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
      this.inside(hub, 'ip', ['link', 'set', `v${i}`, 'master', 'br0', 'up']);
      this.inside(namespace, 'ip', ['addr', 'add', `${host}/24`, 'dev', 'eth0']);
      this.inside(namespace, 'ip', ['link', 'set', 'eth0', 'up']);
      this.inside(namespace, 'ip', ['link', 'set', 'lo', 'up']);
      this.hosts.set(id, host);
      this.addresses.set(id, { listen: `${host}:${NODE_PORT}`, url: `http://${host}:${NODE_PORT}` });
    });
  }

  private addNamespace(name: string): void {
    run('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
  }

  private inside(namespace: string, file: string, args: readonly string[], input?: string): string {
    const command = inNamespace(namespace, file, args);
    return run(command.file, command.args, input);
  }

  private host(id: string): string {
    const host = this.hosts.get(id);
    if (!host) throw new Error(`no node ${id} in the network`);
    return host;
  }

  /** Where the runner reaches the nodes from (never named by a rule). */
  runnerAddress(): string {
    return `${this.subnet}.1`;
  }

  peerUrl(_from: string, to: string): string {
    return `http://${this.host(to)}:${NODE_PORT}`;
  }

  command(id: string, argv: readonly string[]): { file: string; args: string[] } {
    this.host(id);
    return inNamespace(this.namespaceOf(id), process.execPath, argv);
  }

  async drop(links: readonly DirectedLink[]): Promise<void> {
    const receivers = new Set<string>();
    for (const [from, to] of links) {
      if (from === to) continue;
      this.host(from);
      this.host(to);
      this.dropped.add(`${from}->${to}`);
      receivers.add(to);
    }
    await this.apply([...receivers]);
  }

  async healAll(): Promise<void> {
    this.dropped.clear();
    await this.apply([...this.withRules]);
  }

  /** Replaces each receiver's filter table with DROP rules for the senders cut off from it. */
  private async apply(receivers: readonly string[]): Promise<void> {
    await Promise.all(
      receivers.map(async (to) => {
        const sources = [...this.dropped].filter((link) => link.endsWith(`->${to}`)).map((link) => this.host(link.slice(0, link.indexOf('->'))));
        const command = inNamespace(this.namespaceOf(to), 'iptables-restore', ['-w', '5']);
        await runAsync(command.file, command.args, filterTable(sources));
        if (sources.length > 0) this.withRules.add(to);
        else this.withRules.delete(to);
      }),
    );
  }

  blocked(): string[] {
    return [...this.dropped].map((link) => `${link}:drop`);
  }

  /** The DROP rules in a node's namespace now, as `iptables -S` prints them. */
  rules(id: string): string[] {
    return this.inside(this.namespaceOf(id), 'iptables', ['-w', '5', '-S', 'INPUT']).split('\n').filter((line) => line.startsWith('-A'));
  }

  /** Runs a command in a node's namespace (tests probe reachability from inside). */
  exec(id: string, file: string, args: readonly string[]): string {
    this.host(id);
    return this.inside(this.namespaceOf(id), file, args);
  }

  async close(): Promise<void> {
    this.teardownSync();
  }

  /** Deletes every namespace of the run (killing what still runs in them), nodes first. */
  teardownSync(): void {
    for (const name of [...this.namespaces].reverse()) deleteNamespace(name);
    this.namespaces.length = 0;
    quietly('ip', ['link', 'del', this.rootLink]);
    this.dropped.clear();
    this.withRules.clear();
    unregister(this);
  }
}
