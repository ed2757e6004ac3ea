// Snapshots on real files: saving compacts the log and a restart does not
// replay from index 1; installing a received one discards the log and keeps
// only its metadata and descriptor (the ledger holds the image); damage is an
// error, not a fallback.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { RaftStorage } from '../../src/storage/raft-storage.js';
import type { RaftStorageOptions } from '../../src/storage/raft-storage.js';
import { StorageCorruptionError } from '../../src/storage/errors.js';
import { SNAPSHOT_HEADER_BYTES, SnapshotWriter } from '../../src/storage/snapshot-store.js';
import { nodeFileIo } from '../../src/storage/io.js';
import { crc32c } from '../../src/storage/crc32c.js';
import type { SnapshotMeta } from '../../src/raft/types.js';
import { entryData, entryIsGenuine, makeEntries, segmentFiles, snapshotData } from './fixtures/helpers.js';
import { temporaryDirectory } from '../support/helpers.js';

const SMALL: RaftStorageOptions = { segmentSizeBytes: 64 * 1024, cacheMaxBytes: 4 * 1024 };
const CONF = { voters: ['n1', 'n2', 'n3'], learners: [] };

function meta(index: number, term: number): SnapshotMeta {
  return { index, term, conf: CONF };
}

async function logOf(dir: string, last: number, term = 1): Promise<RaftStorage> {
  const storage = RaftStorage.open(dir, SMALL);
  storage.append(makeEntries(1, last, term));
  storage.setHardState({ term, vote: 'n1', commit: last });
  await storage.sync();
  return storage;
}

function snapshotFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.snap')).sort();
}

t.test('saving a snapshot compacts whole segments and a restart starts after it', async (t) => {
  const dir = temporaryDirectory(t, 'snap-save');
  const storage = await logOf(dir, 3000);
  const segmentsBefore = segmentFiles(dir).length;
  storage.saveSnapshot(meta(2000, 1), entryData(2000, 1, 5000));
  t.equal(storage.firstIndex(), 2001);
  t.equal(storage.term(2000), 1, 'term(firstIndex-1) is the snapshot term');
  t.equal(storage.term(1999), undefined);
  t.ok(segmentFiles(dir).length < segmentsBefore, 'segments below the snapshot are deleted');
  t.notOk(fs.existsSync(path.join(dir, '0000000000000001.wal')), 'the first segment is gone');
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.equal(reopened.firstIndex(), 2001);
  t.equal(reopened.lastIndex(), 3000);
  t.same(reopened.initialState().conf, CONF);
  t.same(reopened.snapshotMeta(), meta(2000, 1));
  t.ok(snapshotData(reopened.openSnapshotReader()).equals(Buffer.from(entryData(2000, 1, 5000))));
  t.ok(reopened.entries(2001, 3001, Number.MAX_SAFE_INTEGER).every(entryIsGenuine));
  await reopened.close();
});

t.test('segments left over by a crash during compaction are removed on recovery', async (t) => {
  const dir = temporaryDirectory(t, 'snap-leftover');
  const storage = await logOf(dir, 3000);
  const before = new Map(segmentFiles(dir).map((file) => [file, fs.readFileSync(file)]));
  storage.saveSnapshot(meta(2500, 1), entryData(2500, 1, 100));
  await storage.close();
  // Compaction deletes oldest first: a crash leaves the newest doomed segments.
  const deleted = [...before.keys()].filter((file) => !fs.existsSync(file));
  t.ok(deleted.length >= 2, 'compaction deleted segments');
  const survivor = deleted.at(-1) as string;
  fs.writeFileSync(survivor, before.get(survivor) as Buffer);
  const reopened = RaftStorage.open(dir, SMALL);
  t.notOk(fs.existsSync(survivor), 'the stale segment is deleted');
  t.equal(reopened.firstIndex(), 2501);
  await reopened.close();
});

t.test('old snapshot files are pruned, keeping the newest N', async (t) => {
  const dir = temporaryDirectory(t, 'snap-prune');
  const storage = await logOf(dir, 400);
  for (const index of [100, 200, 300, 400]) storage.saveSnapshot(meta(index, 1), entryData(index, 1, 64));
  t.same(snapshotFiles(dir), ['snap-000000000000012c-0000000000000001.snap', 'snap-0000000000000190-0000000000000001.snap']);
  await storage.close();
});

t.test('installing a received snapshot discards the whole log and records it detached: metadata and descriptor, not the image', async (t) => {
  const dir = temporaryDirectory(t, 'snap-install');
  const storage = await logOf(dir, 500, 1);
  const descriptor = entryData(900, 3, 80);
  storage.installSnapshot(meta(900, 3), descriptor);
  t.equal(storage.firstIndex(), 901);
  t.equal(storage.lastIndex(), 900);
  t.equal(storage.term(900), 3);
  t.equal(storage.hardState().commit, 900);
  t.ok(storage.snapshotIsDetached(), 'the image is the state machine\'s');
  const file = path.join(dir, 'snap-0000000000000384-0000000000000003.snap');
  t.same(snapshotFiles(dir), [path.basename(file)]);
  t.ok(fs.statSync(file).size < SNAPSHOT_HEADER_BYTES + 200 + descriptor.length, `its file holds no image (${fs.statSync(file).size} bytes)`);
  storage.append(makeEntries(901, 950, 3));
  await storage.sync();
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.equal(reopened.firstIndex(), 901);
  t.equal(reopened.lastIndex(), 950);
  t.equal(segmentFiles(dir).length, 1);
  t.ok(reopened.snapshotIsDetached(), 'still detached after a restart');
  const reader = reopened.openSnapshotReader();
  t.ok(reader.detached);
  t.same(reader.meta, meta(900, 3));
  t.ok(snapshotData(reader).equals(Buffer.from(descriptor)), 'the descriptor reads back');
  await reopened.close();
});

t.test('a snapshot taken at the index of a detached one gives it an image; a newer one replaces it', async (t) => {
  const dir = temporaryDirectory(t, 'snap-attach');
  const storage = await logOf(dir, 10, 1);
  storage.installSnapshot(meta(900, 3), entryData(900, 3, 80));
  t.throws(() => storage.saveSnapshot(meta(899, 3), entryData(899, 3, 100)), /not newer/, 'never an older one');
  const image = entryData(900, 3, 5000);
  storage.saveSnapshot(meta(900, 3), image);
  t.notOk(storage.snapshotIsDetached());
  t.ok(snapshotData(storage.openSnapshotReader()).equals(Buffer.from(image)), 'the file now holds the image');
  t.throws(() => storage.saveSnapshot(meta(900, 3), image), /not newer/, 'only a detached one gets an image at its own index');
  storage.append(makeEntries(901, 1000, 3));
  storage.setHardState({ term: 3, vote: 'n1', commit: 1000 });
  storage.saveSnapshot(meta(1000, 3), entryData(1000, 3, 100));
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.notOk(reopened.snapshotIsDetached());
  t.same(reopened.snapshotMeta(), meta(1000, 3));
  await reopened.close();
});

t.test('a data directory from the version that staged snapshots under raft/staging opens, and the leftovers go', async (t) => {
  const dir = temporaryDirectory(t, 'snap-old-staging');
  (await logOf(dir, 10, 1)).close();
  fs.mkdirSync(path.join(dir, 'staging'));
  fs.writeFileSync(path.join(dir, 'staging', 'staged-00000000000003e8-0000000000000002-1.snap'), 'old');
  const reopened = RaftStorage.open(dir, SMALL);
  t.notOk(fs.existsSync(path.join(dir, 'staging')));
  t.equal(reopened.lastIndex(), 10);
  await reopened.close();
});

t.test('a crash between writing an installed snapshot and discarding the log is repaired', async (t) => {
  const dir = temporaryDirectory(t, 'snap-interrupted');
  const storage = await logOf(dir, 500, 1);
  await storage.close();
  // The snapshot file is durable, the old conflicting log is still there.
  const writer = new SnapshotWriter(nodeFileIo, dir, meta(400, 2));
  writer.write(entryData(400, 2, 100));
  writer.finish();
  const reopened = RaftStorage.open(dir, SMALL);
  t.match(reopened.recovery.logDiscardedReason, /term 1 at the snapshot index 400/);
  t.equal(reopened.firstIndex(), 401);
  t.equal(reopened.lastIndex(), 400);
  await reopened.close();
});

t.test('a damaged newest snapshot stops the node with file and offset', async (t) => {
  const dir = temporaryDirectory(t, 'snap-corrupt');
  const storage = await logOf(dir, 300);
  storage.saveSnapshot(meta(100, 1), entryData(100, 1, 2000));
  storage.saveSnapshot(meta(200, 1), entryData(200, 1, 2000));
  await storage.close();
  const newest = path.join(dir, snapshotFiles(dir).at(-1) as string);
  const bytes = fs.readFileSync(newest);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0x01;
  fs.writeFileSync(newest, bytes);
  try {
    RaftStorage.open(dir, SMALL);
    t.fail('open should refuse a damaged snapshot');
  } catch (error) {
    t.ok(error instanceof StorageCorruptionError);
    t.match(error, { file: newest, reason: /data checksum/ });
  }
});

t.test('a snapshot file with flags this version does not know is corruption, not a guess', async (t) => {
  const dir = temporaryDirectory(t, 'snap-flags');
  const storage = await logOf(dir, 100);
  storage.saveSnapshot(meta(100, 1), entryData(100, 1, 100));
  await storage.close();
  const file = path.join(dir, snapshotFiles(dir)[0] as string);
  const bytes = fs.readFileSync(file);
  bytes.writeUInt32LE(2, 40);
  bytes.writeUInt32LE(crc32c(bytes, 0, 0, 44), 44);
  fs.writeFileSync(file, bytes);
  t.throws(() => RaftStorage.open(dir, SMALL), { code: 'STORAGE_CORRUPT', reason: /unknown snapshot flags 2/ });
});

t.test('a snapshot may keep a catch-up tail of entries below it; a restart drops the tail', async (t) => {
  const dir = temporaryDirectory(t, 'snap-tail');
  const storage = await logOf(dir, 3000);
  storage.saveSnapshot(meta(2000, 1), entryData(2000, 1, 500), 300);
  t.equal(storage.snapshotMeta().index, 2000);
  t.equal(storage.firstIndex(), 1701, 'the last 300 entries the snapshot covers stay');
  t.equal(storage.term(1700), 1);
  t.ok(entryIsGenuine(storage.entries(1701, 1702, 1 << 20)[0]!), 'and are readable');
  storage.saveSnapshot(meta(2100, 1), entryData(2100, 1, 500), 5000);
  t.equal(storage.firstIndex(), 1701, 'a tail never grows back below what was compacted');
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.equal(reopened.firstIndex(), 2101);
  t.equal(reopened.lastIndex(), 3000);
  await reopened.close();
});
