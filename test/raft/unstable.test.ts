// The unstable tail on its own (etcd/raft's log_unstable_test.go): what it
// answers about indexes and terms, which writes the driver reports make
// entries stable (only the ones still in the tail), how a received snapshot
// replaces it, and how appends cut and extend it.

import t from 'tap';
import { AssertionFailure } from '../../src/lib/assert.js';
import type { Entry, SnapshotMeta } from '../../src/raft/types.js';
import { UnstableTail } from '../../src/raft/unstable.js';

const entry = (index: number, term: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array(0) });
const snapshot = (index: number, term: number): SnapshotMeta => ({ index, term, conf: { voters: ['n1'], learners: [] } });
const shape = (entries: readonly Entry[]): string[] => entries.map((e) => `${e.index}/${e.term}`);

interface TailState {
  readonly offset: number;
  readonly entries?: readonly Entry[];
  readonly snap?: SnapshotMeta;
}

function tail({ offset, entries = [], snap }: TailState): UnstableTail {
  const u = new UnstableTail(offset);
  u.entries = [...entries];
  u.snapshot = snap;
  return u;
}

t.test('first and last index: from the snapshot and the entries', async (t) => {
  const rows: [string, TailState, number | undefined, number | undefined][] = [
    ['entries only: the first index comes from storage', { offset: 5, entries: [entry(5, 1)] }, undefined, 5],
    ['snapshot and entries', { offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) }, 5, 5],
    ['snapshot only', { offset: 5, snap: snapshot(4, 1) }, 5, 4],
    ['empty', { offset: 5 }, undefined, undefined],
  ];
  for (const [name, state, first, last] of rows) {
    t.equal(tail(state).maybeFirstIndex(), first, `${name}: first`);
    t.equal(tail(state).maybeLastIndex(), last, `${name}: last`);
  }
});

t.test('term: known for its entries and the snapshot index, undefined elsewhere', async (t) => {
  const rows: [string, TailState, number, number | undefined][] = [
    ['an entry', { offset: 5, entries: [entry(5, 1)] }, 5, 1],
    ['after the last entry', { offset: 5, entries: [entry(5, 1)] }, 6, undefined],
    ['before the offset, no snapshot', { offset: 5, entries: [entry(5, 1)] }, 4, undefined],
    ['an entry after a snapshot', { offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) }, 5, 1],
    ['after the last entry, with a snapshot', { offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) }, 6, undefined],
    ['the snapshot index', { offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) }, 4, 1],
    ['below the snapshot', { offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) }, 3, undefined],
    ['snapshot only: after it', { offset: 5, snap: snapshot(4, 1) }, 5, undefined],
    ['snapshot only: its index', { offset: 5, snap: snapshot(4, 1) }, 4, 1],
    ['empty', { offset: 5 }, 5, undefined],
  ];
  for (const [name, state, index, want] of rows) t.equal(tail(state).maybeTerm(index), want, name);
});

t.test('stableTo: entries leave the tail only if the one written is still there with that term', async (t) => {
  // [name, tail, stableTo index, term, offset after, entries left]
  const rows: [string, TailState, number, number, number, number][] = [
    ['empty tail', { offset: 0 }, 5, 1, 0, 0],
    ['the only entry', { offset: 5, entries: [entry(5, 1)] }, 5, 1, 6, 0],
    ['the first of two', { offset: 5, entries: [entry(5, 1), entry(6, 1)] }, 5, 1, 6, 1],
    ['replaced by another term while it was written', { offset: 6, entries: [entry(6, 2)] }, 6, 1, 6, 1],
    ['an index already stable', { offset: 5, entries: [entry(5, 1)] }, 4, 1, 5, 1],
    ['an index already stable, other term', { offset: 5, entries: [entry(5, 1)] }, 4, 2, 5, 1],
    ['after a snapshot: the only entry', { offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) }, 5, 1, 6, 0],
    ['after a snapshot: the first of two', { offset: 5, entries: [entry(5, 1), entry(6, 1)], snap: snapshot(4, 1) }, 5, 1, 6, 1],
    ['after a snapshot: replaced by another term', { offset: 6, entries: [entry(6, 2)], snap: snapshot(5, 1) }, 6, 1, 6, 1],
    ['the snapshot index is not an entry', { offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) }, 4, 1, 5, 1],
    ['the snapshot index, other term', { offset: 5, entries: [entry(5, 2)], snap: snapshot(4, 2) }, 4, 1, 5, 1],
  ];
  for (const [name, state, index, term, offset, left] of rows) {
    const u = tail(state);
    u.stableTo(index, term);
    t.equal(u.offset, offset, `${name}: offset`);
    t.equal(u.entries.length, left, `${name}: entries left`);
  }
});

t.test('stableSnapTo: the snapshot leaves the tail once that snapshot is written', async (t) => {
  const u = tail({ offset: 5, snap: snapshot(4, 1) });
  u.stableSnapTo(3);
  t.same(u.snapshot, snapshot(4, 1), 'an older snapshot written does not clear a newer one');
  u.stableSnapTo(4);
  t.equal(u.snapshot, undefined);
});

t.test('restore: a received snapshot replaces the whole tail', async (t) => {
  const u = tail({ offset: 5, entries: [entry(5, 1)], snap: snapshot(4, 1) });
  u.restore(snapshot(6, 2));
  t.equal(u.offset, 7);
  t.same(u.entries, []);
  t.same(u.snapshot, snapshot(6, 2));
});

t.test('truncateAndAppend: extends at the end, replaces from an earlier index, cuts in the middle', async (t) => {
  const rows: [string, TailState, Entry[], number, string[]][] = [
    ['appends after the last entry', { offset: 5, entries: [entry(5, 1)] }, [entry(6, 1), entry(7, 1)], 5, ['5/1', '6/1', '7/1']],
    ['replaces from the offset', { offset: 5, entries: [entry(5, 1)] }, [entry(5, 2), entry(6, 2)], 5, ['5/2', '6/2']],
    ['replaces from below the offset (stable entries too)', { offset: 5, entries: [entry(5, 1)] }, [entry(4, 2), entry(5, 2), entry(6, 2)], 4, ['4/2', '5/2', '6/2']],
    ['cuts after the first entry', { offset: 5, entries: [entry(5, 1), entry(6, 1), entry(7, 1)] }, [entry(6, 2)], 5, ['5/1', '6/2']],
    ['cuts after the second entry', { offset: 5, entries: [entry(5, 1), entry(6, 1), entry(7, 1)] }, [entry(7, 2), entry(8, 2)], 5, ['5/1', '6/1', '7/2', '8/2']],
  ];
  for (const [name, state, appended, offset, want] of rows) {
    const u = tail(state);
    u.truncateAndAppend(appended);
    t.equal(u.offset, offset, `${name}: offset`);
    t.same(shape(u.entries), want, `${name}: entries`);
  }
});

t.test('slice: only indexes held in the tail', async (t) => {
  const u = tail({ offset: 5, entries: [entry(5, 1), entry(6, 1), entry(7, 2)] });
  t.same(shape(u.slice(5, 8)), ['5/1', '6/1', '7/2']);
  t.same(shape(u.slice(6, 7)), ['6/1']);
  t.same(u.slice(6, 6), []);
  t.throws(() => u.slice(4, 6), AssertionFailure, 'below the offset is storage, not the tail');
  t.throws(() => u.slice(6, 9), AssertionFailure, 'beyond the last entry');
});
