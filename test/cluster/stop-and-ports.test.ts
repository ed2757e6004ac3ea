// Operating a node (issue 13 point 7), with real processes: it stops within a
// bound on SIGTERM, SIGINT or SIGHUP whether its stdout is read, full or
// closed; a port in use is one line naming the port and the flag.

import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { call, freePort, ProcessCluster } from './harness.js';
import { killAll, startProcess, type Started } from './ledgerd-process.js';

/** Generous against a loaded machine: the node's own bound is its hand-over time plus 8 s. */
const STOP_BOUND_MS = 20_000;

async function startSingle(cluster: ProcessCluster, started: Started[], name: string, stdout: 'read' | number): Promise<{ node: Started; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const node = startProcess(['--id', 'n1', '--listen', `127.0.0.1:${port}`, '--data', path.join(cluster.root, name), '--peers', `n1=${url}`, '--log-level', 'info'], { stdout });
  started.push(node);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const ready = await call(url, 'GET', '/readyz').catch(() => undefined);
    if (ready?.status === 200) return { node, url };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${name} did not become ready: ${node.output()}`);
}

/** Requests, some of which may log (request logging may be off). */
async function someRequests(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) await call(url, 'GET', '/healthz');
}

/**
 * The write end of a pipe that is already full and that nobody reads: every
 * line the node logs finds it full, like a terminal's reader that stopped.
 */
function fullPipe(dir: string): { writeFd: number; close: () => void } {
  const fifo = path.join(dir, 'stdout.fifo');
  execFileSync('mkfifo', [fifo]);
  const readFd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writeFd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    for (;;) writeSync(writeFd, Buffer.alloc(4096, 0x2e));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
  }
  return { writeFd, close: () => [readFd, writeFd].forEach((fd) => closeSync(fd)) };
}

t.test('a node stops within a bound whatever its stdout does', async (t) => {
  const cluster = new ProcessCluster();
  const started: Started[] = [];
  t.teardown(async () => {
    killAll(started);
    await cluster.close();
  });

  const pipe = fullPipe(cluster.root);
  t.teardown(pipe.close);
  const unread = await startSingle(cluster, started, 'unread', pipe.writeFd);
  await someRequests(unread.url);
  t.equal((await call(unread.url, 'GET', '/healthz')).status, 200, 'a full stdout pipe does not stop it serving');
  unread.node.child.kill('SIGTERM');
  const unreadExit = await unread.node.exitWithin(STOP_BOUND_MS);
  t.not(unreadExit, 'timeout', 'SIGTERM with a full stdout pipe nobody reads: it exits');
  t.equal(unreadExit !== 'timeout' && unreadExit.code, 0, 'cleanly');

  const closed = await startSingle(cluster, started, 'closed', 'read');
  closed.node.child.stdout?.destroy();
  await someRequests(closed.url);
  closed.node.child.kill('SIGINT');
  const closedExit = await closed.node.exitWithin(STOP_BOUND_MS);
  t.not(closedExit, 'timeout', 'SIGINT with stdout closed (EPIPE): it exits');
  t.equal(closedExit !== 'timeout' && closedExit.code, 0, 'cleanly');

  const hungUp = await startSingle(cluster, started, 'hangup', 'read');
  hungUp.node.child.kill('SIGHUP');
  const hungUpExit = await hungUp.node.exitWithin(STOP_BOUND_MS);
  t.same(hungUpExit, { code: 0, signal: null }, 'SIGHUP (the terminal closed) stops it cleanly, not by the default kill');
  t.match(hungUp.node.output(), /"signal":"SIGHUP".*shutting down[\s\S]*stopped cleanly/);
});

t.test('a port in use is one line naming the port and the flag', async (t) => {
  const cluster = new ProcessCluster();
  const started: Started[] = [];
  const holder: Server = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    killAll(started);
    holder.close();
    await cluster.close();
  });
  const address = holder.address();
  const busy = typeof address === 'object' && address ? address.port : 0;

  for (const [flag, args] of [
    ['--listen', ['--listen', `127.0.0.1:${busy}`]],
    ['--peer-listen', ['--listen', `127.0.0.1:${await freePort()}`, '--peer-listen', `127.0.0.1:${busy}`]],
  ] as const) {
    const node = startProcess(['--id', 'n1', '--data', path.join(cluster.root, flag), '--peers', 'n1=http://127.0.0.1:1', '--log-level', 'warn', ...args]);
    started.push(node);
    const exit = await node.exitWithin(20_000);
    t.same(exit, { code: 1, signal: null }, `${flag}: exits 1`);
    t.equal(node.stderr(), `ledgerd: 127.0.0.1:${busy} is already in use (${flag}): stop the process listening there, or give ${flag} another port\n`,
      `${flag}: one line naming the port and the flag, no stack trace`);
  }
});
