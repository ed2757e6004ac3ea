// One ledgerd (or launcher) process started by hand, for the tests of how a
// node starts, refuses to start and stops: its output collected, its exit
// awaited with a bound, and a kill in teardown.

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import path from 'node:path';
import { LEDGERD } from './harness.js';
import { sleep } from '../support/helpers.js';

export const LAUNCHER = path.join(path.dirname(LEDGERD), 'local-cluster.js');
export const LEDGERCTL = path.join(path.dirname(LEDGERD), 'ledgerctl.js');

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Started {
  readonly child: ChildProcess;
  /** stdout and stderr as read so far (empty when they are not read). */
  output(): string;
  stderr(): string;
  /** The exit, or 'timeout' when the process is still running after `ms`. */
  exitWithin(ms: number): Promise<Exit | 'timeout'>;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** 'unread' leaves stdout a pipe that nobody reads; a number is a descriptor the child writes to. */
  readonly stdout?: 'read' | 'unread' | number;
}

/** Runs `script` (default ledgerd) with `args`. */
export function startProcess(args: readonly string[], options: StartOptions = {}, script = LEDGERD): Started {
  const stdio: StdioOptions = ['ignore', typeof options.stdout === 'number' ? options.stdout : 'pipe', 'pipe'];
  const child = spawn(process.execPath, [script, ...args], { stdio, env: { ...process.env, ...options.env } });
  const out: string[] = [];
  const err: string[] = [];
  if (options.stdout === undefined || options.stdout === 'read') child.stdout?.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => out.join('') + err.join(''),
    stderr: () => err.join(''),
    exitWithin: (ms) => Promise.race([exited, sleep(ms).then(() => 'timeout' as const)]),
  };
}

/** Kills what is still running (teardown). */
export function killAll(started: readonly Started[]): void {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
}
