// Real ledgerd processes on loopback for end-to-end tests: free ports, temp
// data directories, a small JSON client with the Raft headers, and helpers to
// find the leader, kill -9, pause and restart nodes. Everything started here
// is killed when the test ends, pass or fail.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, type Dispatcher } from 'undici';
import { apiAnswer, type ApiAnswer } from '../support/api-json.js';
import { makeTempDir, removeDir, sleep, waitFor } from '../support/helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/**
 * The built daemon: beside this file's tree in dist/, or, when the harness is
 * compiled elsewhere (client/dist for the client's tests), the repository's.
 */
export const LEDGERD = [path.resolve(here, '..', '..', 'src', 'cli', 'ledgerd.js'), path.resolve(here, '..', '..', '..', '..', 'dist', 'src', 'cli', 'ledgerd.js')]
  .find((candidate) => existsSync(candidate)) ?? path.resolve(here, '..', '..', 'src', 'cli', 'ledgerd.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export type Answer = ApiAnswer;

async function answerOf(response: Dispatcher.ResponseData): Promise<Answer> {
  return apiAnswer(response.statusCode, await response.body.text(), response.headers);
}

/** Headers every `call` sends (a secured cluster's bearer token). */
let defaultHeaders: Record<string, string> = {};

export function setDefaultHeaders(headers: Record<string, string>): void {
  defaultHeaders = { ...headers };
}

export async function call(url: string, method: 'GET' | 'POST' | 'DELETE', pathAndQuery: string, body?: unknown, rawBody?: string): Promise<Answer> {
  const response = await request(new URL(pathAndQuery, url), {
    method,
    headers: { ...defaultHeaders, ...(body !== undefined || rawBody !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(rawBody !== undefined ? { body: rawBody } : body !== undefined ? { body: JSON.stringify(body) } : {}),
    headersTimeout: 20_000,
    bodyTimeout: 20_000,
  });
  return answerOf(response);
}

/**
 * Like `call`, with the headers and raw body bytes chosen by the caller (no
 * content type is added): for wrong content types and oversized bodies.
 */
export async function callRaw(
  url: string,
  method: 'GET' | 'POST' | 'DELETE',
  pathAndQuery: string,
  options: { readonly headers?: Record<string, string>; readonly body?: string | Buffer } = {},
): Promise<Answer> {
  const response = await request(new URL(pathAndQuery, url), {
    method,
    headers: options.headers ?? {},
    ...(options.body !== undefined ? { body: options.body } : {}),
    headersTimeout: 20_000,
    bodyTimeout: 20_000,
  });
  return answerOf(response);
}

/** The headers every API answer carries (docs/api.md, Headers). */
export const RAFT_HEADERS = ['x-raft-term', 'x-raft-index', 'x-raft-leader', 'x-served-by'] as const;

/** Status, body and Raft headers of an answer, for failure messages. */
export function describeAnswer(answer: Answer): string {
  const headers = Object.fromEntries(Object.entries(answer.headers).filter(([k]) => k.startsWith('x-') || k === 'retry-after' || k === 'location'));
  return `${answer.status} ${answer.text} ${JSON.stringify(headers)}`;
}

const START_TIMEOUT_MS = 60_000;

function withoutNodeOptions(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  return env;
}

export interface NodeProcess {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  child: ChildProcess | undefined;
  log: string[];
}

export class ProcessCluster {
  readonly root = makeTempDir('cluster');
  /** https for a cluster started with --tls-cert/--tls-key. */
  scheme: 'http' | 'https' = 'http';
  readonly nodes = new Map<string, NodeProcess>();
  private peersArg = '';

  /** Starts `ids` as the founding voters. */
  async start(ids: readonly string[], extraArgs: readonly string[] = []): Promise<void> {
    for (const id of ids) {
      const port = await freePort();
      this.nodes.set(id, { id, port, url: `${this.scheme}://127.0.0.1:${port}`, dataDir: path.join(this.root, id), child: undefined, log: [] });
    }
    this.peersArg = ids.map((id) => `${id}=${(this.nodes.get(id) as NodeProcess).url}`).join(',');
    for (const id of ids) this.spawn(id, ['--peers', this.peersArg, ...extraArgs]);
    // Three processes starting at once on a loaded 2-core machine took over 20 s.
    await this.waitForLeader(START_TIMEOUT_MS);
  }

  /**
   * Starts n1, n2, n3 with a 1 s election timeout (leadership stays put while
   * several test files share two cores) and answers the leader and followers.
   */
  async startStableTrio(extraArgs: readonly string[] = []): Promise<{ leader: NodeProcess; followers: [NodeProcess, NodeProcess] }> {
    await this.start(['n1', 'n2', 'n3'], ['--election-ticks', '50', ...extraArgs]);
    const leader = await this.waitForLeader();
    return { leader, followers: this.followersOf(leader) as [NodeProcess, NodeProcess] };
  }

  /**
   * Starts a new node that joins through `via` (it must be added with POST
   * /v1/cluster/members), on `port` when the test already gave its URL away.
   */
  async startJoiner(id: string, via: string, port?: number): Promise<NodeProcess> {
    port ??= await freePort();
    const node: NodeProcess = { id, port, url: `${this.scheme}://127.0.0.1:${port}`, dataDir: path.join(this.root, id), child: undefined, log: [] };
    this.nodes.set(id, node);
    this.spawn(id, ['--join', via]);
    // A node starting on a loaded 2-core machine took over 15 s to listen.
    await this.waitHealthy(node, START_TIMEOUT_MS);
    return node;
  }

  private spawn(id: string, args: readonly string[]): void {
    const node = this.nodes.get(id) as NodeProcess;
    const child = spawn(
      process.execPath,
      [LEDGERD, '--id', id, '--listen', `127.0.0.1:${node.port}`, '--data', node.dataDir, '--tick-ms', '20', '--election-ticks', '15', '--log-level', 'warn', ...args],
      // Without tap's NODE_OPTIONS (a module loader for coverage, which is off): it made each start seconds slower.
      { stdio: ['ignore', 'pipe', 'pipe'], env: withoutNodeOptions() },
    );
    node.child = child;
    node.log = [];
    const keep = (chunk: Buffer): void => {
      node.log.push(chunk.toString());
      if (node.log.length > 200) node.log.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => {
      if (node.child === child) node.child = undefined;
    });
  }

  /** Restarts a stopped or killed node on the same data (ignoring --peers membership in favour of its log). */
  async restart(id: string): Promise<void> {
    const node = this.nodes.get(id) as NodeProcess;
    this.spawn(id, this.peersArg.includes(`${id}=`) ? ['--peers', this.peersArg] : ['--join', this.anyOtherUrl(id)]);
    await this.waitHealthy(node);
  }

  private anyOtherUrl(id: string): string {
    for (const node of this.nodes.values()) if (node.id !== id && node.child) return node.url;
    throw new Error('no running node to join through');
  }

  node(id: string): NodeProcess {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  running(): NodeProcess[] {
    return [...this.nodes.values()].filter((n) => n.child !== undefined);
  }

  async waitHealthy(node: NodeProcess, timeoutMs = 15_000): Promise<void> {
    // A probe that throws is a node not listening yet.
    const healthy = (): Promise<boolean> => call(node.url, 'GET', '/healthz').then((answer) => answer.status === 200);
    await waitFor(`${node.id} to come up`, healthy, timeoutMs, 50).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}:\n${node.log.join('')}`);
    });
  }

  /** The id of the node that a majority... the node that says it leads, with the highest term. */
  waitForLeader(timeoutMs = 20_000): Promise<NodeProcess> {
    return waitFor('a leader ready to serve', () => this.readyLeader(), timeoutMs, 50);
  }

  /** The node that says it leads with the highest term, if it is ready to serve. */
  private async readyLeader(): Promise<NodeProcess | undefined> {
    let best: { node: NodeProcess; term: number } | undefined;
    for (const node of this.running()) {
      const answer = await call(node.url, 'GET', '/v1/cluster').catch(() => undefined); // down or starting
      const term = answer?.body.term;
      if (answer?.status === 200 && answer.body.role === 'leader' && term !== undefined && (!best || term > best.term)) best = { node, term };
    }
    if (!best) return undefined;
    const ready = await call(best.node.url, 'GET', '/readyz').catch(() => undefined);
    return ready?.status === 200 ? best.node : undefined;
  }

  /** The running nodes other than `leader`. */
  followersOf(leader: NodeProcess): NodeProcess[] {
    return this.running().filter((node) => node.id !== leader.id);
  }

  kill9(id: string): void {
    this.node(id).child?.kill('SIGKILL');
  }

  pause(id: string): void {
    this.node(id).child?.kill('SIGSTOP');
  }

  resume(id: string): void {
    this.node(id).child?.kill('SIGCONT');
  }

  async stopNode(id: string): Promise<void> {
    const child = this.node(id).child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (this.node(id).child) child.kill('SIGKILL');
  }

  async close(): Promise<void> {
    for (const node of this.nodes.values()) {
      node.child?.kill('SIGCONT');
      node.child?.kill('SIGKILL');
    }
    await sleep(100);
    removeDir(this.root);
  }
}
