// Flow control on its own (etcd/raft's inflights_test.go and progress_test.go):
// the bounded window of in-flight appends, and how the leader's view of one
// follower moves on acknowledgements and rejections, and when it must hold
// back further appends.

import t from 'tap';
import { AssertionFailure } from '../../src/lib/assert.js';
import { Inflights, Progress, type ProgressState } from '../../src/raft/progress.js';

t.test('inflights: a window of at most `capacity` appends, refusing one more', async (t) => {
  const window = new Inflights(3);
  for (const last of [10, 20, 30]) {
    t.notOk(window.full(), `room before adding ${last}`);
    window.add(last);
  }
  t.ok(window.full());
  t.equal(window.count, 3);
  t.throws(() => window.add(40), AssertionFailure, 'overflowing the window is a bug in the caller');
  t.throws(() => new Inflights(0), AssertionFailure, 'a window needs room for one append');
});

t.test('inflights: an acknowledgement frees every append it covers, oldest first', async (t) => {
  // [name, acknowledged index, count left]: applied one after another to appends ending at 10, 20, ..., 100.
  const steps: [string, number, number][] = [
    ['below the first append: nothing', 9, 10],
    ['exactly the first', 10, 9],
    ['a stale acknowledgement', 5, 9],
    ['the middle of an append frees the ones before it', 45, 6],
    ['up to the sixth', 60, 4],
    ['past the last', 1000, 0],
  ];
  const window = new Inflights(10);
  for (let last = 10; last <= 100; last += 10) window.add(last);
  for (const [name, index, left] of steps) {
    window.freeLE(index);
    t.equal(window.count, left, name);
  }
  t.notOk(window.full());
});

t.test('inflights: freeFirstOne frees exactly the oldest slot (a lost append must not stall the window)', async (t) => {
  const window = new Inflights(2);
  window.add(5);
  window.add(9);
  window.freeFirstOne();
  t.equal(window.count, 1);
  window.freeLE(5);
  t.equal(window.count, 1, 'the slot freed was the one ending at 5');
  window.freeLE(9);
  t.equal(window.count, 0);
  window.freeFirstOne();
  t.equal(window.count, 0, 'freeing an empty window is harmless');
  window.add(1);
  window.reset();
  t.equal(window.count, 0, 'reset empties it');
});

function progress(state: ProgressState, match: number, next: number, inflight = 4): Progress {
  const pr = new Progress(next, inflight, false);
  pr.match = match;
  if (state === 'replicate') pr.becomeReplicate();
  if (state === 'snapshot') pr.becomeSnapshot(100);
  pr.next = next;
  return pr;
}

t.test('maybeDecrTo: a rejection moves next back, unless it answers an append already superseded', async (t) => {
  // [name, state, match, next, rejected index, follower hint, accepted, next after]
  const rows: [string, ProgressState, number, number, number, number, boolean, number][] = [
    ['replicate: rejecting the matched index is stale', 'replicate', 5, 10, 5, 5, false, 10],
    ['replicate: below the match is stale', 'replicate', 5, 10, 4, 4, false, 10],
    ['replicate: a real rejection restarts from match + 1', 'replicate', 5, 10, 9, 9, true, 6],
    ['probe: not the append outstanding is stale', 'probe', 0, 10, 5, 5, false, 10],
    ['probe: the outstanding append, hint at the end', 'probe', 0, 10, 9, 9, true, 9],
    ['probe: the hint jumps back over a conflicting term', 'probe', 0, 10, 9, 2, true, 3],
    ['probe: never below match + 1', 'probe', 5, 10, 9, 2, true, 6],
    ['probe: a hint of 0 probes from index 1', 'probe', 0, 2, 1, 0, true, 1],
  ];
  for (const [name, state, match, next, rejected, hint, accepted, nextAfter] of rows) {
    const pr = progress(state, match, next);
    pr.probeSent = state === 'probe';
    t.equal(pr.maybeDecrTo(rejected, hint), accepted, name);
    t.equal(pr.next, nextAfter, `${name}: next`);
    if (accepted && state === 'probe') t.notOk(pr.isPaused(), `${name}: the next probe may go`);
  }
});

t.test('maybeUpdate: an acknowledgement raises match and next, a stale one changes nothing but next', async (t) => {
  const rows: [string, number, boolean, number, number][] = [
    ['stale', 3, false, 5, 10],
    ['same as match', 5, false, 5, 10],
    ['new, within what was sent', 7, true, 7, 10],
    ['beyond next', 12, true, 12, 13],
  ];
  for (const [name, n, updated, match, next] of rows) {
    const pr = progress('replicate', 5, 10);
    t.equal(pr.maybeUpdate(n), updated, name);
    t.equal(pr.match, match, `${name}: match`);
    t.equal(pr.next, next, `${name}: next`);
  }
});

t.test('isPaused: probe waits for its one append, replicate for room in the window, snapshot always', async (t) => {
  const probe = progress('probe', 0, 1);
  t.notOk(probe.isPaused(), 'probe with nothing outstanding');
  probe.probeSent = true;
  t.ok(probe.isPaused(), 'probe with an append outstanding');
  probe.maybeUpdate(1);
  t.notOk(probe.isPaused(), 'an acknowledgement lets the next probe go');

  const replicate = progress('replicate', 0, 1, 2);
  replicate.inflights.add(1);
  t.notOk(replicate.isPaused(), 'replicate with room');
  replicate.inflights.add(2);
  t.ok(replicate.isPaused(), 'replicate with a full window');

  t.ok(progress('snapshot', 0, 1).isPaused(), 'snapshot');
});

t.test('state changes: probing restarts after what the follower holds', async (t) => {
  const afterSnapshot = progress('snapshot', 3, 4);
  afterSnapshot.becomeProbe();
  t.equal(afterSnapshot.next, 101, 'after a snapshot at 100 the follower holds at least 100');
  t.equal(afterSnapshot.pendingSnapshot, 0);

  const fromReplicate = progress('replicate', 7, 20);
  fromReplicate.inflights.add(19);
  fromReplicate.becomeProbe();
  t.equal(fromReplicate.next, 8, 'from replicate, probing starts after match');
  t.equal(fromReplicate.inflights.count, 0, 'the window is emptied');

  const toReplicate = progress('probe', 7, 8);
  toReplicate.probeSent = true;
  toReplicate.becomeReplicate();
  t.equal(toReplicate.next, 8);
  t.notOk(toReplicate.isPaused(), 'replicate starts with an empty window');
});
