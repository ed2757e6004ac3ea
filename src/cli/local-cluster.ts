#!/usr/bin/env node
// `make run`: starts a 3-node cluster on loopback (ports 7001-7003, data under
// ./data/n1..n3) as three ledgerd processes, prefixes their logs, and on
// Ctrl-C (or SIGTERM) lets each node shut down cleanly before exiting.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const ledgerd = join(here, 'ledgerd.js');
const ids = ['n1', 'n2', 'n3'];
const basePort = Number(process.env.LEDGER_BASE_PORT ?? 7001);
const dataRoot = resolve(process.env.LEDGER_DATA_ROOT ?? 'data');
const peers = ids.map((id, i) => `${id}=http://127.0.0.1:${basePort + i}`).join(',');

const children = new Map<string, ChildProcess>();
let stopping = false;

for (const [i, id] of ids.entries()) {
  const data = join(dataRoot, id);
  mkdirSync(data, { recursive: true });
  const child = spawn(process.execPath, [ledgerd, '--id', id, '--listen', `127.0.0.1:${basePort + i}`, '--data', data, '--peers', peers], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: Ctrl-C reaches the launcher, which stops the nodes one by one.
    detached: true,
  });
  children.set(id, child);
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[${id}] ${line}\n`));
  }
  child.on('exit', (code, signal) => {
    children.delete(id);
    process.stdout.write(`[${id}] exited (${signal ?? `code ${code}`})\n`);
    if (!stopping) stop();
    if (children.size === 0) process.exit(0);
  });
}

process.stdout.write(
  `raft-ledger: 3 nodes on http://127.0.0.1:${basePort}..${basePort + 2}, data under ${dataRoot}. Ctrl-C stops all three.\n` +
    `  try: curl -s http://127.0.0.1:${basePort}/v1/cluster\n`,
);

function stop(): void {
  if (stopping) return;
  stopping = true;
  process.stdout.write('stopping the cluster...\n');
  for (const child of children.values()) child.kill('SIGTERM');
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
  }, 15_000).unref();
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);
