// make bench-apply: transfers applied per second by the ledger state machine
// with 1, 100 and 8190 transfers per log entry, beside raw SQLite inserts of the
// same rows into an equivalent table (same columns and indexes, same pragmas,
// one transaction per batch) measured in the same run. Bounded: each size runs
// a fixed number of transfers, about a minute in all on a slow machine.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Prng } from '../src/lib/prng.js';
import { encodeEntry, LedgerStateMachine, type Transfer } from '../src/ledger/index.js';

const ACCOUNTS = 1_000;
/** batchSize transfers per log entry; entriesPerTransaction log entries per SQLite transaction (the driver's apply batch). */
const plans = [
  { batchSize: 1, entriesPerTransaction: 1, transfers: 4_000 },
  { batchSize: 1, entriesPerTransaction: 64, transfers: 20_000 },
  { batchSize: 100, entriesPerTransaction: 1, transfers: 40_000 },
  { batchSize: 8190, entriesPerTransaction: 1, transfers: 8190 * 6 },
];

const rawSchema = `
CREATE TABLE transfers (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, debit_account_id TEXT NOT NULL,
  credit_account_id TEXT NOT NULL, amount INTEGER NOT NULL, ledger TEXT NOT NULL, code INTEGER NOT NULL, pending_id TEXT,
  expires_at INTEGER, status TEXT NOT NULL, status_index INTEGER, metadata TEXT, created_at INTEGER NOT NULL,
  created_index INTEGER NOT NULL, request_digest TEXT NOT NULL);
CREATE INDEX transfers_by_debit ON transfers (debit_account_id, seq);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id, seq);`;

function makeTransfers(prng: Prng, prefix: string, count: number): Transfer[] {
  return Array.from({ length: count }, (_, n) => {
    const debit = prng.int(0, ACCOUNTS - 1);
    const credit = (debit + prng.int(1, ACCOUNTS - 1)) % ACCOUNTS;
    return { id: `${prefix}-${n}`, debit_account_id: `acct-${debit}`, credit_account_id: `acct-${credit}`, amount: BigInt(prng.int(1, 10_000)), ledger: 'USD' };
  });
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

function benchLedger(directory: string, batches: Transfer[][], entriesPerTransaction: number): number {
  const machine = LedgerStateMachine.open(join(directory, 'ledger.db'));
  const accounts = Array.from({ length: ACCOUNTS }, (_, n) => ({ id: `acct-${n}`, ledger: 'USD' }));
  machine.applyEntry(1, encodeEntry({ timeMs: 1, command: { type: 'create_accounts', accounts } }));
  const entries = batches.map((transfers, n) => ({ index: n + 2, data: encodeEntry({ timeMs: 2 + n, command: { type: 'create_transfers', transfers } }) }));
  const started = process.hrtime.bigint();
  for (const group of chunks(entries, entriesPerTransaction)) {
    for (const outcome of machine.applyEntries(group)) {
      if (outcome.result.type !== 'create_transfers' || outcome.result.results.some((result) => result.status !== 'created')) {
        throw new Error(`entry ${outcome.index} did not create every transfer`);
      }
    }
  }
  const elapsedNs = process.hrtime.bigint() - started;
  machine.close();
  return Number(elapsedNs) / 1e9;
}

function benchRaw(directory: string, batches: Transfer[][]): number {
  const db = new Database(join(directory, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.defaultSafeIntegers(true);
  db.exec(rawSchema);
  const insert = db.prepare(
    "INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, ledger, code, status, created_at, created_index, request_digest) " +
      "VALUES (?, 'single', ?, ?, ?, ?, 0, 'posted', ?, ?, ?)",
  );
  const digest = 'f'.repeat(64);
  const started = process.hrtime.bigint();
  batches.forEach((batch, n) => {
    db.transaction(() => {
      for (const t of batch) insert.run(t.id, t.debit_account_id, t.credit_account_id, t.amount, t.ledger, n, n, digest);
    })();
  });
  const elapsedNs = process.hrtime.bigint() - started;
  db.close();
  return Number(elapsedNs) / 1e9;
}

function main(): void {
  console.log(`ledger apply vs raw SQLite inserts (WAL, synchronous=NORMAL, ${ACCOUNTS} accounts), node ${process.version}`);
  console.log('batch  entries/txn  transfers  ledger/s   raw insert/s  ledger/raw');
  for (const plan of plans) {
    const directory = mkdtempSync(join(tmpdir(), 'bench-apply-'));
    try {
      const batches = chunks(makeTransfers(new Prng(plan.batchSize), `b${plan.batchSize}`, plan.transfers), plan.batchSize);
      const ledgerSeconds = benchLedger(directory, batches, plan.entriesPerTransaction);
      const rawSeconds = benchRaw(directory, chunks(batches, plan.entriesPerTransaction).map((group) => group.flat()));
      const ledgerRate = plan.transfers / ledgerSeconds;
      const rawRate = plan.transfers / rawSeconds;
      console.log(
        `${String(plan.batchSize).padStart(5)}  ${String(plan.entriesPerTransaction).padStart(11)}  ${String(plan.transfers).padStart(9)}  ${ledgerRate.toFixed(0).padStart(8)}  ` +
          `${rawRate.toFixed(0).padStart(12)}  ${(ledgerRate / rawRate).toFixed(2).padStart(10)}`,
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
}

main();
