// The apply stage sizes its batches by time: a backlog is applied in slices
// of about APPLY_SLICE_MS each, not in one transaction that holds the event
// loop for as long as the whole backlog takes. Real ledger (SQLite in
// memory); the clock is moved by the ledger's own work as if each entry took
// a fixed time, so the slice sizes are exact.

import t from 'tap';
import { encodeEntry, LedgerStateMachine } from '../../src/ledger/index.js';
import { APPLY_SLICE_MS, ApplyQueue, ENTRY_OVERHEAD_BYTES, FIRST_APPLY_BATCH_ENTRIES, MAX_APPLY_BATCH_ENTRIES } from '../../src/node/apply-queue.js';
import type { Scheduler } from '../../src/node/driver-io.js';
import type { Entry } from '../../src/raft/types.js';

/** The clock moves by `cost` of each applied batch: per entry (a number) or any function of the entries. */
function setup(cost: number | ((entries: readonly { readonly data: Uint8Array }[]) => number)) {
  const costOf = typeof cost === 'number' ? (entries: readonly unknown[]) => entries.length * cost : cost;
  const deferred: (() => void)[] = [];
  const scheduler: Scheduler = {
    setTimeout: () => undefined, clearTimeout: () => undefined, setInterval: () => undefined, clearInterval: () => undefined,
    defer: (fn) => deferred.push(fn),
  };
  const real = LedgerStateMachine.open(':memory:');
  let nowMs = 0;
  // The ledger as the queue sees it: every applied batch moves the clock by its cost.
  const ledger = new Proxy(real, {
    get(target, property, receiver) {
      if (property === 'applyEntries') {
        return (entries: Parameters<LedgerStateMachine['applyEntries']>[0]) => {
          nowMs += costOf(entries);
          costs.push(costOf(entries));
          return target.applyEntries(entries);
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const batches: number[] = [];
  const costs: number[] = [];
  const queue = new ApplyQueue({ ledger: () => ledger, scheduler, nowMs: () => nowMs, applied: (batch) => batches.push(batch.length) });
  const runDeferred = (): void => {
    while (deferred.length > 0) (deferred.shift() as () => void)();
  };
  return { queue, batches, costs, runDeferred, ledger: real };
}

const entries = (from: number, count: number): Entry[] =>
  Array.from({ length: count }, (_, n) => ({
    term: 1, index: from + n, type: 'normal' as const,
    data: n === 0 && from === 1
      ? encodeEntry({ timeMs: 1, command: { type: 'create_accounts', accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] } })
      : encodeEntry({ timeMs: from + n, command: { type: 'create_transfers', transfers: [{ id: `t${from + n}`, debit_account_id: 'a', credit_account_id: 'b', amount: 1n, ledger: 'USD' }] } }),
  }));

t.test('a backlog is applied in slices of about APPLY_SLICE_MS once the cost of an entry is known', (t) => {
  const { queue, batches, runDeferred, ledger } = setup(0.1);
  queue.push(entries(1, 3000));
  runDeferred();
  t.equal(ledger.appliedIndex(), 3000, 'everything applied, in order');
  t.equal(batches[0], FIRST_APPLY_BATCH_ENTRIES, 'the first batch knows no cost yet');
  const slice = Math.floor(APPLY_SLICE_MS / 0.1);
  // Sized by bytes: entries whose ids have more digits weigh a little more.
  t.ok(batches.slice(1, -1).every((size) => size >= slice - 2 && size <= slice + 1), `then about ${slice}-entry slices: ${batches.join(',')}`);
  t.end();
});

t.test('entries that cost nothing measurable go in the largest batches', (t) => {
  const { queue, batches, runDeferred } = setup(0);
  queue.push(entries(1, 3000));
  runDeferred();
  t.same(batches, [FIRST_APPLY_BATCH_ENTRIES, MAX_APPLY_BATCH_ENTRIES, MAX_APPLY_BATCH_ENTRIES, 3000 - FIRST_APPLY_BATCH_ENTRIES - 2 * MAX_APPLY_BATCH_ENTRIES]);
  t.end();
});

t.test('however dear an entry, a batch takes at least one, and dear entries go one at a time', (t) => {
  const { queue, batches, runDeferred, ledger } = setup(50);
  queue.push(entries(1, 200));
  runDeferred();
  t.equal(ledger.appliedIndex(), 200);
  t.ok(batches.slice(1).every((size) => size === 1), batches.join(','));
  t.end();
});

t.test('batches are sized by bytes: an entry of many transfers is not batched like an entry of one', (t) => {
  const msPerByte = 0.002;
  const { queue, batches, costs, runDeferred, ledger } = setup((applied) => applied.reduce((sum, e) => sum + (e.data.length + ENTRY_OVERHEAD_BYTES) * msPerByte, 0));
  const small = entries(1, 400);
  const big = Array.from({ length: 10 }, (_, n) => ({
    term: 1, index: 401 + n, type: 'normal' as const,
    data: encodeEntry({ timeMs: 401 + n, command: { type: 'create_transfers', transfers: Array.from({ length: 100 }, (_, k) => ({ id: `big${n}-${k}`, debit_account_id: 'a', credit_account_id: 'b', amount: 1n, ledger: 'USD' })) } }),
  }));
  const bigCost = (big[0] as Entry).data.length * msPerByte;
  t.ok(bigCost > APPLY_SLICE_MS, `one big entry alone costs more than a slice (${bigCost.toFixed(1)} ms)`);
  queue.push([...small, ...big]);
  runDeferred();
  t.equal(ledger.appliedIndex(), 410);
  const afterFirst = costs.slice(1);
  t.ok(afterFirst.every((ms) => ms <= APPLY_SLICE_MS + 0.5 || ms <= bigCost * 1.05), `no batch holds the loop much beyond a slice or one big entry: ${costs.map((ms) => ms.toFixed(1)).join(',')}`);
  t.equal(batches.slice(-10).filter((size) => size === 1).length, 10, `the big entries went one at a time: ${batches.join(',')}`);
  t.end();
});
