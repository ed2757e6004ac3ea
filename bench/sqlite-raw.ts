// The raw single-process SQLite baseline the ledger's apply rate is compared
// with (bench/apply.ts, `make bench`): the same transfer rows in a table with
// the ledger's columns and indexes, inserted with one prepared statement, one
// transaction per batch, same pragmas as the ledger (WAL, synchronous=NORMAL).
// With `updateBalances` each row also moves the two accounts' posted totals,
// as applying a transfer does; without, it is a bare insert loop.

import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Prng } from '../src/lib/prng.js';
import type { Transfer } from '../src/ledger/index.js';

const rawSchema = `
CREATE TABLE accounts (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, ledger TEXT NOT NULL, code INTEGER NOT NULL, flags INTEGER NOT NULL,
  debits_pending INTEGER NOT NULL, debits_posted INTEGER NOT NULL, credits_pending INTEGER NOT NULL, credits_posted INTEGER NOT NULL,
  metadata TEXT, created_at INTEGER NOT NULL, created_index INTEGER NOT NULL, request_digest TEXT NOT NULL);
CREATE TABLE transfers (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, debit_account_id TEXT NOT NULL,
  credit_account_id TEXT NOT NULL, amount INTEGER NOT NULL, ledger TEXT NOT NULL, code INTEGER NOT NULL, pending_id TEXT,
  expires_at INTEGER, status TEXT NOT NULL, status_index INTEGER, metadata TEXT, created_at INTEGER NOT NULL,
  created_index INTEGER NOT NULL, request_digest TEXT NOT NULL);
CREATE INDEX transfers_by_debit ON transfers (debit_account_id, seq);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id, seq);`;

/** `count` transfers between distinct random accounts acct-0..acct-<accounts-1>. */
export function makeTransfers(prng: Prng, prefix: string, count: number, accounts: number): Transfer[] {
  return Array.from({ length: count }, (_, n) => {
    const debit = prng.int(0, accounts - 1);
    const credit = (debit + prng.int(1, accounts - 1)) % accounts;
    return { id: `${prefix}-${n}`, debit_account_id: `acct-${debit}`, credit_account_id: `acct-${credit}`, amount: BigInt(prng.int(1, 10_000)), ledger: 'USD' };
  });
}

export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/** Seconds to write every batch into a fresh raw.db in `directory`. */
export function rawApplySeconds(directory: string, batches: readonly Transfer[][], options: { readonly accounts: number; readonly updateBalances: boolean }): number {
  const db = new Database(join(directory, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.defaultSafeIntegers(true);
  db.exec(rawSchema);
  const digest = 'f'.repeat(64);
  const createAccount = db.prepare("INSERT INTO accounts (id, ledger, code, flags, debits_pending, debits_posted, credits_pending, credits_posted, created_at, created_index, request_digest) VALUES (?, 'USD', 0, 0, 0, 0, 0, 0, 1, 1, ?)");
  db.transaction(() => {
    for (let n = 0; n < options.accounts; n++) createAccount.run(`acct-${n}`, digest);
  })();
  const insert = db.prepare(
    "INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, ledger, code, status, created_at, created_index, request_digest) " +
      "VALUES (?, 'single', ?, ?, ?, ?, 0, 'posted', ?, ?, ?)",
  );
  const debit = db.prepare('UPDATE accounts SET debits_posted = debits_posted + ? WHERE id = ?');
  const credit = db.prepare('UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?');
  const started = process.hrtime.bigint();
  batches.forEach((batch, n) => {
    db.transaction(() => {
      for (const t of batch) {
        insert.run(t.id, t.debit_account_id, t.credit_account_id, t.amount, t.ledger, n, n, digest);
        if (options.updateBalances) {
          debit.run(t.amount, t.debit_account_id);
          credit.run(t.amount, t.credit_account_id);
        }
      }
    })();
  });
  const elapsedNs = process.hrtime.bigint() - started;
  db.close();
  return Number(elapsedNs) / 1e9;
}
