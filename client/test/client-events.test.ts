// The client's change stream (LedgerClient.events) against a real 3-node
// cluster: typed events in log order; the node serving the stream (the
// leader) killed with SIGKILL mid-stream, after which the iterator resumes
// on another node with Last-Event-ID and delivers exactly what a fresh
// stream from index 0 delivers (nothing skipped, nothing twice); and a 410
// (events compacted away) surfacing as EventsCompactedError without retries.

import http from 'node:http';
import t from 'tap';
import { ProcessCluster } from '../../test/cluster/harness.js';
import { waitFor } from '../../test/support/helpers.js';
import { EventsCompactedError, LedgerClient, type LedgerEvent } from '../src/index.js';

const DEADLINE_MS = 30_000;

/** Collects a stream's events in the background until aborted. */
function follow(client: LedgerClient, fromIndex: number, onConnect?: (servedBy: string, lastEventId: string | undefined) => void) {
  const controller = new AbortController();
  const events: LedgerEvent[] = [];
  const done = (async () => {
    for await (const event of client.events({ fromIndex, signal: controller.signal, onConnect: (c) => onConnect?.(c.servedBy, c.lastEventId) })) events.push(event);
  })();
  return { events, stop: async () => { controller.abort(); await done; }, done };
}

/** An item's record has a sku and no id. */
const recordId = (event: LedgerEvent): string | undefined => (event.record as { readonly id?: string }).id;

const hasTransfer = (events: readonly LedgerEvent[], id: string): boolean =>
  events.some((event) => event.kind === 'transfer_created' && event.record.id === id);

t.test('events(): typed, in order, resumed on another node after the serving leader is killed', async (t) => {
  const cluster = new ProcessCluster();
  t.teardown(() => cluster.close());
  const { leader, followers } = await cluster.startStableTrio();
  // Reads (and so the stream) go to the first URL first: the leader, which the test then kills (this client makes no other call before).
  const reader = new LedgerClient({ urls: [leader.url, followers[0].url, followers[1].url], deadlineMs: DEADLINE_MS });
  const writer = new LedgerClient({ urls: [followers[0].url, followers[1].url, leader.url], deadlineMs: DEADLINE_MS });
  t.teardown(async () => {
    await reader.close();
    await writer.close();
  });

  const nodes = (await writer.getClusterNodes()).value.nodes;
  t.same(nodes.map((node) => node.id).sort(), ['n1', 'n2', 'n3'], 'getClusterNodes: every member');
  t.ok(nodes.every((node) => node.status?.id === node.id), "each with its own status (it names itself)");
  t.equal(nodes.find((node) => node.id === leader.id)?.status?.role, 'leader', 'the leader says it leads');

  await writer.createAccounts([{ id: 'ev.a', ledger: 'USD' }, { id: 'ev.b', ledger: 'USD' }]);
  for (let i = 1; i <= 5; i++) await writer.createTransfers({ id: `ev.t${i}`, debit_account_id: 'ev.a', credit_account_id: 'ev.b', amount: i, ledger: 'USD' });

  const connections: { servedBy: string; lastEventId: string | undefined }[] = [];
  const stream = follow(reader, 0, (servedBy, lastEventId) => connections.push({ servedBy, lastEventId }));
  t.teardown(() => stream.stop());
  await waitFor('ev.t5 on the stream', () => hasTransfer(stream.events, 'ev.t5'), DEADLINE_MS, 20);
  const first = stream.events.find((event) => event.kind === 'transfer_created');
  t.equal(first?.kind === 'transfer_created' ? first.record.amount : undefined, '1', 'records are typed as the reads render them (amounts as strings)');
  t.same(stream.events.slice(0, 2).map((event) => [event.kind, recordId(event)]), [['account_created', 'ev.a'], ['account_created', 'ev.b']]);
  t.equal(connections[0]?.servedBy, leader.id, 'the stream started on the leader');

  cluster.kill9(leader.id);
  for (let i = 6; i <= 10; i++) await writer.createTransfers({ id: `ev.t${i}`, debit_account_id: 'ev.a', credit_account_id: 'ev.b', amount: i, ledger: 'USD' });
  await waitFor('ev.t10 on the resumed stream', () => hasTransfer(stream.events, 'ev.t10'), DEADLINE_MS, 20);
  await stream.stop();

  const afterKill = (await writer.getClusterNodes(followers[0].url)).value.nodes.find((node) => node.id === leader.id);
  t.same([afterKill?.status, afterKill?.error?.code], [null, 'unreachable'], 'getClusterNodes reports the killed node');

  const resumed = connections.at(-1);
  t.ok(connections.length >= 2 && resumed?.servedBy !== leader.id, `resumed on a surviving node (${JSON.stringify(connections)})`);
  t.ok(resumed?.lastEventId !== undefined, 'with Last-Event-ID');

  // A fresh stream from index 0 on a surviving node: the same events, once each, in the same order.
  const check = new LedgerClient({ urls: [followers[0].url], deadlineMs: DEADLINE_MS });
  t.teardown(() => check.close());
  const reference = follow(check, 0);
  await waitFor('ev.t10 on a fresh stream', () => hasTransfer(reference.events, 'ev.t10'), DEADLINE_MS, 20);
  await reference.stop();
  const upTo = (events: readonly LedgerEvent[]) => {
    const last = events.findIndex((event) => event.kind === 'transfer_created' && event.record.id === 'ev.t10');
    return events.slice(0, last + 1).map((event) => `${event.id} ${event.kind} ${String(recordId(event))}`);
  };
  t.same(upTo(stream.events), upTo(reference.events), 'nothing skipped or delivered twice across the resume');
  t.equal(upTo(stream.events).filter((line) => line.includes('transfer_created')).length, 10);
  t.ok(reader.sessionIndex >= (stream.events.at(-1)?.index ?? Infinity), 'the events carry the session index forward (read-your-writes)');
});

t.test('events(): a 410 (compacted away) is EventsCompactedError with the oldest index, not retried', async (t) => {
  let requests = 0;
  const server = http.createServer((request, response) => {
    requests++;
    response.writeHead(410, { 'content-type': 'application/json', 'x-served-by': 'n1' });
    response.end(JSON.stringify({ error: { code: 'events_compacted', message: 'from_index 3 was compacted away; the oldest index is 42', details: { oldest_index: 42 } } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const client = new LedgerClient({ urls: [`http://127.0.0.1:${port}`], deadlineMs: 5_000 });
  t.teardown(() => client.close());
  const error = await (async () => {
    for await (const event of client.events({ fromIndex: 3 })) t.fail(`no event expected: ${event.id}`);
  })().then(() => undefined, (caught: unknown) => caught);
  t.ok(error instanceof EventsCompactedError, `EventsCompactedError (${String(error)})`);
  t.equal((error as EventsCompactedError).oldestIndex, 42);
  t.equal((error as EventsCompactedError).status, 410);
  t.equal(requests, 1, 'asked once: no other node can serve a position compacted away');
});
