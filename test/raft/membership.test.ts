// Membership on its own: which one-server changes a configuration accepts
// (voters, learners, promotion, removal, never the last voter), that an
// invalid change applied anyway leaves the configuration as it was on every
// replica, the encoding of a change as a log entry, and the bootstrap log
// every founding node writes. (The core does one-server changes, Raft thesis
// §4.1; there is no joint configuration to test.)

import t from 'tap';
import { AssertionFailure } from '../../src/lib/assert.js';
import { applyConfChange, bootstrapLog, decodeConfChange, encodeConfChange, sameConf, validateConfChange } from '../../src/raft/membership.js';
import type { ConfChange, ConfState } from '../../src/raft/types.js';

const change = (type: ConfChange['type'], nodeId: string): ConfChange => ({ type, nodeId, context: '' });
const encoder = new TextEncoder();

t.test('validate and apply: the rules for voters and learners', async (t) => {
  const conf: ConfState = { voters: ['a', 'b'], learners: ['c'] };
  // [name, change, refusal (a pattern) or the configuration after]
  const rows: [string, ConfChange, RegExp | ConfState][] = [
    ['add a new voter', change('addVoter', 'd'), { voters: ['a', 'b', 'd'], learners: ['c'] }],
    ['promote a learner to voter', change('addVoter', 'c'), { voters: ['a', 'b', 'c'], learners: [] }],
    ['add a voter twice', change('addVoter', 'a'), /a is already a voter/],
    ['add a new learner', change('addLearner', 'd'), { voters: ['a', 'b'], learners: ['c', 'd'] }],
    ['add a learner twice', change('addLearner', 'c'), /c is already a learner/],
    ['demote a voter by adding it as a learner', change('addLearner', 'a'), /a is a voter; remove it before adding it as a learner/],
    ['remove a voter', change('removeNode', 'a'), { voters: ['b'], learners: ['c'] }],
    ['remove a learner', change('removeNode', 'c'), { voters: ['a', 'b'], learners: [] }],
    ['remove a stranger', change('removeNode', 'z'), /z is not a member/],
  ];
  for (const [name, c, want] of rows) {
    const refusal = validateConfChange(conf, c);
    const after = applyConfChange(conf, c);
    if (want instanceof RegExp) {
      t.match(refusal, want, `${name}: refused`);
      t.equal(after, conf, `${name}: applying it anyway changes nothing`);
    } else {
      t.equal(refusal, undefined, `${name}: accepted`);
      t.same(after, want, `${name}: configuration after`);
    }
  }
  t.same(conf, { voters: ['a', 'b'], learners: ['c'] }, 'the configuration applied to is never modified');
});

t.test('the last voter cannot be removed; a learner beside it can', async (t) => {
  const alone: ConfState = { voters: ['a'], learners: ['b'] };
  t.equal(validateConfChange(alone, change('removeNode', 'a')), 'cannot remove the last voter');
  t.equal(applyConfChange(alone, change('removeNode', 'a')), alone);
  t.same(applyConfChange(alone, change('removeNode', 'b')), { voters: ['a'], learners: [] });
});

t.test('every replica computes the same configuration, whatever order members joined in', async (t) => {
  const start: ConfState = { voters: ['m'], learners: [] };
  const one = [change('addVoter', 'z'), change('addLearner', 'b'), change('addVoter', 'a')].reduce(applyConfChange, start);
  const two = [change('addVoter', 'a'), change('addVoter', 'z'), change('addLearner', 'b')].reduce(applyConfChange, start);
  t.same(one, { voters: ['a', 'm', 'z'], learners: ['b'] }, 'members are kept sorted');
  t.ok(sameConf(one, two));
  t.notOk(sameConf(one, { voters: ['a', 'm', 'z'], learners: [] }), 'learners count');
  t.notOk(sameConf(one, { voters: ['a', 'm'], learners: ['b', 'z'] }), 'voter or learner matters');
});

t.test('a change survives the log: decode(encode(c)) is c, and corrupt entries are refused', async (t) => {
  for (const c of [change('addVoter', 'n4'), change('addLearner', 'n5'), { type: 'removeNode', nodeId: 'n2', context: 'http://127.0.0.1:7002' } as const]) {
    t.same(decodeConfChange(encodeConfChange(c)), c, `${c.type} ${c.nodeId}`);
  }
  const corrupt: [string, string][] = [
    ['not an object', '"addVoter"'],
    ['null', 'null'],
    ['an unknown type', '{"type":"addWitness","nodeId":"n4","context":""}'],
    ['no node id', '{"type":"addVoter","context":""}'],
    ['an empty node id', '{"type":"addVoter","nodeId":"","context":""}'],
    ['a context that is not a string', '{"type":"addVoter","nodeId":"n4","context":7}'],
  ];
  for (const [name, json] of corrupt) t.throws(() => decodeConfChange(encoder.encode(json)), AssertionFailure, name);
});

t.test('bootstrap: one committed addVoter per founding member, the same bytes on every node', async (t) => {
  const { entries, hardState } = bootstrapLog(['n3', 'n1', 'n2']);
  t.same(
    entries.map((e) => [e.index, e.term, e.type, decodeConfChange(e.data).nodeId]),
    [
      [1, 1, 'conf', 'n1'],
      [2, 1, 'conf', 'n2'],
      [3, 1, 'conf', 'n3'],
    ],
  );
  t.same(hardState, { term: 1, vote: '', commit: 3 }, 'committed from the start, no vote cast');
  const other = bootstrapLog(['n2', 'n3', 'n1']);
  t.same(other.entries, entries, 'the order members are listed in does not matter');
  const conf = entries.map((e) => decodeConfChange(e.data)).reduce(applyConfChange, { voters: [], learners: [] });
  t.same(conf, { voters: ['n1', 'n2', 'n3'], learners: [] }, 'replaying the entries gives the founding voters');
  t.throws(() => bootstrapLog([]), AssertionFailure, 'a cluster needs a voter');
  t.throws(() => bootstrapLog(['n1', 'n1']), AssertionFailure, 'members are distinct');
});
