#!/usr/bin/env node
// `make run`: starts a 3-node cluster on loopback (ports 7001-7003, data under
// ./data/n1..n3) as three ledgerd processes, prefixes their logs, and on
// Ctrl-C, SIGTERM or SIGHUP (the terminal closed) lets each node shut down
// cleanly before exiting. LEDGER_BASE_PORT and LEDGER_DATA_ROOT move it.
//
// The peers authenticate each other: the first start makes a random cluster
// secret and cluster id and keeps them in <data root>/cluster.json (mode
// 0600); later starts on the same data root reuse them. The secret reaches
// the nodes through their environment, not their command line, which any
// local user can read with ps.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { clusterIdSchema } from '../config.js';
import { runAsProgram } from './entry.js';

export const CLUSTER_FILE = 'cluster.json';

const clusterFileSchema = z.strictObject({
  cluster_id: clusterIdSchema,
  cluster_secret: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits'),
});

export type ClusterFile = z.infer<typeof clusterFileSchema>;

/** The data root's cluster id and secret, made on first use and kept owner-only. */
export function clusterFileOf(dataRoot: string): ClusterFile {
  const file = join(dataRoot, CLUSTER_FILE);
  if (existsSync(file)) {
    const parsed = clusterFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) {
      throw new Error(`${file} is not a cluster file (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}): remove the data root to start a new cluster`);
    }
    chmodSync(file, 0o600);
    return parsed.data;
  }
  const made: ClusterFile = { cluster_id: `c-${randomBytes(8).toString('hex')}`, cluster_secret: randomBytes(32).toString('hex') };
  mkdirSync(dataRoot, { recursive: true });
  // 'wx': two launchers racing on a new data root do not both write one.
  writeFileSync(file, `${JSON.stringify(made)}\n`, { mode: 0o600, flag: 'wx' });
  return made;
}

function main(): void {
  const here = dirname(fileURLToPath(import.meta.url));
  const ledgerd = join(here, 'ledgerd.js');
  const ids = ['n1', 'n2', 'n3'];
  const basePort = Number(process.env.LEDGER_BASE_PORT ?? 7001);
  const dataRoot = resolve(process.env.LEDGER_DATA_ROOT ?? 'data');
  const peers = ids.map((id, i) => `${id}=http://127.0.0.1:${basePort + i}`).join(',');
  const cluster = clusterFileOf(dataRoot);

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  let failed = false;
  // A closed terminal makes our own writes fail: stop the nodes rather than die and leave them running.
  const say = (text: string): void => {
    if (process.stdout.writable) process.stdout.write(text);
  };
  process.stdout.on('error', () => stop());

  for (const [i, id] of ids.entries()) {
    const data = join(dataRoot, id);
    mkdirSync(data, { recursive: true });
    const args = [ledgerd, '--id', id, '--listen', `127.0.0.1:${basePort + i}`, '--data', data, '--peers', peers, '--cluster-id', cluster.cluster_id];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LEDGER_CLUSTER_SECRET: cluster.cluster_secret },
      // Own process group: Ctrl-C reaches the launcher, which stops the nodes one by one.
      detached: true,
    });
    children.set(id, child);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => say(`[${id}] ${line}\n`));
    }
    child.on('exit', (code, signal) => {
      children.delete(id);
      if (!stopping || code !== 0) failed = true;
      say(`[${id}] exited (${signal ?? `code ${code}`})\n`);
      if (!stopping) stop();
      if (children.size === 0) process.exit(failed ? 1 : 0);
    });
  }

  say(
    `raft-ledger: 3 nodes on http://127.0.0.1:${basePort}..${basePort + 2} (cluster ${cluster.cluster_id}, peers authenticated ` +
      `with the secret in ${join(dataRoot, CLUSTER_FILE)}), data under ${dataRoot}. Ctrl-C stops all three.\n` +
      `  try: curl -s http://127.0.0.1:${basePort}/v1/cluster\n`,
  );

  function stop(): void {
    if (stopping) return;
    stopping = true;
    say('stopping the cluster...\n');
    for (const child of children.values()) child.kill('SIGTERM');
    setTimeout(() => {
      for (const child of children.values()) child.kill('SIGKILL');
    }, 15_000).unref();
  }

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
}

if (runAsProgram(import.meta.url)) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`local-cluster: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
