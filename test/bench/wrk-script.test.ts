// The measuring client of `make bench` (bench/wrk/bench.lua run by
// bench/wrk.ts) against a small recording HTTP server: a write phase never
// repeats a transfer id (a repeat would be answered "exists" and inflate the
// write rate with no-ops), batches carry the asked number of transfers, and
// refused items and non-2xx answers are counted as failures rather than as
// throughput. Needs wrk, installed by scripts/apt-install.sh where the machine
// allows; skips and says why elsewhere.

import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { failureCount, goodRequestsPerSecond, runWrk } from '../../bench/wrk.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function installWrk(): string | undefined {
  const run = spawnSync('bash', [path.join(repoRoot, 'scripts', 'apt-install.sh'), 'wrk-install', 'wrk', 'wrk'], { encoding: 'utf8', timeout: 300_000 });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (run.status === 0) return undefined;
  if (run.status === 77) return `wrk cannot be installed here, skipped: ${output}`;
  throw new Error(`apt-install.sh wrk exited ${run.status ?? run.signal}: ${output}`);
}

interface Recorder {
  readonly url: string;
  readonly ids: string[];
  readonly batchSizes: number[];
  close(): Promise<void>;
}

/** Answers every 10th transfer item as refused and every 7th request with a 503. */
async function recordingServer(): Promise<Recorder> {
  const ids: string[] = [];
  const batchSizes: number[] = [];
  let requests = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests++;
      if (requests % 7 === 0) {
        response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"no_leader"}}');
        return;
      }
      const parsed = JSON.parse(body) as { id: string } | { transfers: { id: string }[] };
      const items = 'transfers' in parsed ? parsed.transfers : [parsed];
      batchSizes.push(items.length);
      const results = items.map((item) => {
        ids.push(item.id);
        return ids.length % 10 === 0 ? { id: item.id, status: 'error', code: 'exceeds_credits' } : { id: item.id, status: 'created' };
      });
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ results, index: requests }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, ids, batchSizes, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const skip = installWrk();
if (skip !== undefined) t.comment(skip);

for (const batch of [1, 50]) {
  t.test(`wrk phase with ${batch} transfer(s) per request: unique ids, failures counted`, { skip: skip ?? false }, async (t) => {
    const server = await recordingServer();
    t.teardown(() => server.close());
    const result = await runWrk({ url: server.url, workload: 'transfers', runTag: 'm1', connections: 4, seconds: 1, accounts: 10, batch });

    t.ok(result.requests > 10, `wrk completed ${result.requests} requests`);
    t.equal(new Set(server.ids).size, server.ids.length, 'no transfer id is sent twice');
    t.ok(server.ids.every((id) => /^m1-[12]-\d+$/.test(id)), 'ids carry the phase tag and the wrk thread');
    t.ok(server.batchSizes.every((size) => size === batch), `every request carries ${batch} transfer(s)`);
    t.ok(result.errors.status > 0, `503 answers are counted as non-2xx (${result.errors.status})`);
    t.ok(result.item_errors > 0, `refused items are counted (${result.item_errors})`);
    // Every answered 200 item is either created or refused; none is lost or counted twice.
    const answeredItems = (result.requests - result.errors.status) * batch;
    t.equal(result.items_created + result.item_errors, answeredItems, 'created + refused items = items in 200 answers');
    t.ok(failureCount(result) >= result.errors.status + result.item_errors, 'failures include both');
    t.ok(goodRequestsPerSecond(result) < result.requests / (result.duration_us / 1e6), 'throughput leaves out the 503s');
    t.match(result.error_sample, /503|exceeds_credits/, 'the first failure is kept for the report');
  });
}
