// Model-based tests: random command sequences go to the SQLite state machine
// and to the in-memory reference model; every result and every balance must
// agree and the invariants must hold after every command. Two machines fed the
// same entries must end with the same chain head and the same snapshot bytes.

import fc from 'fast-check';
import t from 'tap';
import { isDeepStrictEqual } from 'node:util';
import type { Command, Transfer } from '../../src/ledger/index.js';
import { brokenInvariant, Driver } from './harness.js';
import { LedgerModel } from './model.js';

const accountIds = ['a0', 'a1', 'a2', 'a3', 'a4'];
const transferIds = Array.from({ length: 24 }, (_, n) => `t${n}`);
const skus = ['s0', 's1', 's2', 's3'];
const reservationIds = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
const MAX = 2n ** 63n - 1n;

const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 2 });
const amount = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt(0n, 200n) },
  { weight: 1, arbitrary: fc.bigInt(MAX - 300n, MAX) },
);
const ledger = fc.oneof({ weight: 9, arbitrary: fc.constant('USD') }, { weight: 1, arbitrary: fc.constant('EUR') });
const rarely = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
);

/** Drops undefined fields so objects look like decoded JSON. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

const account = fc
  .record({
    id: fc.constantFrom(...accountIds),
    ledger,
    code: optional(fc.integer({ min: 0, max: 3 })),
    flags: optional(fc.record({ debits_must_not_exceed_credits: fc.boolean(), credits_must_not_exceed_debits: fc.boolean() }, { requiredKeys: [] })),
  })
  .map(compact);

const plainTransfer = fc
  .record({
    id: fc.constantFrom(...transferIds),
    debit_account_id: fc.constantFrom(...accountIds),
    credit_account_id: fc.constantFrom(...accountIds),
    amount,
    ledger,
    code: optional(fc.integer({ min: 0, max: 3 })),
    linked: rarely,
    pending: fc.constantFrom(undefined, false, true),
    timeout_ms: optional(fc.integer({ min: 1, max: 200 })),
  })
  .map((transfer) => compact({ ...transfer, timeout_ms: transfer.pending === true ? transfer.timeout_ms : undefined }) as Transfer);

const settleTransfer = fc
  .record({
    id: fc.constantFrom(...transferIds),
    pendingId: fc.constantFrom(...transferIds),
    post: fc.boolean(),
    amount: optional(fc.bigInt(0n, 220n)),
    debit_account_id: fc.option(fc.constantFrom(...accountIds), { nil: undefined, freq: 6 }),
    linked: rarely,
  })
  .map(({ pendingId, post, ...rest }) => compact({ ...rest, [post ? 'post_pending_id' : 'void_pending_id']: pendingId }) as Transfer);

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.array(account, { minLength: 1, maxLength: 3 }).map((accounts) => ({ type: 'create_accounts' as const, accounts })) },
  {
    weight: 6,
    arbitrary: fc
      .array(fc.oneof({ weight: 3, arbitrary: plainTransfer }, { weight: 2, arbitrary: settleTransfer }), { minLength: 1, maxLength: 6 })
      .map((transfers) => ({ type: 'create_transfers' as const, transfers })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.record({ sku: fc.constantFrom(...skus), on_hand: fc.integer({ min: 0, max: 20 }) }), { minLength: 1, maxLength: 2 })
      .map((items) => ({ type: 'create_items' as const, items })),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.record({ id: fc.constantFrom('j0', 'j1', 'j2', 'j3', 'j4'), sku: fc.constantFrom(...skus), delta: fc.integer({ min: -15, max: 15 }) }), {
        minLength: 1, maxLength: 2,
      })
      .map((adjustments) => ({ type: 'adjust_stock' as const, adjustments })),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(
        fc.record({
          id: fc.constantFrom(...reservationIds),
          lines: fc.array(fc.record({ sku: fc.constantFrom(...skus), qty: fc.integer({ min: 0, max: 8 }) }), { minLength: 1, maxLength: 3 }),
          ttl_ms: fc.integer({ min: 1, max: 200 }),
        }),
        { minLength: 1, maxLength: 2 },
      )
      .map((reservations) => ({ type: 'create_reservations' as const, reservations })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.boolean(), fc.array(fc.constantFrom(...reservationIds), { minLength: 1, maxLength: 2 }))
      .map(([confirm, ids]) => (confirm ? { type: 'confirm_reservations' as const, ids } : { type: 'release_reservations' as const, ids })),
  },
  { weight: 1, arbitrary: optional(fc.integer({ min: 1, max: 3 })).map((limit) => compact({ type: 'expire' as const, limit })) },
);

/** Every run starts by opening all accounts (mostly unconstrained) and stocking all skus. */
const setup: fc.Arbitrary<Command[]> = fc.tuple(
  fc.tuple(...accountIds.map((id) => account.map((drawn) => ({ ...drawn, id })))),
  fc.tuple(...skus.map((sku) => fc.integer({ min: 0, max: 20 }).map((on_hand) => ({ sku, on_hand })))),
).map(([accounts, items]) => [
  { type: 'create_accounts' as const, accounts },
  { type: 'create_items' as const, items },
]);

/** Each step moves time forward a little, sometimes backwards (a new leader with a slower clock). */
const steps = fc
  .tuple(setup, fc.array(fc.tuple(command, fc.integer({ min: -30, max: 60 })), { minLength: 1, maxLength: 50 }))
  // structuredClone turns fast-check's null-prototype records into plain objects, as JSON decoding would.
  .map(([prefix, rest]) => structuredClone([...prefix.map((entry) => [entry, 0] as [Command, number]), ...rest]));

function snapshotOfModelAgrees(driver: Driver, model: LedgerModel): string | undefined {
  for (const id of accountIds) {
    const expected = model.state.accounts.get(id);
    const actual = driver.machine.queries.account(id);
    if ((expected === undefined) !== (actual === undefined)) return `account ${id} presence differs`;
    if (expected === undefined || actual === undefined) continue;
    for (const field of ['debits_pending', 'debits_posted', 'credits_pending', 'credits_posted'] as const) {
      if (expected[field] !== actual[field]) return `account ${id} ${field}: model ${expected[field]} machine ${actual[field]}`;
    }
  }
  for (const [id, expected] of model.state.transfers) {
    const actual = driver.machine.queries.transfer(id);
    if (actual?.status !== expected.status || actual.amount !== expected.amount) return `transfer ${id} differs`;
  }
  for (const sku of skus) {
    const expected = model.state.items.get(sku);
    const actual = driver.machine.queries.item(sku);
    if (expected?.on_hand !== actual?.on_hand || expected?.reserved !== actual?.reserved) return `item ${sku} differs`;
  }
  for (const [id, expected] of model.state.reservations) {
    if (driver.machine.queries.reservation(id)?.status !== expected.status) return `reservation ${id} differs`;
  }
  return undefined;
}

t.test('machine and reference model agree on every result and balance, invariants hold after every command', (t) => {
  const details = fc.check(
    fc.property(steps, (commands) => {
      const driver = new Driver();
      const model = new LedgerModel();
      let time = 1_000;
      try {
        for (const [entry, step] of commands) {
          time = Math.max(0, time + step);
          const actual = driver.apply(entry, time);
          const expected = model.apply(time, entry);
          if (!isDeepStrictEqual(actual, expected)) {
            throw new Error(`results differ for ${JSON.stringify(entry, jsonBigint)}\nmachine ${JSON.stringify(actual)}\nmodel   ${JSON.stringify(expected)}`);
          }
          const broken = brokenInvariant(driver.machine, accountIds, skus) ?? snapshotOfModelAgrees(driver, model);
          if (broken !== undefined) throw new Error(`after ${JSON.stringify(entry, jsonBigint)}: ${broken}`);
        }
        const report = driver.machine.verifyChain();
        if (!report.ok) throw new Error(`verifyChain: ${report.reason} at ${report.index}`);
      } finally {
        driver.machine.close();
      }
    }),
    { numRuns: 300 },
  );
  report(t, details);
  t.end();
});

t.test('two machines fed the same entries have the same chain head and snapshot', (t) => {
  const details = fc.check(
    fc.property(steps, (commands) => {
      const first = new Driver();
      const second = new Driver();
      try {
        let time = 5_000;
        for (const [entry, step] of commands) {
          time = Math.max(0, time + step);
          first.apply(entry, time);
          second.apply(entry, time);
          second.machine.skip(second.machine.appliedIndex() + 1);
          first.machine.skip(first.machine.appliedIndex() + 1);
        }
        if (first.machine.chainHead() !== second.machine.chainHead()) throw new Error('chain heads differ');
        if (!Buffer.from(first.machine.snapshot()).equals(Buffer.from(second.machine.snapshot()))) throw new Error('snapshots differ');
      } finally {
        first.machine.close();
        second.machine.close();
      }
    }),
    { numRuns: 40 },
  );
  report(t, details);
  t.end();
});

function jsonBigint(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? `${value}n` : value;
}

/** Passes or fails the tap test with fast-check's report, which names the seed and path to replay. */
export function report<T>(t: { pass(message: string): void; fail(message: string): void }, details: fc.RunDetails<T>): void {
  if (details.failed) {
    t.fail(`${String(details.errorInstance)}\n${fc.defaultReportMessage(details) ?? ''}\n(replay: seed ${details.seed}, path ${details.counterexamplePath})`);
  }
  else t.pass(`${details.numRuns} runs, seed ${details.seed}`);
}
