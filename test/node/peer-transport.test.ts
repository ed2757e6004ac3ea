// Transports exchanging Raft messages over real sockets on 127.0.0.1: order
// per peer, large batches with binary entry data intact, a peer that goes
// down and comes back, bounded queues.

import t from 'tap';
import type { Test } from 'tap';
import type { Message } from '../../src/raft/types.js';
import { Prng } from '../../src/lib/prng.js';
import { encodeConfChange } from '../../src/raft/membership.js';
import { SECRET, connect, entry, listen, message, startNode } from './peer-harness.js';
import { sleep, waitFor } from '../support/helpers.js';
import type { TestNode } from './peer-harness.js';

const seed = Number(process.env['PEER_TEST_SEED'] ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (PEER_TEST_SEED=${seed} replays the random data)`);

async function cluster(t: Test, count: number, options: Parameters<typeof startNode>[1] = {}): Promise<TestNode[]> {
  const nodes: TestNode[] = [];
  for (let i = 1; i <= count; i++) nodes.push(await startNode(`n${i}`, options));
  connect(nodes);
  t.teardown(async () => {
    for (const node of nodes) await node.close();
  });
  return nodes;
}

t.test('three nodes: each peer receives its messages in the order sent', async (t) => {
  const [n1, n2, n3] = await cluster(t, 3, { secret: SECRET });
  if (n1 === undefined || n2 === undefined || n3 === undefined) throw new Error('cluster');
  const rounds = 2000;
  for (let i = 1; i <= rounds; i++) {
    // Many small send() calls, as a busy driver makes them; they coalesce into batches.
    n1.transport.send([
      message({ type: 'app', from: 'n1', to: 'n2', index: i }),
      message({ type: 'heartbeat', from: 'n1', to: 'n3', commit: i }),
    ]);
    n2.transport.send([message({ type: 'appResp', from: 'n2', to: 'n1', index: i })]);
    if (i % 100 === 0) await sleep(1);
  }
  await waitFor('all messages', () => n2.received.length === rounds && n3.received.length === rounds && n1.received.length === rounds);
  t.same(n2.received.map((m) => m.index), range(1, rounds), 'n2 got n1\'s appends in order');
  t.same(n3.received.map((m) => m.commit), range(1, rounds), 'n3 got n1\'s heartbeats in order');
  t.same(n1.received.map((m) => m.index), range(1, rounds), 'n1 got n2\'s answers in order');
  t.ok(n2.received.every((m) => m.from === 'n1' && m.to === 'n2' && m.type === 'app'));
  const stats = n1.transport.stats().peers.find((peer) => peer.peer === 'n2');
  t.ok(stats !== undefined && stats.sentRequests < rounds, `batched: ${stats?.sentRequests} requests for ${rounds} messages`);
  t.equal(stats?.droppedMessages, 0);
});

t.test('pipelined requests: many in flight on one connection, delivered in order', async (t) => {
  const [n1, n2] = await cluster(t, 2, { secret: SECRET, limits: { maxInFlightRequests: 8 } });
  if (n1 === undefined || n2 === undefined) throw new Error('cluster');
  let connections = 0;
  n2.app.server.on('connection', () => (connections += 1));
  const rounds = 3000;
  let mostInFlight = 0;
  for (let i = 1; i <= rounds; i++) {
    n1.transport.send([message({ type: 'app', from: 'n1', to: 'n2', index: i })]);
    // Yield to microtasks so that each send leaves in its own request, and now and then to I/O.
    await (i % 20 === 0 ? new Promise((resolve) => setImmediate(resolve)) : Promise.resolve());
    mostInFlight = Math.max(mostInFlight, n1.transport.stats().peers[0]?.inFlightRequests ?? 0);
  }
  await waitFor('all messages', () => n2.received.length === rounds);
  t.same(n2.received.map((m) => m.index), range(1, rounds), 'in order, none lost');
  t.ok(mostInFlight > 1 && mostInFlight <= 8, `requests in flight at once: at most ${mostInFlight} of 8`);
  t.equal(connections, 1, 'all of them pipelined on one keep-alive connection');
});

t.test('large batches: thousands of entries with binary data arrive intact', async (t) => {
  const [n1, n2] = await cluster(t, 2, { secret: SECRET });
  if (n1 === undefined || n2 === undefined) throw new Error('cluster');
  const prng = new Prng(seed);
  const sent: Message[] = [];
  let index = 0;
  for (let m = 0; m < 20; m++) {
    const entries = [];
    for (let e = 0; e < 500; e++) {
      index += 1;
      if (prng.chance(0.1)) {
        // A configuration entry must decode as one (the receiver refuses it otherwise).
        const change = encodeConfChange({ type: 'addLearner', nodeId: `n${prng.int(4, 99)}`, context: `http://127.0.0.1:${prng.int(1024, 65535)}` });
        entries.push({ ...entry(index, change, 3), type: 'conf' as const });
        continue;
      }
      const data = new Uint8Array(prng.int(0, 600));
      for (let b = 0; b < data.length; b++) data[b] = prng.int(0, 255);
      entries.push(entry(index, data, 3));
    }
    sent.push(message({ type: 'app', from: 'n1', to: 'n2', term: 3, index: index - 500, logTerm: 3, entries, commit: index - 600 > 0 ? index - 600 : 0 }));
  }
  // One megabyte-sized entry too, alone in its batch.
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 31 + seed) & 0xff);
  sent.push(message({ type: 'app', from: 'n1', to: 'n2', term: 3, index, logTerm: 3, entries: [entry(index + 1, big, 3)] }));
  n1.transport.send(sent);
  await waitFor('all batches', () => n2.received.length === sent.length);
  t.equal(n2.received.length, sent.length);
  for (const [i, got] of n2.received.entries()) {
    const want = sent[i] as Message;
    t.equal(got.entries.length, want.entries.length, `message ${i} entry count`);
    const same = got.entries.every((e, j) => {
      const w = want.entries[j];
      return w !== undefined && e.index === w.index && e.term === w.term && e.type === w.type && Buffer.from(e.data).equals(Buffer.from(w.data));
    });
    t.ok(same, `message ${i}: entries identical, data byte for byte`);
  }
  const stats = n1.transport.stats().peers[0];
  t.ok(stats !== undefined && stats.sentRequests >= 2, 'split into several requests by maxBatchBytes');
});

t.test('a peer that is down: onUnreachable, bounded queue, then messages flow again', async (t) => {
  const limits = { maxQueuedMessages: 100, backoffBaseMs: 20, backoffMaxMs: 200, requestTimeoutMs: 1000 };
  const n1 = await startNode('n1', { secret: SECRET, limits });
  t.teardown(() => n1.close());
  // Reserve a port for n2, then stop it: n2 is down.
  const probe = await listen('n2', { onMessages: () => undefined, onSnapshotStart: () => undefined, onUnreachable: () => undefined, onSnapshotSent: () => undefined }, {});
  const port = (probe.server.address() as { port: number }).port;
  await probe.close();
  n1.transport.setPeers(new Map([['n1', n1.url], ['n2', `http://127.0.0.1:${port}`]]));

  for (let i = 1; i <= 5000; i++) n1.transport.send([message({ type: 'heartbeat', from: 'n1', to: 'n2', commit: i })]);
  await waitFor('onUnreachable', () => n1.unreachable.length > 0);
  t.equal(n1.unreachable[0], 'n2', 'onUnreachable names the peer');
  for (let i = 1; i <= 5000; i++) n1.transport.send([message({ type: 'heartbeat', from: 'n1', to: 'n2', commit: 5000 + i })]);
  const down = n1.transport.stats().peers[0];
  t.ok(down !== undefined && down.queuedMessages <= 100, `queue bounded while down: ${down?.queuedMessages}`);
  t.ok(down !== undefined && down.droppedMessages >= 9800, `the oldest dropped: ${down?.droppedMessages}`);
  t.equal(down?.reachable, false);
  for (let i = 0; i < 20; i++) {
    n1.transport.send([message({ type: 'heartbeat', from: 'n1', to: 'n2', commit: 10_000 + i })]);
    await sleep(10);
    const stats = n1.transport.stats().peers[0];
    t.ok(stats !== undefined && stats.queuedMessages <= 100 && stats.inFlightRequests <= 1, 'bounded during backoff');
  }
  const unreachableWhileDown = n1.unreachable.length;
  t.ok(unreachableWhileDown < 30, `probes spaced by backoff: ${unreachableWhileDown} reports`);

  const n2 = await startNode('n2', { secret: SECRET, port });
  t.teardown(() => n2.close());
  n1.transport.send([message({ type: 'heartbeat', from: 'n1', to: 'n2', commit: 99_999 })]);
  await waitFor('messages after recovery', () => n2.received.some((m) => m.commit === 99_999));
  const commits = n2.received.map((m) => m.commit);
  t.same(commits, [...commits].sort((a, b) => a - b), 'what arrives after recovery is still in order');
  await waitFor('reachable again', () => n1.transport.stats().peers[0]?.reachable === true);
  const before = n2.received.length;
  n1.transport.send([message({ type: 'app', from: 'n1', to: 'n2', index: 7 }), message({ type: 'app', from: 'n1', to: 'n2', index: 8 })]);
  await waitFor('new messages', () => n2.received.length === before + 2);
  t.same(n2.received.slice(before).map((m) => m.index), [7, 8]);
});

t.test('a peer that never answers: request timeout, then backoff', async (t) => {
  const n1 = await startNode('n1', { limits: { requestTimeoutMs: 200, backoffBaseMs: 20, backoffMaxMs: 100 } });
  t.teardown(() => n1.close());
  // A TCP server that accepts and never answers.
  const net = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const silent = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  n1.transport.setPeers(new Map([['n9', `http://127.0.0.1:${(silent.address() as { port: number }).port}`]]));
  n1.transport.send([message({ type: 'vote', from: 'n1', to: 'n9' })]);
  await waitFor('timeout reported', () => n1.unreachable.includes('n9'));
  t.equal(n1.transport.stats().peers[0]?.failedRequests, 1);
});

t.test('setPeers adds, moves and removes peers; unknown peers are dropped', async (t) => {
  const [n1, n2, n3] = await cluster(t, 3);
  if (n1 === undefined || n2 === undefined || n3 === undefined) throw new Error('cluster');
  n1.transport.setPeers(new Map([['n1', n1.url], ['n2', n2.url]]));
  n1.transport.send([message({ type: 'heartbeat', from: 'n1', to: 'n3' }), message({ type: 'heartbeat', from: 'n1', to: 'n2' })]);
  await waitFor('n2 message', () => n2.received.length === 1);
  t.equal(n1.transport.stats().unknownPeerDrops, 1, 'message to a removed peer dropped and counted');
  // n2 "moves" to n3's address: the link is rebuilt and the messages go there.
  n1.transport.setPeers(new Map([['n2', n3.url]]));
  n1.transport.send([message({ type: 'heartbeat', from: 'n1', to: 'n2' })]);
  await sleep(100);
  t.equal(n3.received.length, 0, 'n3 refuses messages addressed to n2 (421)');
  t.equal(n1.transport.stats().peers[0]?.url, n3.url);
  await waitFor('onUnreachable after 421', () => n1.unreachable.includes('n2'));
});

t.test('without a secret the transport still works (loopback deployments)', async (t) => {
  const [n1, n2] = await cluster(t, 2);
  if (n1 === undefined || n2 === undefined) throw new Error('cluster');
  n1.transport.send([message({ type: 'timeoutNow', from: 'n1', to: 'n2', term: 9 })]);
  await waitFor('message', () => n2.received.length === 1);
  t.equal(n2.received[0]?.type, 'timeoutNow');
  t.equal(n2.received[0]?.term, 9);
});

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
