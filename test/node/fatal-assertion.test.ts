// A failed assertion stops the process (exit 70, one fatal line on stderr)
// instead of answering 500 and serving on over a half-updated core, from an
// API handler and from a peer route alike; and the node restarts cleanly on
// the same data directory: what was committed before the failure is there,
// and it takes writes again. The process is fatal-child.ts: the real node,
// routes and sockets, with injected programmer errors.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { ASSERTION_EXIT_CODE } from '../../src/lib/fatal.js';
import { encodeMessageBatch } from '../../src/node/peer-codec.js';
import { call, freePort } from '../cluster/harness.js';
import { makeTempDir, removeDir, sleep, waitFor } from '../support/helpers.js';
import { message, postRaw } from './peer-harness.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fatal-child.js');
const TRIGGER = 'assert-now';

interface Child {
  readonly process: ChildProcess;
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

function startChild(port: number, dataDir: string): Child {
  const child = spawn(process.execPath, [CHILD, String(port), dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { process: child, stderr, exited };
}

async function waitWritable(url: string, id: string): Promise<void> {
  // A call that throws is a node not listening yet.
  await waitFor(`node at ${url} to take a write`, async () => (await call(url, 'POST', '/v1/accounts', { id, ledger: 'USD' })).status === 200, 20_000, 100);
}

/** Exit code within `ms`, or 'running'. */
function exitWithin(child: Child, ms: number): Promise<number | null | 'running'> {
  return Promise.race([child.exited, sleep(ms).then(() => 'running' as const)]);
}

t.test('an assertion failing in a handler stops the process, which restarts cleanly', async (t) => {
  const dir = makeTempDir('fatal');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let current: Child | undefined;
  t.teardown(() => {
    current?.process.kill('SIGKILL');
    removeDir(dir);
  });

  current = startChild(port, dir);
  await waitWritable(url, 'before');

  // 1. API handler: the write commits, then the injected assertion fails.
  const answered = await request(new URL('/v1/accounts', url), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: TRIGGER, ledger: 'USD' }),
  }).then((response) => response.statusCode, (error: Error) => error.message);
  t.not(answered, 500, `no 500 is answered (got: ${answered})`);
  t.equal(await exitWithin(current, 5000), ASSERTION_EXIT_CODE, `the process exits with ${ASSERTION_EXIT_CODE} promptly`);
  t.match(current.stderr.join(''), /"level":"fatal".*assertion failed in POST \/v1\/accounts.*injected: an invariant broke/, 'one fatal line names where and what');

  current = startChild(port, dir);
  await waitWritable(url, 'after-api-restart');
  for (const id of ['before', TRIGGER, 'after-api-restart']) {
    const read = await call(url, 'GET', `/v1/accounts/${id}`);
    t.equal(read.status, 200, `after the restart, ${id} (committed before the stop) is there`);
  }

  // 2. Peer route: the message batch fails inside onMessages.
  const body = encodeMessageBatch([message({ type: 'readIndex', from: 'n2', to: 'n1', term: 1, readIds: [TRIGGER] })]);
  const peerAnswer = await postRaw(url, 'messages', body, { from: 'n2', to: 'n1' }).then((a) => a.status, (error: Error) => error.message);
  t.not(peerAnswer, 500, `the peer gets no 500 either (got: ${peerAnswer})`);
  t.equal(await exitWithin(current, 5000), ASSERTION_EXIT_CODE, 'the process exits');
  t.match(current.stderr.join(''), /assertion failed in peer route \/raft\/v1\/messages/, 'the fatal line names the peer route');

  current = startChild(port, dir);
  await waitWritable(url, 'after-peer-restart');
  const again = await call(url, 'GET', '/v1/accounts/before');
  t.equal(again.status, 200, 'the ledger survived both stops');
});
