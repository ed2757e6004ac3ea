// The WAL-backed RaftStorage on real files: append and read back across
// segments and restarts, truncation of conflicting suffixes, group commit,
// hard state, and recovery from torn or damaged files.

import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Prng } from '../../src/lib/prng.js';
import { RaftStorage } from '../../src/storage/raft-storage.js';
import type { RaftStorageOptions } from '../../src/storage/raft-storage.js';
import { StorageCorruptionError } from '../../src/storage/errors.js';
import type { StorageLogEvent } from '../../src/storage/wal.js';
import type { Entry } from '../../src/raft/types.js';
import { entryIsGenuine, makeEntries, makeEntry, segmentFiles, testSeed, catchError } from './fixtures/helpers.js';
import { temporaryDirectory } from '../support/helpers.js';

const SMALL: RaftStorageOptions = { segmentSizeBytes: 64 * 1024, cacheMaxBytes: 4 * 1024 };


function allEntries(storage: RaftStorage): Entry[] {
  if (storage.lastIndex() < storage.firstIndex()) return [];
  return storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
}

t.test('a fresh storage is empty and term(firstIndex-1) is the snapshot term', async (t) => {
  const dir = temporaryDirectory(t, 'fresh');
  const storage = RaftStorage.open(dir, SMALL);
  t.equal(storage.firstIndex(), 1);
  t.equal(storage.lastIndex(), 0);
  t.equal(storage.term(0), 0);
  t.equal(storage.term(1), undefined);
  t.same(storage.initialState().hardState, { term: 0, vote: '', commit: 0 });
  t.same(storage.entries(1, 1, 100), []);
  await storage.close();
});

t.test('entries survive a restart across many segments and are read back from disk', async (t) => {
  const dir = temporaryDirectory(t, 'restart');
  const storage = RaftStorage.open(dir, SMALL);
  for (let from = 1; from <= 3000; from += 100) {
    storage.append(makeEntries(from, from + 99, 1 + Math.floor(from / 1000)));
    await storage.sync();
  }
  t.ok(segmentFiles(dir).length > 3, 'the log spans several segments');
  const before = allEntries(storage);
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.equal(reopened.lastIndex(), 3000);
  const after = allEntries(reopened);
  t.equal(after.length, 3000);
  t.ok(after.every((entry, i) => entry.index === i + 1 && entryIsGenuine(entry)), 'every entry is intact');
  t.same(after.map((e) => e.term), before.map((e) => e.term));
  t.equal(reopened.term(1500), 2);
  const limited = reopened.entries(10, 2000, 1000);
  t.ok(limited.length >= 1 && limited.length < 20, 'maxBytes limits the batch');
  t.same(reopened.entries(5, 6, 0).map((e) => e.index), [5], 'at least one entry');
  await reopened.close();
});

t.test('a conflicting suffix is truncated durably, also across segments', async (t) => {
  const seed = testSeed();
  const prng = new Prng(seed);
  const dir = temporaryDirectory(t, 'truncate');
  let storage = RaftStorage.open(dir, SMALL);
  const model: Entry[] = [];
  let term = 1;
  for (let round = 0; round < 40; round++) {
    const last = model.length;
    const from = last > 0 && prng.chance(0.4) ? prng.int(Math.max(1, last - 800), last) : last + 1;
    term += prng.chance(0.5) ? 1 : 0;
    const batch = makeEntries(from, from + prng.int(0, 300), term);
    storage.append(batch);
    model.length = from - 1;
    model.push(...batch);
    if (prng.chance(0.3)) {
      await storage.close();
      storage = RaftStorage.open(dir, SMALL);
    } else {
      await storage.sync();
    }
    t.equal(storage.lastIndex(), model.length, `seed=${seed} round=${round} last index`);
  }
  await storage.close();
  storage = RaftStorage.open(dir, SMALL);
  const read = allEntries(storage);
  t.same(read.map((e) => [e.index, e.term]), model.map((e) => [e.index, e.term]), `seed=${seed} log equals the model`);
  t.ok(read.every(entryIsGenuine), `seed=${seed} data intact`);
  await storage.close();
});

t.test('sync coalesces concurrent callers and resolves only after data is written', async (t) => {
  const dir = temporaryDirectory(t, 'group');
  const storage = RaftStorage.open(dir, SMALL);
  const syncs: Promise<void>[] = [];
  for (let i = 0; i < 50; i++) {
    storage.append([makeEntry(i + 1, 1)]);
    syncs.push(storage.sync());
  }
  await Promise.all(syncs);
  await storage.sync();
  storage.syncNow();
  await storage.close();
  const reopened = RaftStorage.open(dir, SMALL);
  t.equal(reopened.lastIndex(), 50);
  await reopened.close();
});

t.test('hard state: term and vote are durable at once, commit never exceeds the last index', async (t) => {
  const dir = temporaryDirectory(t, 'hardstate');
  const storage = RaftStorage.open(dir, SMALL);
  storage.append(makeEntries(1, 10, 3));
  storage.setHardState({ term: 3, vote: 'n2', commit: 0 });
  // No sync: the entries may be lost, the vote may not.
  await storage.close();
  let reopened = RaftStorage.open(dir, SMALL);
  t.same(reopened.initialState().hardState.term, 3);
  t.same(reopened.initialState().hardState.vote, 'n2');
  reopened.append(makeEntries(reopened.lastIndex() + 1, 20, 3));
  reopened.setHardState({ term: 3, vote: 'n2', commit: 15 });
  await reopened.sync();
  await reopened.close();
  reopened = RaftStorage.open(dir, SMALL);
  t.equal(reopened.initialState().hardState.commit, 15, 'commit recorded with the sync');
  t.ok(reopened.initialState().hardState.commit <= reopened.lastIndex());
  t.throws(() => reopened.append([makeEntry(12, 4)]), /cut committed/, 'committed entries are never truncated');
  await reopened.close();
});

t.test('a torn tail at any length is cut and reported; everything before it stays', async (t) => {
  const seed = testSeed();
  const prng = new Prng(seed);
  const dir = temporaryDirectory(t, 'torn');
  const { files, restore } = await writeFixtureLog(dir);
  const last = files.at(-1) as string;
  const lastBytes = fs.statSync(last).size;
  const firstInLast = parseInt(path.basename(last), 16);
  for (let trial = 0; trial < 40; trial++) {
    restore();
    const cut = prng.int(32, lastBytes - 1);
    fs.truncateSync(last, cut);
    const events: StorageLogEvent[] = [];
    const reopened = RaftStorage.open(dir, { ...SMALL, onLog: (event) => events.push(event) });
    const lastIndex = reopened.lastIndex();
    t.ok(lastIndex >= firstInLast - 1 && lastIndex < 1500, `seed=${seed} cut=${cut}: log shortened to ${lastIndex}`);
    t.ok(allEntries(reopened).every((e, i) => e.index === i + 1 && entryIsGenuine(e)), `seed=${seed} cut=${cut}: prefix intact`);
    const recordBoundary = reopened.recovery.tailCut === undefined;
    t.ok(recordBoundary || events.some((e) => e.level === 'warn' && /torn/.test(e.message)), `seed=${seed} the cut is reported`);
    await reopened.close();
  }
});

t.test('flipped bytes: cut in the last segment, fatal with file and offset anywhere else', async (t) => {
  const seed = testSeed();
  const prng = new Prng(seed);
  const dir = temporaryDirectory(t, 'flip');
  const { files, restore } = await writeFixtureLog(dir);
  for (let trial = 0; trial < 60; trial++) {
    restore();
    const victim = prng.pick(files);
    const bytes = fs.readFileSync(victim);
    const offset = prng.int(0, bytes.length - 1);
    bytes[offset] = (bytes[offset] as number) ^ (1 << prng.int(0, 7));
    fs.writeFileSync(victim, bytes);
    const label = `seed=${seed} file=${path.basename(victim)} offset=${offset}`;
    if (victim !== files.at(-1) || offset < 32) {
      const error = catchError(() => RaftStorage.open(dir, SMALL));
      t.ok(error instanceof StorageCorruptionError, `${label}: corruption error`);
      if (error instanceof StorageCorruptionError) {
        t.equal(error.file, victim, `${label}: names the file`);
        t.ok(error.offsetBytes <= offset, `${label}: offset ${error.offsetBytes} at or before the damage`);
      }
      continue;
    }
    const reopened = RaftStorage.open(dir, SMALL);
    t.ok(reopened.recovery.tailCut !== undefined, `${label}: tail cut`);
    t.ok(reopened.lastIndex() < 1500, `${label}: damaged entry dropped`);
    t.ok(allEntries(reopened).every(entryIsGenuine), `${label}: no damaged entry survives`);
    await reopened.close();
  }
});

t.test('a damaged record read back from disk is an error, not a wrong answer', async (t) => {
  const dir = temporaryDirectory(t, 'readback');
  const storage = RaftStorage.open(dir, { ...SMALL, cacheMaxBytes: 0 });
  storage.append(makeEntries(1, 100, 1));
  await storage.sync();
  const file = segmentFiles(dir)[0] as string;
  const bytes = fs.readFileSync(file);
  bytes[200] = (bytes[200] as number) ^ 0xff;
  fs.writeFileSync(file, bytes);
  t.throws(() => storage.entries(1, 101, Number.MAX_SAFE_INTEGER), StorageCorruptionError);
  await storage.close();
});

/** Writes entries 1..1500 over several segments; `restore` puts those exact bytes back. */
async function writeFixtureLog(dir: string): Promise<{ files: string[]; restore: () => void }> {
  const storage = RaftStorage.open(dir, SMALL);
  storage.append(makeEntries(1, 1500, 1));
  await storage.sync();
  await storage.close();
  const files = segmentFiles(dir);
  const pristine = new Map(files.map((file) => [file, fs.readFileSync(file)]));
  const restore = (): void => {
    for (const [file, bytes] of pristine) fs.writeFileSync(file, bytes);
  };
  return { files, restore };
}
