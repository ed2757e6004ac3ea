// Snapshots on real files: saving compacts the log and a restart does not
// replay from index 1; installing discards the log; streamed chunks are
// verified before they are installed; damage is an error, not a fallback.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MAX_STAGED_SNAPSHOTS, RaftStorage } from '../../src/storage/raft-storage.js';
import type { RaftStorageOptions } from '../../src/storage/raft-storage.js';
import { SnapshotChecksumError, StorageCorruptionError } from '../../src/storage/errors.js';
import { SnapshotWriter } from '../../src/storage/snapshot-store.js';
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

/** Snapshot files in the directory and its staging area. */
function allSnapshotFiles(dir: string): string[] {
  const staging = path.join(dir, 'staging');
  return [...fs.readdirSync(dir), ...fs.readdirSync(staging).map((name) => path.join('staging', name))].filter((name) => name.includes('.snap')).sort();
}

/** Stages a whole snapshot image as one stream would. */
function stage(storage: RaftStorage, snapshot: SnapshotMeta, data: Uint8Array): void {
  const writer = storage.stageSnapshot(snapshot);
  writer.write(data);
  writer.commit(crc32c(data));
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

t.test('installing a snapshot discards the whole log and the log restarts after it', async (t) => {
  const dir = temporaryDirectory(t, 'snap-install');
  const storage = await logOf(dir, 500, 1);
  const staging = storage.stageSnapshot(meta(900, 3));
  const data = entryData(900, 3, 1000);
  staging.write(data);
  staging.commit(crc32c(data));
  t.equal(storage.firstIndex(), 1, 'a staged snapshot changes nothing');
  t.ok(snapshotData(storage.installStagedSnapshot(meta(900, 3))).equals(Buffer.from(data)), 'install returns the verified image');
  t.equal(storage.firstIndex(), 901);
  t.equal(storage.lastIndex(), 900);
  t.equal(storage.term(900), 3);
  t.equal(storage.hardState().commit, 900);
  storage.append(makeEntries(901, 950, 3));
  await storage.sync();
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.equal(reopened.firstIndex(), 901);
  t.equal(reopened.lastIndex(), 950);
  t.equal(segmentFiles(dir).length, 1);
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

t.test('a snapshot streamed in chunks is verified, then installed', async (t) => {
  const leaderDir = temporaryDirectory(t, 'snap-leader');
  const followerDir = temporaryDirectory(t, 'snap-follower');
  const leader = await logOf(leaderDir, 1000, 2);
  const image = entryData(1000, 2, 300_000);
  leader.saveSnapshot(meta(1000, 2), image);
  const follower = RaftStorage.open(followerDir, SMALL);
  const reader = leader.openSnapshotReader();
  t.equal(reader.dataBytes, image.length);

  const bad = follower.stageSnapshot(reader.meta);
  bad.write(reader.read(0, 1000));
  t.throws(() => bad.commit(reader.dataCrc32c), SnapshotChecksumError, 'a short transfer is refused');
  t.throws(() => follower.installStagedSnapshot(reader.meta), /snapshot 1000 \(term 2\) was not received/);
  t.equal(follower.snapshotMeta().index, 0, 'nothing installed');
  t.same(allSnapshotFiles(followerDir), [], 'no file left behind');

  const good = follower.stageSnapshot(reader.meta);
  for (let offset = 0; offset < reader.dataBytes; offset += 64 * 1024) good.write(reader.read(offset, 64 * 1024));
  good.commit(reader.dataCrc32c);
  reader.close();
  t.equal(follower.snapshotMeta().index, 0, 'staged, not installed');
  follower.installStagedSnapshot(meta(1000, 2)).close();
  t.same(follower.snapshotMeta(), meta(1000, 2));
  t.same(allSnapshotFiles(followerDir), [path.join('snap-00000000000003e8-0000000000000002.snap')], 'the staged file became the snapshot, written once');
  t.ok(snapshotData(follower.openSnapshotReader()).equals(Buffer.from(image)));
  await leader.close();
  await follower.close();
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

t.test('a snapshot the core accepted is still staged when later streams finish first', async (t) => {
  const dir = temporaryDirectory(t, 'snap-staged-many');
  const storage = await logOf(dir, 100, 1);
  const older = entryData(500, 2, 4000);
  const newer = entryData(600, 3, 4000);
  stage(storage, meta(500, 2), older); // the core accepts this one...
  stage(storage, meta(600, 3), newer); // ...while a stream from another would-be leader completes
  stage(storage, meta(500, 2), older); // and the same one again, from a second sender
  t.ok(snapshotData(storage.installStagedSnapshot(meta(500, 2))).equals(Buffer.from(older)), 'the accepted one installs');
  t.equal(allSnapshotFiles(dir).filter((name) => name.startsWith('staging')).length, 1, 'copies it covers are gone, the newer one stays');
  t.ok(snapshotData(storage.installStagedSnapshot(meta(600, 3))).equals(Buffer.from(newer)), 'and can still be installed');
  t.same(allSnapshotFiles(dir).filter((name) => name.startsWith('staging')), [], 'staging is empty');
  await storage.close();
});

t.test('staging is bounded: beyond the limit a new stream is refused, none already staged is dropped', async (t) => {
  const dir = temporaryDirectory(t, 'snap-staged-bound');
  const storage = await logOf(dir, 10, 1);
  for (let i = 1; i <= MAX_STAGED_SNAPSHOTS; i++) stage(storage, meta(100 * i, 2), entryData(100 * i, 2, 100));
  t.throws(() => storage.stageSnapshot(meta(5000, 2)), /await installation, the most kept/);
  t.equal(allSnapshotFiles(dir).length, MAX_STAGED_SNAPSHOTS, 'every staged file is still there');
  storage.installStagedSnapshot(meta(300, 2)).close();
  t.equal(allSnapshotFiles(dir).filter((name) => name.startsWith('staging')).length, MAX_STAGED_SNAPSHOTS - 3, 'installing at 300 drops those it covers');
  t.doesNotThrow(() => stage(storage, meta(5000, 2), entryData(5000, 2, 100)), 'so a new stream fits again');
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.same(allSnapshotFiles(dir), ['snap-000000000000012c-0000000000000002.snap'], 'a restart empties staging: the core forgot what it accepted');
  await reopened.close();
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
