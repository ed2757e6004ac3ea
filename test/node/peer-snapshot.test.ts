// Snapshots streamed between transports over real sockets: several MB from a
// real snapshot file into a real snapshot file in chunks, committed with the
// right checksum and followed by the `snap` message; a corrupted or broken
// stream aborts the receiver's sink and reports failure to the sender.

import t from 'tap';
import { crc32c } from '../../src/storage/crc32c.js';
import { SnapshotRefusedError } from '../../src/ledger/index.js';
import type { Test as Tap } from 'tap';
import path from 'node:path';
import type { Message, SnapshotMeta } from '../../src/raft/types.js';
import type { SnapshotSink } from '../../src/node/transport.js';
import { SnapshotWriter, openSnapshotFile } from '../../src/storage/snapshot-store.js';
import type { SnapshotFile } from '../../src/storage/snapshot-store.js';
import { nodeFileIo } from '../../src/storage/io.js';
import { encodeSnapshotChunk } from '../../src/node/peer-codec.js';
import { Prng } from '../../src/lib/prng.js';
import { snapshotData } from '../storage/fixtures/helpers.js';
import { MemorySource, SECRET, connect, message, postRaw, startNode } from './peer-harness.js';
import { temporaryDirectory, waitFor } from '../support/helpers.js';
import type { TestNode, TestNodeOptions } from './peer-harness.js';

const seed = Number(process.env['PEER_TEST_SEED'] ?? Date.now() % 1_000_000);
t.comment(`seed ${seed} (PEER_TEST_SEED=${seed} replays the random data)`);

const MiB = 1024 * 1024;
const META: SnapshotMeta = { index: 1200, term: 4, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } };
const SNAP: Message = message({ type: 'snap', from: 'n1', to: 'n2', term: 4, commit: 1200, snapshot: META });

function randomData(bytes: number): Buffer {
  const prng = new Prng(seed);
  const data = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 4) data.writeUInt32LE(prng.nextUint32(), Math.min(i, bytes - 4));
  return data;
}

async function pair(t: Tap, receiver: TestNodeOptions = {}, [sender, recipient] = ['n1', 'n2']): Promise<[TestNode, TestNode]> {
  const a = await startNode(sender, { secret: SECRET, limits: { snapshotChunkBytes: MiB } });
  const b = await startNode(recipient, { secret: SECRET, ...receiver });
  connect([a, b]);
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  return [a, b];
}

t.test('a several-MB snapshot file streams in 1 MiB chunks into a verified snapshot file', async (t) => {
  const dir = temporaryDirectory(t, 'peer-snapshot');
  const senderDir = path.join(dir, 'n1');
  const receiverDir = path.join(dir, 'n2');
  for (const d of [senderDir, receiverDir]) nodeFileIo.mkdirSync(d);
  const data = randomData(5 * MiB + 12_345);
  const writer = new SnapshotWriter(nodeFileIo, senderDir, META);
  for (let offset = 0; offset < data.length; offset += 300_000) writer.write(data.subarray(offset, offset + 300_000));
  const file = writer.finish();

  const staged: SnapshotFile[] = [];
  let sinkAborted = false;
  const [n1, n2] = await pair(t, {
    openSink: (from, meta): SnapshotSink => {
      const incoming = new SnapshotWriter(nodeFileIo, receiverDir, meta);
      t.equal(from, 'n1', 'onSnapshotStart names the sender');
      return {
        write: (chunk) => incoming.write(chunk),
        commit: (crc) => {
          t.equal(crc, crc32c(data), 'the sender\'s checksum of the whole data comes with the last chunk');
          staged.push(incoming.finish());
        },
        abort: () => {
          sinkAborted = true;
          incoming.abort();
        },
      };
    },
  });
  const source = openSnapshotFile(nodeFileIo, file);
  const reads: number[] = [];
  const read = source.read.bind(source);
  let closed = false;
  n1.transport.sendSnapshot(SNAP, {
    meta: source.meta, dataBytes: source.dataBytes, dataCrc32c: source.dataCrc32c,
    read: (offset, length) => {
      reads.push(offset);
      return read(offset, length);
    },
    close: () => {
      closed = true;
      source.close();
    },
  });
  await waitFor('onSnapshotSent', () => n1.snapshotsSent.length === 1);
  t.same(n1.snapshotsSent, [{ peer: 'n2', ok: true }], 'the sender learns the snapshot is in');
  t.same(reads, [0, 1, 2, 3, 4, 5].map((i) => i * MiB), 'read in order, one chunk per MiB');
  t.ok(closed, 'the source is closed');
  t.notOk(sinkAborted);
  t.equal(staged.length, 1, 'committed once');
  const installed = openSnapshotFile(nodeFileIo, staged[0] as SnapshotFile);
  t.same(installed.meta, META);
  t.ok(snapshotData(installed).equals(data), 'the received file holds the same bytes and verifies');
  t.equal(n2.received.length, 1, 'then the snap message is delivered');
  t.same(n2.received[0]?.snapshot, META);
  t.equal(n2.received[0]?.type, 'snap');
});

t.test('a corrupted stream fails its checksum: the sink is aborted and the sender told', async (t) => {
  const [n1, n2] = await pair(t);
  const data = randomData(3 * MiB);
  const source = new MemorySource(META, data, { crcOverride: 12345 });
  n1.transport.sendSnapshot(SNAP, source);
  await waitFor('onSnapshotSent', () => n1.snapshotsSent.length === 1);
  t.same(n1.snapshotsSent, [{ peer: 'n2', ok: false }]);
  t.equal(n2.sinks.length, 1);
  t.ok(n2.sinks[0]?.aborted, 'the sink is aborted');
  t.notOk(n2.sinks[0]?.committed, 'and not committed');
  t.equal(n2.received.length, 0, 'the snap message never reaches the core');
  t.ok(source.closed, 'the source is closed');
});

t.test('a source that fails mid-way aborts the stream on both sides', async (t) => {
  const [n1, n2] = await pair(t);
  const source = new MemorySource(META, randomData(4 * MiB), { failAtOffset: 2 * MiB });
  n1.transport.sendSnapshot(SNAP, source);
  await waitFor('onSnapshotSent', () => n1.snapshotsSent.length === 1);
  t.same(n1.snapshotsSent, [{ peer: 'n2', ok: false }]);
  await waitFor('sink aborted', () => n2.sinks[0]?.aborted === true);
  t.equal(n2.sinks[0]?.chunks.length, 2, 'two chunks were written before the failure');
  t.notOk(n2.sinks[0]?.committed);
  t.equal(n2.received.length, 0);
  t.ok(source.closed);
});

t.test('one snapshot stream per peer: a second is refused while the first runs', async (t) => {
  const [n1, n2] = await pair(t);
  const first = new MemorySource(META, randomData(2 * MiB));
  const second = new MemorySource({ ...META, index: 1300 }, randomData(10));
  n1.transport.sendSnapshot(SNAP, first);
  n1.transport.sendSnapshot({ ...SNAP, snapshot: { ...META, index: 1300 } }, second);
  await waitFor('both reported', () => n1.snapshotsSent.length === 2);
  t.same(n1.snapshotsSent, [{ peer: 'n2', ok: false }, { peer: 'n2', ok: true }], 'the second refused at once, the first completes');
  t.ok(second.closed, 'the refused source is closed');
  t.equal(n2.sinks.length, 1);
  t.ok(n2.sinks[0]?.committed);
});

t.test('an empty snapshot, and receivers that refuse or fail to open a sink', async (t) => {
  const [n1, n2] = await pair(t);
  n1.transport.sendSnapshot(SNAP, new MemorySource(META, new Uint8Array(0)));
  await waitFor('sent', () => n1.snapshotsSent.length === 1);
  t.same(n1.snapshotsSent, [{ peer: 'n2', ok: true }]);
  t.ok(n2.sinks[0]?.committed);
  t.equal(n2.received.length, 1);

  const [n3, n4] = await pair(t, { openSink: () => undefined }, ['n3', 'n4']);
  n3.transport.sendSnapshot({ ...SNAP, from: 'n3', to: 'n4' }, new MemorySource(META, randomData(1000)));
  await waitFor('refused', () => n3.snapshotsSent.length === 1);
  t.same(n3.snapshotsSent, [{ peer: 'n4', ok: false }]);
  t.equal(n4.received.length, 0);

  const [n5, n6] = await pair(t, { openSink: () => { throw new Error('disk full'); } }, ['n5', 'n6']);
  n5.transport.sendSnapshot({ ...SNAP, from: 'n5', to: 'n6' }, new MemorySource(META, randomData(1000)));
  await waitFor('failed to open', () => n5.snapshotsSent.length === 1);
  t.same(n5.snapshotsSent, [{ peer: 'n6', ok: false }], 'a sink that cannot be opened fails the stream');
  t.equal(n6.received.length, 0);
});

t.test('an image the receiver\'s ledger refuses is answered 422 peer_snapshot_invalid, and nothing is delivered', async (t) => {
  let aborted = false;
  const n2 = await startNode('n2', {
    secret: SECRET,
    openSink: (): SnapshotSink => ({
      write: () => undefined,
      commit: () => {
        throw new SnapshotRefusedError('snapshot refused: snapshot image checksum mismatch');
      },
      abort: () => {
        aborted = true;
      },
    }),
  });
  t.teardown(() => n2.close());
  const data = randomData(100);
  const only = encodeSnapshotChunk({
    streamId: 'b'.repeat(32), first: true, last: true, abort: false, offsetBytes: 0, totalBytes: data.length, dataCrc32c: crc32c(data), message: SNAP, data,
  });
  const answer = await postRaw(n2.url, 'snapshot', only, { secret: SECRET, seq: 0 });
  t.equal(answer.status, 422);
  t.match(JSON.parse(answer.body), { error: { code: 'peer_snapshot_invalid', message: /image checksum mismatch/ } });
  t.ok(aborted, 'the sink is aborted');
  t.equal(n2.received.length, 0, 'the snap message never reaches the core');
});

t.test('a stream whose sender vanishes is aborted after the idle timeout', async (t) => {
  const n2 = await startNode('n2', { secret: SECRET, limits: { snapshotIdleTimeoutMs: 150 } });
  t.teardown(() => n2.close());
  const chunk = (offsetBytes: number, first: boolean) => encodeSnapshotChunk({
    streamId: 'a'.repeat(32), first, last: false, abort: false, offsetBytes, totalBytes: 100, dataCrc32c: 0,
    message: first ? SNAP : undefined, data: new Uint8Array(10),
  });
  const start = await postRaw(n2.url, 'snapshot', chunk(0, true), { secret: SECRET, seq: 0 });
  t.equal(start.status, 204);
  const outOfOrder = await postRaw(n2.url, 'snapshot', chunk(50, false), { secret: SECRET, seq: 0 });
  t.equal(outOfOrder.status, 409, 'a chunk that does not continue the stream is refused');
  t.match(JSON.parse(outOfOrder.body), { error: { code: 'peer_snapshot_out_of_order' } });
  t.ok(n2.sinks[0]?.aborted, 'and aborts it');

  const again = await postRaw(n2.url, 'snapshot', chunk(0, true), { secret: SECRET, seq: 0 });
  t.equal(again.status, 204);
  await waitFor('idle abort', () => n2.sinks[1]?.aborted === true, 5000);
  t.notOk(n2.sinks[1]?.committed);
  t.equal(n2.received.length, 0);
});
