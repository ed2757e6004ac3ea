// The linearizability checker catches a non-linearizable register history and
// a lost acknowledged write, passes correct concurrent histories including
// unknown outcomes, and answers 'unknown' (never true) when a history is too
// large for its limits. Property tests: histories generated from the model,
// sequential or concurrent with a linearization point inside each operation,
// always pass, and one mutated read in a sequential history always fails.

import fc from 'fast-check';
import t from 'tap';
import { checkLinearizable, checkTransferLinearizability, registerModel } from './linearizable.js';
import type { LinearOperation, RegisterInput, RegisterOutput } from './linearizable.js';
import { created, HistoryBuilder, info, ok } from './history-builder.js';

type RegisterOp = LinearOperation<RegisterInput, RegisterOutput>;
const write = (value: number, call: number, ret: number): RegisterOp => ({ input: { kind: 'write', value }, output: undefined, call, ret });
const read = (value: number, call: number, ret: number): RegisterOp => ({ input: { kind: 'read' }, output: value, call, ret });

t.test('a register read of an overwritten value after both writes completed is not linearizable', async (t) => {
  const result = checkLinearizable(registerModel, { x: [write(1, 0, 10), write(2, 20, 30), read(1, 40, 50)] });
  t.equal(result.valid, false);
  const key = result.keys[0];
  t.equal(key?.valid, false);
  t.same(key?.leftOut?.map((op) => op.input), [{ kind: 'read' }], 'the read is what cannot follow the longest prefix');
});

t.test('overlapping operations may take effect in either order', async (t) => {
  // w1 and w2 overlap; a read concurrent with both may see either, later reads agree on the last one.
  const ops = [write(1, 0, 30), write(2, 10, 40), read(2, 15, 20), read(1, 45, 50), read(1, 60, 70)];
  t.equal(checkLinearizable(registerModel, { x: ops }).valid, true);
  const flipFlop = [write(1, 0, 30), write(2, 10, 40), read(2, 45, 50), read(1, 60, 70)];
  t.equal(checkLinearizable(registerModel, { x: flipFlop }).valid, false, 'after both complete, reads cannot go back');
});

t.test('a write of unknown outcome may take effect at any time after its invocation, or never', async (t) => {
  const never = [write(1, 0, Infinity), read(0, 10, 20), read(0, 30, 40)];
  const late = [write(1, 0, Infinity), read(0, 10, 20), read(1, 1000, 1010)];
  const back = [write(1, 0, Infinity), read(1, 10, 20), read(0, 30, 40)];
  t.equal(checkLinearizable(registerModel, { x: never }).valid, true);
  t.equal(checkLinearizable(registerModel, { x: late }).valid, true);
  t.equal(checkLinearizable(registerModel, { x: back }).valid, false, 'once seen it cannot be unseen');
});

t.test('keys are checked apart: one bad key fails the whole, good keys stay true', async (t) => {
  const result = checkLinearizable(registerModel, new Map([
    ['good', [write(3, 0, 10), read(3, 20, 30)]],
    ['bad', [write(3, 0, 10), read(4, 20, 30)]],
  ]));
  t.equal(result.valid, false);
  t.same(result.keys.map((key) => [key.key, key.valid]), [['good', true], ['bad', false]]);
});

/** Many concurrent writes of distinct values with reads that force a long search. */
function crowdedRegister(writers: number): RegisterOp[] {
  const ops: RegisterOp[] = [];
  for (let value = 1; value <= writers; value++) ops.push(write(value, 0, 1000));
  for (let value = writers; value >= 1; value--) ops.push(read(value, 10, 990));
  return ops;
}

t.test('a history too large for the state or time limit is unknown, never true', async (t) => {
  const ops = crowdedRegister(12);
  const byStates = checkLinearizable(registerModel, { x: ops }, { maxStatesPerKey: 50 });
  t.equal(byStates.valid, 'unknown');
  t.match(byStates.keys[0]?.reason, /state limit per key/);
  const byTotal = checkLinearizable(registerModel, { x: ops, y: ops }, { maxStatesTotal: 80, maxStatesPerKey: 60 });
  t.equal(byTotal.valid, 'unknown');
  const byTime = checkLinearizable(registerModel, { x: crowdedRegister(40) }, { timeLimitPerKeyMs: 0 });
  t.equal(byTime.valid, 'unknown');
  t.match(byTime.keys[0]?.reason, /time limit/);
  const byMemory = checkLinearizable(registerModel, { x: ops }, { maxMemoryBytes: 1000 });
  t.match(byMemory.keys[0]?.reason, /memory limit/);
  t.equal(checkLinearizable(registerModel, { x: crowdedRegister(6) }).valid, true, 'the same shape within the limits passes');
});

t.test('transfers: an acknowledged transfer that a later linearizable read does not find is caught, ops quoted', async (t) => {
  const history = new HistoryBuilder()
    .op(1, 'transfer', { id: 't1', from: 'a', to: 'b', amount: '5' }, created(7), 0, 10)
    .op(2, 'read-transfer', { level: 'linearizable', id: 't1' }, ok({ found: false }, 7), 20, 30)
    .parsed();
  const verdict = checkTransferLinearizability(history);
  t.equal(verdict.valid, false);
  t.equal(verdict.anomalies[0]?.kind, 'nonlinearizable');
  t.match(verdict.anomalies[0]?.message, /transfer t1/);
  const quoted = verdict.anomalies[0]?.ops.map((event) => `${event.type} ${event.f}`);
  t.same(quoted, ['invoke transfer', 'ok transfer', 'invoke read-transfer', 'ok read-transfer']);
});

t.test('transfers: correct histories pass, with concurrency, unknown outcomes, posts, voids and expiry', async (t) => {
  const history = new HistoryBuilder()
    // t1 is read as absent while its creation is still in flight, then present.
    .invoke(1, 'transfer', { id: 't1', from: 'a', to: 'b', amount: '5' }, 0)
    .op(2, 'read-transfer', { id: 't1' }, ok({ found: false }), 1, 2)
    .complete(1, 'transfer', created(), 10)
    .op(2, 'read-transfer', { id: 't1' }, ok({ found: true, status: 'posted', amount: '5' }), 11, 12)
    // t2 timed out; the retry says it already existed.
    .op(3, 'transfer', { id: 't2', from: 'a', to: 'b', amount: '1' }, info(), 20, 25)
    .op(3, 'transfer', { id: 't2', from: 'a', to: 'b', amount: '1' }, ok({ status: 'exists' }), 30, 35)
    // t3 timed out and is never seen; a stale read of it says nothing.
    .op(4, 'transfer', { id: 't3', from: 'a', to: 'b', amount: '1' }, info(), 40, 45)
    .op(4, 'read-transfer', { level: 'stale', id: 't3' }, ok({ found: true, status: 'posted' }), 46, 47)
    .op(4, 'read-transfer', { id: 't3' }, ok({ found: false }), 50, 55)
    // p1 pending, posted by q1; p2 pending, voided by v2; p3 expires.
    .op(5, 'transfer', { id: 'p1', from: 'a', to: 'b', amount: '9', pending: true }, created(), 60, 61)
    .op(5, 'post', { id: 'q1', pending_id: 'p1', amount: '4' }, created(), 62, 63)
    .op(5, 'read-transfer', { id: 'p1' }, ok({ found: true, status: 'posted', amount: '9' }), 64, 65)
    .op(8, 'read-transfer', { id: 'q1' }, ok({ found: true, status: 'posted', amount: '4' }), 64, 65)
    .op(6, 'transfer', { id: 'p2', from: 'a', to: 'b', amount: '3', pending: true }, created(), 60, 61)
    .op(6, 'void', { id: 'v2', pending_id: 'p2' }, created(), 62, 63)
    .op(6, 'post', { id: 'q2', pending_id: 'p2' }, { type: 'fail', value: { code: 'pending_transfer_already_voided' } }, 64, 65)
    .op(6, 'read-transfer', { id: 'v2' }, ok({ found: true, status: 'voided', amount: '3' }), 66, 67)
    .op(7, 'transfer', { id: 'p3', from: 'a', to: 'b', amount: '3', pending: true, timeout_ms: 1 }, created(), 60, 61)
    .op(7, 'read-transfer', { id: 'p3' }, ok({ found: true, status: 'pending', amount: '3' }), 61.5, 61.7)
    .op(7, 'read-transfer', { id: 'p3' }, ok({ found: true, status: 'expired', amount: '3' }), 70, 71)
    .parsed();
  const verdict = checkTransferLinearizability(history);
  t.same(verdict.anomalies, []);
  t.equal(verdict.valid, true);
});

t.test('transfers: a pending transfer read as posted after it was voided, or a post of an expired one, is caught', async (t) => {
  const voidedThenPosted = new HistoryBuilder()
    .op(1, 'transfer', { id: 'p', from: 'a', to: 'b', amount: '3', pending: true }, created(), 0, 1)
    .op(1, 'void', { id: 'v', pending_id: 'p' }, created(), 2, 3)
    .op(1, 'read-transfer', { id: 'p' }, ok({ found: true, status: 'posted', amount: '3' }), 4, 5)
    .parsed();
  t.equal(checkTransferLinearizability(voidedThenPosted).valid, false);
  const postAfterExpiry = new HistoryBuilder()
    .op(1, 'transfer', { id: 'p', from: 'a', to: 'b', amount: '3', pending: true, timeout_ms: 1 }, created(), 0, 1)
    .op(1, 'read-transfer', { id: 'p' }, ok({ found: true, status: 'expired', amount: '3' }), 4, 5)
    .op(1, 'post', { id: 'q', pending_id: 'p' }, created(), 6, 7)
    .parsed();
  const verdict = checkTransferLinearizability(postAfterExpiry);
  t.equal(verdict.valid, false);
  t.match(verdict.anomalies[0]?.message, /transfer p:/);
});

t.test('transfers: one id with more concurrency than the limits allow is unknown', async (t) => {
  const builder = new HistoryBuilder();
  for (let process = 0; process < 10; process++) builder.invoke(process, 'transfer', { id: 'hot', from: 'a', to: 'b', amount: '1' }, 0);
  for (let process = 10; process < 20; process++) builder.invoke(process, 'read-transfer', { id: 'hot' }, 1);
  for (let process = 10; process < 20; process++) builder.complete(process, 'read-transfer', ok({ found: true, status: 'posted', amount: '1' }), 50);
  for (let process = 0; process < 10; process++) builder.complete(process, 'transfer', ok({ status: process === 0 ? 'created' : 'exists' }), 60);
  const verdict = checkTransferLinearizability(builder.parsed(), { limits: { maxStatesPerKey: 3 } });
  t.equal(verdict.valid, 'unknown');
  t.match(verdict.stats, { unknownKeyCount: 1 });
  t.equal(checkTransferLinearizability(builder.parsed()).valid, true, 'within the default limits it passes');
});

// ---------------------------------------------------------------------------
// Property tests.

const registerCommands = fc.array(
  fc.oneof(fc.record({ kind: fc.constant('write' as const), value: fc.integer({ min: 1, max: 5 }) }), fc.constant({ kind: 'read' as const })),
  { minLength: 1, maxLength: 40 },
);

/** Runs the commands through the model one after another, each in its own time slot. */
function sequentialHistory(commands: RegisterInput[]): RegisterOp[] {
  let state = registerModel.init();
  return commands.map((input, position) => {
    const output = input.kind === 'read' ? state : undefined;
    state = registerModel.step(state, input, output)[1];
    return { input, output, call: position * 10, ret: position * 10 + 5 };
  });
}

t.test('property: sequential histories generated from the model are linearizable; one mutated read is not', async (t) => {
  t.doesNotThrow(() => fc.assert(
    fc.property(registerCommands, fc.nat(), fc.integer({ min: 1, max: 5 }), (commands, pick, shift) => {
      const ops = sequentialHistory(commands);
      if (checkLinearizable(registerModel, { x: ops }).valid !== true) return false;
      const reads = ops.filter((op) => op.input.kind === 'read');
      const target = reads[pick % Math.max(reads.length, 1)];
      if (target === undefined) return true;
      target.output = ((target.output as number) + shift) % 6;
      return checkLinearizable(registerModel, { x: ops }).valid === false;
    }),
    { numRuns: 300 },
  ));
});

t.test('property: concurrent histories with a linearization point inside each operation are linearizable', async (t) => {
  const timed = fc.array(
    fc.record({
      command: fc.oneof(fc.record({ kind: fc.constant('write' as const), value: fc.integer({ min: 1, max: 3 }) }), fc.constant({ kind: 'read' as const })),
      call: fc.integer({ min: 0, max: 100 }),
      before: fc.integer({ min: 0, max: 20 }),
      after: fc.integer({ min: 0, max: 20 }),
      unknown: fc.boolean(),
    }),
    { minLength: 1, maxLength: 14 },
  );
  t.doesNotThrow(() => fc.assert(
    fc.property(timed, (specs) => {
      // Each operation takes effect at call + before; events are ordered by that point.
      const points = specs.map((spec, position) => ({ ...spec, point: spec.call + spec.before + position / 1000 }));
      let state = registerModel.init();
      const ops: RegisterOp[] = [];
      for (const spec of [...points].sort((a, b) => a.point - b.point)) {
        const output = spec.command.kind === 'read' ? state : undefined;
        state = registerModel.step(state, spec.command, output)[1];
        if (spec.unknown && spec.command.kind === 'read') continue; // a read of unknown outcome says nothing
        const ret = spec.unknown ? Infinity : spec.point + spec.after;
        ops.push({ input: spec.command, output, call: spec.call, ret });
      }
      return checkLinearizable(registerModel, { x: ops }).valid === true;
    }),
    { numRuns: 300 },
  ));
});
