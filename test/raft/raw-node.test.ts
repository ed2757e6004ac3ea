// Scripted interactions with the Raft core: each test drives a small cluster
// through one protocol behaviour and asserts what a user of the core relies on.

import t from 'tap';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { committedIndex, quorumSize, voteResult } from '../../src/raft/quorum.js';
import { AssertionFailure } from '../../src/lib/assert.js';
import { Prng } from '../../src/lib/prng.js';
import { DEFAULT_RAFT_CONFIG, leaseTicks } from '../../src/raft/config.js';
import { encodeConfChange } from '../../src/raft/membership.js';
import { RawNode } from '../../src/raft/raw-node.js';
import type { Entry, Message } from '../../src/raft/types.js';
import { bytes, TestCluster } from './harness.js';

const three = ['n1', 'n2', 'n3'];

t.test('quorum arithmetic', async (t) => {
  t.equal(quorumSize(3), 2);
  t.equal(quorumSize(4), 3);
  t.equal(quorumSize(5), 3);
  const match = new Map([['a', 5], ['b', 9], ['c', 7]]);
  t.equal(committedIndex(['a', 'b', 'c'], (id) => match.get(id) ?? 0), 7, 'the median of three');
  t.equal(voteResult(['a', 'b', 'c'], new Map([['a', true], ['b', true]])), 'won');
  t.equal(voteResult(['a', 'b', 'c'], new Map([['a', true], ['b', false], ['c', false]])), 'lost');
  t.equal(voteResult(['a', 'b', 'c', 'd'], new Map([['a', true], ['b', true]])), 'pending', 'two of four is no majority');
  t.ok(leaseTicks({ electionTicks: 10, maxClockDriftRatio: 0.1 }) < 10, 'the lease is shorter than an election timeout');
});

t.test('a leader is elected, commits its no-op, and replicates proposals in order to every node', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  const term = c.node('n1').status().term;
  const result = c.node('n1').proposeBatch([bytes('a'), bytes('b'), bytes('c')]);
  t.ok(result.ok);
  c.stabilize();
  c.tickAll(1); // a heartbeat carries the new commit index to the followers
  for (const id of three) {
    t.same(c.appliedData(id), ['a', 'b', 'c'], `${id} applied the proposals in order`);
    t.equal(c.node(id).status().term, term);
  }
  const noop = c.applied.get('n2')?.find((e) => e.term === term);
  t.equal(noop?.data.length, 0, "the first entry of the leader's term is an empty no-op");
});

t.test('a follower refuses a proposal and names the leader', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  const result = c.node('n2').propose(bytes('x'));
  t.equal(result.ok, false);
  if (!result.ok) {
    t.equal(result.error, 'notLeader');
    t.match(result.detail, /n1/);
  }
});

t.test('a granted vote is in the hard state of the same Ready and leaves only after it is persisted', async (t) => {
  const d = new TestCluster(three);
  d.isolate('n1');
  d.tickAll(10);
  d.heal();
  d.node('n2').campaign();
  // Run n2's pre-vote round and its vote request, but hold n3's answer to inspect it.
  for (let i = 0; i < 4; i++) {
    for (const id of ['n2', 'n3']) {
      const node = d.node(id);
      if (!node.hasReady()) continue;
      const rd = node.ready();
      const grant = rd.messagesAfterPersist.find((m) => m.type === 'voteResp' && !m.reject);
      if (id === 'n3' && grant) {
        t.equal(rd.hardState?.vote, 'n2', 'the vote is in the hard state to persist');
        t.equal(rd.hardState?.term, grant.term);
        t.ok(rd.mustSync, 'a vote must be synced');
        t.notOk(rd.messages.some((m) => m.type === 'voteResp'), 'no vote response may leave before persistence');
        return;
      }
      const storage = d.storages.get(id) as MemoryStorage;
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      for (const m of [...rd.messages, ...rd.messagesAfterPersist]) if (m.to !== 'n1') d.node(m.to).step(m);
      node.advance(rd);
    }
  }
  t.fail('n3 never granted its vote');
});

t.test('PreVote: a node cut off for many timeouts rejoins without raising the term or deposing the leader', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  const term = c.node('n1').status().term;
  c.isolate('n3');
  c.tickAll(100);
  t.equal(c.node('n3').status().term, term, 'pre-votes that fail do not raise the term');
  c.heal();
  c.tickAll(5);
  t.equal(c.leader(), 'n1');
  t.equal(c.node('n1').status().term, term);
});

t.test('CheckQuorum: an isolated leader steps down within two election timeouts and the rest elect a new one', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.isolate('n1');
  c.tickAll(20);
  t.equal(c.node('n1').status().role, 'follower', 'the old leader stepped down');
  c.tickAll(30);
  const leader = c.leader();
  t.ok(leader === 'n2' || leader === 'n3', `a new leader among the majority (got ${leader})`);
});

t.test('ReadIndex: many reads on the leader share one heartbeat round and see every committed write', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.node('n1').propose(bytes('w1'));
  c.stabilize();
  const commit = c.node('n1').status().commit;
  const before = c.sent.filter((m) => m.type === 'heartbeat').length;
  for (let i = 0; i < 100; i++) c.node('n1').readIndex(`r${i}`, 'readIndex');
  c.stabilize();
  const heartbeats = c.sent.filter((m) => m.type === 'heartbeat').length - before;
  t.equal(heartbeats, 2, 'one round: one heartbeat to each follower');
  const reads = c.reads.get('n1') ?? [];
  t.equal(reads.length, 100);
  t.ok(reads.every((r) => r.index >= commit), 'every read index covers the last committed write');
});

t.test('ReadIndex on a follower asks the leader and gets its commit index', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.node('n1').propose(bytes('w1'));
  c.stabilize();
  c.node('n3').readIndex('f1', 'readIndex');
  c.stabilize();
  const read = c.reads.get('n3')?.find((r) => r.id === 'f1');
  t.equal(read?.index, c.node('n1').status().commit);
});

t.test("a follower catching up knows the leader's commit before its own commit gets there", async (t) => {
  // One entry per append, so catching up takes several rounds.
  const c = new TestCluster(three, { maxAppendBytes: 1 });
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 20; i++) c.node('n1').propose(bytes(`w${i}`));
  c.stabilize();
  const leaderCommit = c.node('n1').status().commit;
  t.equal(c.node('n1').summary().leaderCommit, leaderCommit, "a leader's is its own commit");
  t.ok(c.node('n3').summary().commit < leaderCommit - 10, 'n3 was left behind');
  c.heal();
  // n3 gets the leader's appends one at a time: hold every append to it after the first accepted one.
  let delivered = 0;
  c.holdIf = (m) => m.to === 'n3' && m.type === 'app' && m.entries.length > 0 && delivered++ > 0;
  c.tickAll(1);
  c.stabilize();
  const behind = c.node('n3').summary();
  t.ok(behind.commit < leaderCommit, `n3 has not caught up yet (commit ${behind.commit} of ${leaderCommit})`);
  t.equal(behind.leaderCommit, leaderCommit, "n3 learned the leader's commit from the appends");
  c.holdIf = undefined;
  c.release(() => true);
  for (let i = 0; i < 5; i++) {
    c.tickAll(1);
    c.stabilize();
  }
  t.equal(c.node('n3').summary().commit, c.node('n3').summary().leaderCommit, 'once caught up the two agree');
});

t.test('ReadIndex: a round answers all the reads a follower forwarded in one message', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.node('n1').propose(bytes('w1'));
  c.stabilize();
  const before = c.sent.length;
  for (let i = 0; i < 50; i++) c.node('n3').readIndex(`f${i}`, 'readIndex');
  c.stabilize();
  const answers = c.sent.slice(before).filter((m) => m.type === 'readIndexResp');
  t.equal(answers.length, 1, 'one readIndexResp for the whole round');
  t.same([...(answers[0]?.readIds ?? [])].sort(), Array.from({ length: 50 }, (_, i) => `f${i}`).sort());
  const reads = c.reads.get('n3') ?? [];
  t.equal(reads.length, 50, 'every forwarded read got its index');
  t.ok(reads.every((r) => r.index === c.node('n1').status().commit));
});

t.test('lease reads: served at once while the lease holds, never by a leader cut off past its lease', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.tickAll(1); // a confirmed heartbeat round anchors the lease
  const sentBefore = c.sent.length;
  c.node('n1').readIndex('lease1', 'lease');
  c.stabilize();
  t.ok(c.reads.get('n1')?.some((r) => r.id === 'lease1'), 'served');
  t.equal(c.sent.length, sentBefore, 'without a round trip');
  t.ok(c.node('n1').status().leaseValid);

  c.isolate('n1');
  c.tick(['n1'], leaseTicks({ electionTicks: 10, maxClockDriftRatio: 0.1 }) + 1);
  t.notOk(c.node('n1').status().leaseValid, 'the lease expired');
  c.node('n1').readIndex('lease2', 'lease');
  c.stabilize();
  t.notOk(c.reads.get('n1')?.some((r) => r.id === 'lease2'), 'an expired lease does not serve');
});

t.test('a follower behind a compacted log catches up by snapshot', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.isolate('n3');
  for (let i = 0; i < 20; i++) c.node('n1').propose(bytes(`v${i}`));
  c.stabilize();
  const leader = c.node('n1');
  const storage = c.storages.get('n1') as MemoryStorage;
  const applied = leader.status().applied;
  storage.compact({ index: applied, term: storage.term(applied) as number, conf: leader.confAt(applied) }, bytes('image'));
  leader.compacted(applied);
  c.heal();
  c.tickAll(3);
  t.ok(c.sent.some((m) => m.type === 'snap' && m.to === 'n3'), 'a snapshot was sent');
  t.equal((c.storages.get('n3') as MemoryStorage).snapshotMeta().index, applied, 'n3 installed it');
  t.equal(c.node('n3').status().commit, leader.status().commit, 'and caught up with the log after it');
});

t.test('fast backtracking: a long conflicting suffix is skipped a term at a time', async (t) => {
  const c = new TestCluster(three, { maxAppendBytes: 1 << 20 });
  c.elect('n1');
  c.isolate('n1');
  for (let i = 0; i < 50; i++) c.node('n1').propose(bytes(`stale${i}`)); // never committed
  c.stabilize();
  c.tick(['n2', 'n3'], 40);
  const newLeader = c.leader() as string;
  t.not(newLeader, 'n1');
  c.node(newLeader).propose(bytes('fresh'));
  c.stabilize();
  const rejectsBefore = c.sent.filter((m) => m.type === 'appResp' && m.reject && m.from === 'n1').length;
  c.heal();
  c.tickAll(20);
  const rejects = c.sent.filter((m) => m.type === 'appResp' && m.reject && m.from === 'n1').length - rejectsBefore;
  t.ok(rejects <= 3, `50 conflicting entries resolved with ${rejects} rejections`);
  t.notOk(c.appliedData('n1').some((v) => v.startsWith('stale')), 'the stale suffix was never applied');
  t.ok(c.appliedData('n1').includes('fresh'));
});

t.test('membership: a learner replicates without voting, then is promoted to voter', async (t) => {
  const c = new TestCluster(three, {}, ['n4']);
  c.elect('n1');
  const add = c.node('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4', context: 'http://n4' });
  t.ok(add.ok);
  c.stabilize();
  c.node('n1').propose(bytes('to-learner'));
  c.stabilize();
  c.tickAll(1);
  t.ok(c.appliedData('n4').includes('to-learner'), 'the learner receives the log');
  t.same(c.node('n1').status().conf.learners, ['n4']);
  const peer = c.node('n1').status().peers.find((p) => p.id === 'n4');
  t.equal(peer?.voter, false);
  t.ok(c.node('n1').proposeConfChange({ type: 'addVoter', nodeId: 'n4', context: '' }).ok);
  c.stabilize();
  t.same(c.node('n1').status().conf.voters, ['n1', 'n2', 'n3', 'n4']);
  const again = c.node('n1').proposeConfChange({ type: 'addVoter', nodeId: 'n4', context: '' });
  t.equal(again.ok, false, 'adding an existing voter is refused');
});

t.test('membership: one change at a time', async (t) => {
  const c = new TestCluster(three, {}, ['n4', 'n5']);
  c.elect('n1');
  c.isolate('n2');
  c.isolate('n3');
  t.ok(c.node('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4', context: '' }).ok);
  const second = c.node('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n5', context: '' });
  t.equal(second.ok, false);
  if (!second.ok) t.equal(second.error, 'confChangePending');
});

t.test('membership: a leader that removes itself steps down once the removal commits, and the rest go on', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  t.ok(c.node('n1').proposeConfChange({ type: 'removeNode', nodeId: 'n1', context: '' }).ok);
  c.stabilize();
  t.equal(c.node('n1').status().role, 'follower');
  c.tickAll(40);
  const leader = c.leader();
  t.ok(leader === 'n2' || leader === 'n3', `new leader ${leader}`);
  t.ok(c.node(leader as string).propose(bytes('after')).ok);
  c.stabilize();
  c.tickAll(1);
  t.ok(c.appliedData('n2').includes('after') && c.appliedData('n3').includes('after'));
  t.notOk(c.appliedData('n1').includes('after'), 'the removed node no longer receives the log');
});

t.test('leadership transfer: the target takes over, and proposals are refused while it moves', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.isolate('n3');
  c.node('n1').propose(bytes('x'));
  c.stabilize();
  t.equal(c.node('n1').transferLeadership('n3'), undefined);
  const refused = c.node('n1').propose(bytes('y'));
  t.equal(refused.ok, false);
  if (!refused.ok) t.equal(refused.error, 'transferInProgress');
  t.notOk(c.node('n1').status().leaseValid, 'no lease reads during a transfer');
  c.heal();
  c.tickAll(3);
  t.equal(c.leader(), 'n3', 'n3 caught up, received TimeoutNow and won');
  t.equal(c.node('n1').status().role, 'follower');
});

t.test('restart: term, vote and log come back from storage, and applied entries are not handed out again', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.node('n1').propose(bytes('durable'));
  c.stabilize();
  c.tickAll(1);
  const before = c.node('n2').status();
  c.restart('n2');
  const after = c.node('n2').status();
  t.equal(after.term, before.term);
  t.equal(after.lastIndex, before.lastIndex);
  t.equal(after.applied, before.applied);
  c.tickAll(1);
  t.equal(c.appliedData('n2').filter((v) => v === 'durable').length, 1, 'applied once');
});

t.test('a node whose storage lost a damaged tail abstains from voting until a leader shows it is caught up', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.node('n1').propose(bytes('acked'));
  c.stabilize();
  c.restart('n3', { abstainUntilCaughtUp: true });
  c.isolate('n1');
  c.tick(['n2', 'n3'], 60);
  t.equal(c.leader(), 'n1', 'n2 cannot win without n3, and n3 neither votes nor campaigns');
  t.equal(c.node('n3').status().role, 'follower');
  c.heal();
  c.tickAll(2);
  c.node('n1').propose(bytes('after'));
  c.stabilize();
  c.isolate('n1');
  c.tick(['n2', 'n3'], 60);
  const leader = c.leader();
  t.ok(leader === 'n2' || leader === 'n3', `once caught up, n3 votes again and the majority elects ${leader}`);
});

t.test('entries replaced while a Ready is being persisted are still handed out to persist', async (t) => {
  const c = new TestCluster(['n1', 'n2', 'n3']);
  const node = c.node('n2');
  const entry = (index: number, term: number): { term: number; index: number; type: 'normal'; data: Uint8Array } => ({ term, index, type: 'normal', data: bytes(`e${index}t${term}`) });
  const app = (term: number, from: string, prev: number, prevTerm: number, entries: ReturnType<typeof entry>[]) => ({
    type: 'app' as const, from, to: 'n2', term, index: prev, logTerm: prevTerm, entries, commit: 0,
    reject: false, rejectHint: 0, rejectHintTerm: 0, readRound: 0, readIds: [], force: false,
  });
  // Leader n1 of term 2 sends 4..6; the driver starts persisting them...
  node.step(app(2, 'n1', 3, 1, [entry(4, 2), entry(5, 2), entry(6, 2)]));
  const first = node.ready();
  t.same(first.entries.map((e) => `${e.index}/${e.term}`), ['4/2', '5/2', '6/2']);
  const persisted = c.storages.get('n2') as MemoryStorage;
  persisted.append(first.entries);
  if (first.hardState) persisted.setHardState(first.hardState);
  // ...while leader n3 of term 3 replaces 5..6 (the driver steps messages during the fsync).
  node.step(app(3, 'n3', 4, 2, [entry(5, 3), entry(6, 3)]));
  node.advance(first);
  const second = node.ready();
  t.same(second.entries.map((e) => `${e.index}/${e.term}`), ['5/3', '6/3'], 'the replacing entries still need persisting, the durable prefix not again');
  const ack = second.messagesAfterPersist.find((m) => m.type === 'appResp' && m.to === 'n3');
  t.equal(ack?.index, 6, 'and are acknowledged only in the Ready that persists them');
});

t.test('lease arithmetic: while the leader may serve from its lease, a quorum still refuses other candidates', async (t) => {
  const drift = 0.1;
  const slowTick = 1 / (1 - drift); // the leader's clock runs slow: its lease looks shorter to it than it is
  const fastTick = 1 / (1 + drift); // the followers' clocks run fast: their refusal ends early
  let checks = 0;
  // The leader is cut off at `cutAt`: entirely, or only its outgoing messages (answers to rounds already sent still arrive).
  for (const cut of ['both ways', 'leader to followers'] as const) {
  for (const delay of [0.2, 1.5, 3, 5]) {
    for (const leaderPhase of [0.01, 0.5, 0.99]) {
      for (const followerPhase of [0.01, 0.5, 0.99]) {
        const c = new TestCluster(three, { maxClockDriftRatio: drift });
        c.elect('n1');
        const queue: { at: number; m: import('../../src/raft/types.js').Message }[] = [];
        const nextTick = new Map<string, number>([
          ['n1', leaderPhase * slowTick],
          ['n2', followerPhase * fastTick],
          ['n3', followerPhase * fastTick * 0.5],
        ]);
        const interval = (id: string): number => (id === 'n1' ? slowTick : fastTick);
        const cutAt = 6;
        let violation: string | undefined;
        for (let now = 0; now < 60 && !violation; now = Math.min(...nextTick.values(), ...queue.map((q) => q.at))) {
          for (const [id, at] of nextTick) {
            if (at > now) continue;
            c.node(id).tick();
            nextTick.set(id, at + interval(id));
          }
          for (const item of queue.filter((q) => q.at <= now)) {
            queue.splice(queue.indexOf(item), 1);
            const isolated = now >= cutAt && (item.m.from === 'n1' || (cut === 'both ways' && item.m.to === 'n1'));
            if (!isolated) c.node(item.m.to).step(item.m);
          }
          for (const id of three) {
            const node = c.node(id);
            while (node.hasReady()) {
              const rd = node.ready();
              const storage = c.storages.get(id) as MemoryStorage;
              storage.append(rd.entries);
              if (rd.hardState) storage.setHardState(rd.hardState);
              for (const m of [...rd.messages, ...rd.messagesAfterPersist]) queue.push({ at: now + delay, m });
              node.advance(rd);
            }
          }
          if (c.node('n1').status().leaseValid) {
            checks++;
            const refusing = ['n2', 'n3'].filter((id) => c.node(id).raft.inLease()).length;
            if (1 + refusing < 2) violation = `at ${now.toFixed(2)} (cut ${cut}, delay ${delay}, phases ${leaderPhase}/${followerPhase}) the lease is valid but no follower refuses candidates`;
          }
        }
        t.equal(violation, undefined, violation ?? `cut ${cut}, delay ${delay}, phases ${leaderPhase}/${followerPhase}`);
      }
    }
  }
  }
  t.ok(checks > 100, `the lease was checked ${checks} times`);
});

t.test('ReadIndex: a deposed leader that has not noticed never answers a read from an old round', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.tickAll(1); // a confirmed round
  c.isolate('n1');
  c.tick(['n2', 'n3'], 40); // n1 does not tick, so it still believes it leads
  const leader = c.leader();
  t.ok(leader === 'n2' || leader === 'n3', `a new leader ${leader}`);
  c.node(leader as string).propose(bytes('newer'));
  c.stabilize();
  t.equal(c.node('n1').status().role, 'leader', 'n1 has not noticed');
  c.node('n1').readIndex('stale?', 'readIndex');
  c.stabilize();
  t.notOk(c.reads.get('n1')?.some((r) => r.id === 'stale?'), 'the read waits for a round sent after it arrived, which cannot be confirmed');
});

t.test('membership: a configuration in a truncated suffix is undone with it', async (t) => {
  const c = new TestCluster(three, {}, ['n4']);
  c.elect('n1');
  c.isolate('n1');
  t.ok(c.node('n1').proposeConfChange({ type: 'addLearner', nodeId: 'n4', context: '' }).ok, 'n1 appends a change no one else gets');
  c.stabilize();
  t.same(c.node('n1').status().conf.learners, ['n4'], 'in force on n1 as soon as it is in its log');
  c.tick(['n2', 'n3'], 40);
  const leader = c.leader() as string;
  t.not(leader, 'n1');
  c.node(leader).propose(bytes('overwrites'));
  c.stabilize();
  c.heal();
  c.tickAll(3);
  t.equal(c.node('n1').status().role, 'follower');
  t.same(c.node('n1').status().conf.learners, [], 'the truncated change is no longer in force on n1');
});

t.test('membership: a new leader refuses a change until an entry of its own term is committed', async (t) => {
  const c = new TestCluster(three, {}, ['n4']);
  outlastStartupLeases(c, three);
  // Deliver everything but n1's appends: n1 wins, but its no-op cannot commit.
  const node = c.node('n1');
  node.campaign();
  for (let round = 0; round < 20; round++) {
    for (const id of three) {
      const raw = c.node(id);
      while (raw.hasReady()) {
        const rd = raw.ready();
        const storage = c.storages.get(id) as MemoryStorage;
        storage.append(rd.entries);
        if (rd.hardState) storage.setHardState(rd.hardState);
        for (const m of [...rd.messages, ...rd.messagesAfterPersist]) if (m.type !== 'app') c.node(m.to).step(m);
        raw.advance(rd);
      }
    }
  }
  t.equal(node.status().role, 'leader');
  t.ok(node.status().commit < node.status().lastIndex, 'its no-op is not committed');
  const refused = node.proposeConfChange({ type: 'addLearner', nodeId: 'n4', context: '' });
  t.equal(refused.ok, false, 'refused (the single-server change bug)');
  if (!refused.ok) t.equal(refused.error, 'confChangePending');
});

/** Lets an election timeout pass with every link cut, so that no node still honours a lease from its start-up. */
function outlastStartupLeases(c: TestCluster, ids: readonly string[]): void {
  c.network.partition(ids.map((id) => [id]));
  c.tickAll(10);
  c.heal();
}

t.test('ReadIndex: an answer to a read round from before a restart never confirms a round of the new term', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.tickAll(30); // thirty confirmed rounds
  // n2's answer to the next round is held in the network past n1's crash.
  c.holdIf = (m) => m.type === 'heartbeatResp' && m.from === 'n2';
  c.tickAll(1);
  c.holdIf = undefined;
  const late = c.held[0];
  t.ok(late !== undefined && late.readRound > 1, `an answer to round ${late?.readRound} is in flight`);
  c.restart('n1'); // its round counter begins again at 0
  c.elect('n1');
  t.ok(c.node('n1').status().term > (late?.term ?? 0), 'n1 leads a later term');
  c.isolate('n1');
  c.node('n1').readIndex('unconfirmed', 'readIndex');
  c.stabilize(); // round 1 of the new term leaves, and no one answers it
  t.equal(c.release((m) => m.type === 'heartbeatResp').length, 1, 'the old answer arrives');
  t.notOk(
    c.reads.get('n1')?.some((r) => r.id === 'unconfirmed'),
    'no quorum answered a round of this term, so the read is not served (another leader may exist)',
  );
});

t.test('elections: a vote granted in an earlier term is not counted in a later one', async (t) => {
  const c = new TestCluster(three);
  outlastStartupLeases(c, three);
  // Every answer to n1's vote requests is held: n1 stays a candidate.
  c.holdIf = (m) => m.type === 'voteResp' && m.to === 'n1';
  c.node('n1').campaign();
  c.stabilize();
  const firstTerm = c.node('n1').status().term;
  t.ok(c.held.some((m) => m.from === 'n2' && m.term === firstTerm && !m.reject), `n2 granted its term-${firstTerm} vote, still in flight`);
  for (let i = 0; i < 40 && c.node('n1').status().term === firstTerm; i++) c.tick(['n1']);
  t.equal(c.node('n1').status().role, 'candidate');
  t.ok(c.node('n1').status().term > firstTerm, 'n1 campaigns again in a later term');
  c.release((m) => m.from === 'n2' && m.term === firstTerm && !m.reject);
  t.not(c.node('n1').status().role, 'leader', 'a vote for another term does not make n1 leader');
});

t.test('PreVote: granting a pre-vote records no vote and keeps the term (3 nodes)', async (t) => {
  // Without CheckQuorum no lease stops the pre-vote, so n2 answers it while it still holds its vote for n1.
  const c = new TestCluster(three, { checkQuorum: false, leaseReads: false });
  c.elect('n1');
  const term = c.node('n1').status().term;
  t.equal(c.node('n2').status().vote, 'n1');
  c.isolate('n1');
  c.holdIf = (m) => m.type === 'vote'; // only the pre-vote round runs
  c.node('n3').campaign();
  c.stabilize();
  t.ok(c.sent.some((m) => m.type === 'preVoteResp' && m.from === 'n2' && m.to === 'n3' && !m.reject), 'n2 granted the pre-vote');
  t.equal(c.node('n2').status().term, term, 'n2 keeps its term');
  t.equal(c.node('n2').status().vote, 'n1', 'n2 still holds its vote for n1: it could otherwise vote twice in this term');
  t.equal((c.storages.get('n2') as MemoryStorage).hardState.vote, 'n1', 'and so does its durable hard state');
});

t.test('leadership transfer: a leader that sent TimeoutNow holds no lease for the rest of its term, even after giving the transfer up', async (t) => {
  const c = new TestCluster(three);
  c.elect('n1');
  c.tickAll(1);
  t.ok(c.node('n1').status().leaseValid, 'n1 holds a lease');
  c.holdIf = (m) => m.type === 'timeoutNow';
  c.node('n1').transferLeadership('n2');
  c.stabilize();
  c.holdIf = undefined;
  t.equal(c.held.length, 1, 'the TimeoutNow is delayed in the network');
  c.tickAll(12); // the transfer is abandoned after an election timeout; heartbeats go on
  t.equal(c.node('n1').status().role, 'leader');
  t.equal(c.node('n1').status().leadTransferee, '', 'the transfer was given up');
  t.notOk(c.node('n1').status().leaseValid, 'no lease: the TimeoutNow may still arrive');
  // Why: it does arrive, and n2 wins a forced election that no lease stops.
  c.isolate('n1');
  c.release((m) => m.type === 'timeoutNow');
  t.equal(c.node('n2').status().role, 'leader', 'n2 leads a later term');
  t.equal(c.node('n1').status().role, 'leader', 'while n1, cut off, has not noticed');
  t.notOk(c.node('n1').status().leaseValid, 'and serves no lease read');
});

/** An append as a leader would send it (the tests below forge ones no correct leader sends). */
function append(from: string, to: string, term: number, prev: { index: number; term: number }, entries: Entry[], commit: number): Message {
  return {
    type: 'app', from, to, term, index: prev.index, logTerm: prev.term, entries, commit,
    reject: false, rejectHint: 0, rejectHintTerm: 0, readRound: 0, readIds: [], force: false,
  };
}

t.test('an append the log refuses leaves the membership as it was', async (t) => {
  const c = new TestCluster(three, {}, ['n4']);
  c.elect('n1');
  const { term, lastIndex } = c.node('n1').status();
  const prev = { index: lastIndex, term };
  const change: Entry = { index: lastIndex + 1, term, type: 'conf', data: encodeConfChange({ type: 'addLearner', nodeId: 'n4', context: '' }) };
  const n2 = c.node('n2');
  n2.step(append('n1', 'n2', term, prev, [change], lastIndex));
  t.same(n2.status().conf.learners, ['n4'], 'n2 holds an uncommitted change');
  // A later leader's append that would replace it, with a gap in its entries: a programmer error.
  const broken = append('n3', 'n2', term + 1, prev, [
    { index: lastIndex + 1, term: term + 1, type: 'normal', data: bytes('x') },
    { index: lastIndex + 3, term: term + 1, type: 'normal', data: bytes('y') },
  ], lastIndex);
  t.throws(() => n2.step(broken), AssertionFailure, 'the log refuses entries that do not follow one another');
  t.same(n2.status().conf.learners, ['n4'], 'the configuration log was not truncated before the check');
  t.equal(n2.status().lastIndex, lastIndex + 1, 'nor was the log');
});

t.test('lease reads with a lease under one tick are refused at construction, not silently never served', async (t) => {
  const config = { ...DEFAULT_RAFT_CONFIG, id: 'n1', applied: 0, random: new Prng(1), heartbeatTicks: 1, electionTicks: 3, maxClockDriftRatio: 0.49 };
  t.equal(leaseTicks(config), -1);
  t.throws(() => new RawNode(config, MemoryStorage.bootstrap(['n1'])), /electionTicks 3 with maxClockDriftRatio 0.49 leaves a lease of -1 ticks/);
  t.doesNotThrow(() => new RawNode({ ...config, leaseReads: false }, MemoryStorage.bootstrap(['n1'])), 'without lease reads the setting is fine');
  t.doesNotThrow(() => new RawNode({ ...config, electionTicks: 7 }, MemoryStorage.bootstrap(['n1'])), 'nor with a longer election timeout');
});
