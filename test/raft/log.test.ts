// RaftLog on its own (etcd/raft's log_test.go): the follower's append with
// its conflict rules, the commit index, term lookups on both sides of a
// snapshot, slices across the stable/unstable boundary, and the up-to-date
// rule of elections. Table-driven: each row is one situation a replica meets.

import t from 'tap';
import { AssertionFailure } from '../../src/lib/assert.js';
import { RaftLog } from '../../src/raft/log.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { entrySizeBytes } from '../../src/raft/storage.js';
import type { Entry, SnapshotMeta } from '../../src/raft/types.js';

const NO_LIMIT = Number.MAX_SAFE_INTEGER;
const CONF = { voters: ['n1'], learners: [] };

const entry = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array(0) });
/** Entries at consecutive indexes from `first`, with the given terms. */
const run = (first: number, terms: readonly number[]): Entry[] => terms.map((term, i) => entry(first + i, term));
const snapshot = (index: number, term: number): SnapshotMeta => ({ index, term, conf: CONF });
const shape = (entries: readonly Entry[] | undefined): string[] | undefined => entries?.map((e) => `${e.index}/${e.term}`);

/** A log whose storage holds `stable` (after an optional snapshot) and whose unstable tail holds `unstable`. */
function makeLog(options: { snap?: SnapshotMeta; stable?: readonly Entry[]; unstable?: readonly Entry[]; committed?: number }): RaftLog {
  const storage = new MemoryStorage(CONF);
  if (options.snap) storage.installSnapshot(options.snap, new Uint8Array(0));
  storage.append(options.stable ?? []);
  const log = new RaftLog(storage, options.committed ?? 0, 0, NO_LIMIT);
  if (options.unstable && options.unstable.length > 0) log.append(options.unstable);
  return log;
}

// 1/1, 2/2, 3/3 persisted, as in etcd's tests.
const previous = run(1, [1, 2, 3]);

t.test('findConflict: the first entry that is new or has another term', async (t) => {
  const rows: [string, Entry[], number][] = [
    ['nothing to append', [], 0],
    ['all match', run(1, [1, 2, 3]), 0],
    ['a matching suffix', run(2, [2, 3]), 0],
    ['the last one matches', run(3, [3]), 0],
    ['matching, then new entries', run(1, [1, 2, 3, 4, 4]), 4],
    ['a suffix, then new entries', run(2, [2, 3, 4, 4]), 4],
    ['only new entries', run(4, [4, 4]), 4],
    ['conflicts from the first', run(1, [4, 4]), 1],
    ['conflicts in the middle', run(2, [1, 4, 4]), 2],
    ['conflicts at the last', run(3, [1, 2, 4, 4]), 3],
  ];
  for (const [name, entries, want] of rows) {
    t.equal(makeLog({ stable: previous }).findConflict(entries), want, name);
  }
});

t.test('maybeAppend: appends only after a matching previous entry, cuts a conflicting suffix, never lowers the commit', async (t) => {
  const last = 3;
  // [name, prevTerm, prevIndex, leaderCommit, entries, last new index (undefined: refused), commit after, log after]
  const rows: [string, number, number, number, Entry[], number | undefined, number, string[]][] = [
    ['previous entry has another term', 2, last, last, run(4, [4]), undefined, 1, ['1/1', '2/2', '3/3']],
    ['previous entry is beyond the log', 3, last + 1, last, run(5, [4]), undefined, 1, ['1/1', '2/2', '3/3']],
    ['heartbeat-like append at the end', 3, last, last, [], last, last, ['1/1', '2/2', '3/3']],
    ['commit is capped at the last new entry', 3, last, last + 1, [], last, last, ['1/1', '2/2', '3/3']],
    ['commit moves to what the leader says', 3, last, last - 1, [], last, last - 1, ['1/1', '2/2', '3/3']],
    ['commit never goes down', 3, last, 0, [], last, 1, ['1/1', '2/2', '3/3']],
    ['the empty log before index 1 matches', 0, 0, last, [], 0, 1, ['1/1', '2/2', '3/3']],
    ['one new entry, commit stays', 3, last, last, run(4, [4]), 4, last, ['1/1', '2/2', '3/3', '4/4']],
    ['one new entry, committed', 3, last, last + 1, run(4, [4]), 4, 4, ['1/1', '2/2', '3/3', '4/4']],
    ['commit capped at the new last entry', 3, last, last + 2, run(4, [4]), 4, 4, ['1/1', '2/2', '3/3', '4/4']],
    ['two new entries', 3, last, last + 2, run(4, [4, 4]), 5, 5, ['1/1', '2/2', '3/3', '4/4', '5/4']],
    ['a conflicting last entry is replaced', 2, last - 1, last, run(3, [4]), last, last, ['1/1', '2/2', '3/4']],
    ['a conflict truncates everything after it', 1, last - 2, last, run(2, [4]), last - 1, last - 1, ['1/1', '2/4']],
    ['a conflicting suffix is replaced whole', 1, last - 2, last, run(2, [4, 4]), last, last, ['1/1', '2/4', '3/4']],
    ['entries already held are not rewritten', 1, 1, 2, run(2, [2]), 2, 2, ['1/1', '2/2', '3/3']],
  ];
  for (const [name, prevTerm, prevIndex, leaderCommit, entries, wantLast, wantCommit, wantLog] of rows) {
    const log = makeLog({ stable: previous, committed: 1 });
    t.equal(log.maybeAppend(prevIndex, prevTerm, leaderCommit, entries), wantLast, `${name}: last new index`);
    t.equal(log.committed, wantCommit, `${name}: commit`);
    t.same(shape(log.slice(1, log.lastIndex() + 1, NO_LIMIT)), wantLog, `${name}: log`);
  }
});

t.test('maybeAppend: new and replacing entries wait in the unstable tail until the driver persists them', async (t) => {
  const log = makeLog({ stable: previous, committed: 1 });
  t.equal(log.maybeAppend(1, 1, 1, run(2, [4, 4, 4])), 4);
  t.same(shape(log.unstableEntries()), ['2/4', '3/4', '4/4'], 'the replacing entries are unstable');
  t.equal(log.stableLastIndex(), 1, 'only entry 1 is both durable and still in the log');
  log.stableTo(4, 4);
  t.same(log.unstableEntries(), [], 'stable once the driver reports the last one written');
});

t.test('maybeAppend: a conflict with a committed entry is a broken invariant, not a truncation', async (t) => {
  const log = makeLog({ stable: previous, committed: 2 });
  t.throws(() => log.maybeAppend(1, 1, 3, run(2, [4])), AssertionFailure, 'entry 2 is committed');
  t.same(shape(log.slice(1, 4, NO_LIMIT)), ['1/1', '2/2', '3/3'], 'the log is untouched');
  t.throws(() => log.maybeAppend(1, 1, 3, [entry(3, 4)]), AssertionFailure, 'entries must follow the previous index');
  t.throws(() => log.maybeAppend(3, 3, 3, run(4, [2])), AssertionFailure, 'terms never go down along the log');
});

t.test('commitTo: moves forward only, and never past the last entry', async (t) => {
  const rows: [string, number, number | 'throws'][] = [
    ['forward', 3, 3],
    ['never backward', 1, 2],
    ['same index', 2, 2],
    ['beyond the log', 4, 'throws'],
  ];
  for (const [name, to, want] of rows) {
    const log = makeLog({ stable: previous, committed: 2 });
    if (want === 'throws') t.throws(() => log.commitTo(to), AssertionFailure, name);
    else {
      log.commitTo(to);
      t.equal(log.committed, want, name);
    }
  }
});

t.test('maybeCommit: a quorum index commits only when its entry is from the given term (§5.4.2)', async (t) => {
  const rows: [string, number, number, boolean, number][] = [
    ['an entry of the current term', 3, 3, true, 3],
    ['an entry of an older term', 2, 3, false, 1],
    ['not above the commit index', 1, 1, false, 1],
  ];
  for (const [name, index, term, want, commit] of rows) {
    const log = makeLog({ stable: previous, committed: 1 });
    t.equal(log.maybeCommit(index, term), want, name);
    t.equal(log.committed, commit, `${name}: commit`);
  }
});

t.test('term: known from the snapshot boundary to the last entry, undefined outside', async (t) => {
  // Snapshot at 100 (term 1); entries 101..149 with term = index - 100; 101..124 persisted, the rest unstable.
  const all = Array.from({ length: 49 }, (_, i) => entry(101 + i, i + 1));
  const log = makeLog({ snap: snapshot(100, 1), stable: all.slice(0, 24), unstable: all.slice(24), committed: 100 });
  const rows: [string, number, number | undefined][] = [
    ['compacted', 99, undefined],
    ['the snapshot boundary', 100, 1],
    ['the first entry', 101, 1],
    ['the last stable entry', 124, 24],
    ['the first unstable entry', 125, 25],
    ['the last entry', 149, 49],
    ['beyond the log', 150, undefined],
  ];
  for (const [name, index, want] of rows) t.equal(log.term(index), want, `${name} (${index})`);
  t.equal(log.firstIndex(), 101);
  t.equal(log.lastIndex(), 149);
  t.equal(log.lastTerm(), 49);
});

t.test('term: after a snapshot arrives (not yet persisted), only its boundary is known', async (t) => {
  const log = makeLog({ snap: snapshot(100, 1), stable: run(101, [1, 1, 1]), committed: 100 });
  log.restore(snapshot(105, 2));
  const rows: [number, number | undefined][] = [
    [100, undefined],
    [103, undefined],
    [104, undefined],
    [105, 2],
    [106, undefined],
  ];
  for (const [index, want] of rows) t.equal(log.term(index), want, `term(${index})`);
  t.equal(log.firstIndex(), 106);
  t.equal(log.lastIndex(), 105);
  t.equal(log.committed, 105, 'the snapshot is committed');
  t.equal(log.applied, 105, 'and counts as applied');
  t.equal(log.stableLastIndex(), 0, 'nothing is known durable until the snapshot is');
});

t.test('term: a catch-up tail kept below the snapshot stays readable', async (t) => {
  const storage = new MemoryStorage(CONF);
  storage.append(run(1, [1, 1, 2, 2, 2, 3, 3, 3, 3, 3]));
  storage.compact(snapshot(8, 3), new Uint8Array(0), 3);
  const log = new RaftLog(storage, 8, 8, NO_LIMIT);
  t.equal(log.firstIndex(), 6, 'three entries below the snapshot are kept');
  t.equal(log.term(4), undefined, 'compacted');
  t.equal(log.term(5), 2, 'the entry before the first kept one still has a term');
  t.same(shape(log.slice(6, 11, NO_LIMIT)), ['6/3', '7/3', '8/3', '9/3', '10/3']);
  t.equal(log.slice(5, 7, NO_LIMIT), undefined, 'a slice from below the first index is compacted');
});

t.test('slice: bounds, the stable/unstable boundary, and the size limit', async (t) => {
  // Snapshot at 100; 101..150 persisted, 151..199 unstable.
  const all = Array.from({ length: 99 }, (_, i) => entry(101 + i, 1 + Math.floor(i / 10)));
  const log = makeLog({ snap: snapshot(100, 1), stable: all.slice(0, 50), unstable: all.slice(50), committed: 100 });
  const size = entrySizeBytes(entry(0, 0));
  const rows: [string, number, number, number, number[] | undefined | 'throws'][] = [
    ['below the first index', 99, 102, NO_LIMIT, undefined],
    ['starting at the snapshot index', 100, 102, NO_LIMIT, undefined],
    ['empty range', 120, 120, NO_LIMIT, []],
    ['the first entry', 101, 102, NO_LIMIT, [101]],
    ['stable only', 148, 151, NO_LIMIT, [148, 149, 150]],
    ['across the boundary', 149, 153, NO_LIMIT, [149, 150, 151, 152]],
    ['unstable only', 151, 153, NO_LIMIT, [151, 152]],
    ['the last entry', 199, 200, NO_LIMIT, [199]],
    ['beyond the last entry', 199, 201, NO_LIMIT, 'throws'],
    ['a limit below one entry still returns one', 140, 160, 0, [140]],
    ['a limit of two entries (stable)', 140, 160, 2 * size, [140, 141]],
    ['a limit of three entries across the boundary', 149, 160, 3 * size, [149, 150, 151]],
    ['a limit of two entries (unstable)', 155, 160, 2 * size, [155, 156]],
  ];
  for (const [name, lo, hi, maxBytes, want] of rows) {
    if (want === 'throws') {
      t.throws(() => log.slice(lo, hi, maxBytes), AssertionFailure, name);
      continue;
    }
    t.same(log.slice(lo, hi, maxBytes)?.map((e) => e.index), want, name);
  }
});

t.test('isUpToDate: a later last term wins, then a longer log (§5.4.1)', async (t) => {
  const log = makeLog({ stable: previous });
  const rows: [number, number, boolean][] = [
    [2, 4, true],
    [3, 4, true],
    [4, 4, true],
    [2, 2, false],
    [3, 2, false],
    [4, 2, false],
    [2, 3, false],
    [3, 3, true],
    [4, 3, true],
  ];
  for (const [lastIndex, lastTerm, want] of rows) t.equal(log.isUpToDate(lastIndex, lastTerm), want, `candidate at ${lastIndex}/${lastTerm}`);
});

t.test('findConflictByTerm: skips a whole term of conflicting entries in one step', async (t) => {
  // Terms by index: 1:2 2:2 3:5 4:5 5:5 (after a snapshot at 0).
  const log = makeLog({ stable: run(1, [2, 2, 5, 5, 5]) });
  const rows: [string, number, number, { index: number; term: number }][] = [
    ['the leader term is above ours', 5, 6, { index: 5, term: 5 }],
    ['same term', 5, 5, { index: 5, term: 5 }],
    ['skips every entry of term 5', 5, 4, { index: 2, term: 2 }],
    ['the hint entry itself matches', 5, 2, { index: 2, term: 2 }],
    ['nothing at or below term 1: the floor', 5, 1, { index: 0, term: 0 }],
    ['an index beyond the log is clamped', 10, 3, { index: 2, term: 2 }],
  ];
  for (const [name, index, term, want] of rows) t.same(log.findConflictByTerm(index, term), want, name);
});

t.test('committed entries: handed out from applied + 1 up to the commit, within the byte limit', async (t) => {
  const storage = new MemoryStorage(CONF);
  storage.append(run(1, [1, 1, 1, 1, 1]));
  const log = new RaftLog(storage, 4, 1, 2 * entrySizeBytes(entry(0, 0)));
  t.ok(log.hasNextCommittedEntries());
  t.same(log.nextCommittedEntries().map((e) => e.index), [2, 3], 'at most two entries by size');
  log.appliedTo(3);
  t.same(log.nextCommittedEntries().map((e) => e.index), [4], 'then the rest up to the commit index');
  log.appliedTo(4);
  t.notOk(log.hasNextCommittedEntries(), 'entry 5 is not committed');
  t.throws(() => log.appliedTo(5), AssertionFailure, 'nothing is applied beyond the commit');
  log.appliedTo(2);
  t.equal(log.applied, 4, 'applied never goes back');
});

t.test('a restart: the commit index is at least what the state machine applied', async (t) => {
  const storage = new MemoryStorage(CONF);
  storage.append(run(1, [1, 1, 1, 1]));
  t.equal(new RaftLog(storage, 2, 3, NO_LIMIT).committed, 3, 'applied 3 with commit 2 persisted: 3 was committed');
  t.throws(() => new RaftLog(storage, 5, 0, NO_LIMIT), AssertionFailure, 'a commit beyond the last entry is corrupt state');
});
