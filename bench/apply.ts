// make bench-apply: transfers applied per second by the ledger state machine
// with 1, 100 and 8190 transfers per log entry, beside raw SQLite inserts of the
// same rows into an equivalent table (same columns and indexes, same pragmas,
// one transaction per batch) measured in the same run. Bounded: each size runs
// a fixed number of transfers, about a minute in all on a slow machine.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng } from '../src/lib/prng.js';
import { encodeEntry, LedgerStateMachine, type Transfer } from '../src/ledger/index.js';
import { chunks, makeTransfers, rawApplySeconds } from './sqlite-raw.js';

const ACCOUNTS = 1_000;
const plans = [
  { batchSize: 1, transfers: 4_000 },
  { batchSize: 100, transfers: 40_000 },
  { batchSize: 8190, transfers: 8190 * 6 },
];

function benchLedger(directory: string, batches: Transfer[][]): number {
  const machine = LedgerStateMachine.open(join(directory, 'ledger.db'));
  const accounts = Array.from({ length: ACCOUNTS }, (_, n) => ({ id: `acct-${n}`, ledger: 'USD' }));
  machine.applyEntry(1, encodeEntry({ timeMs: 1, command: { type: 'create_accounts', accounts } }));
  const entries = batches.map((transfers, n) => encodeEntry({ timeMs: 2 + n, command: { type: 'create_transfers', transfers } }));
  const started = process.hrtime.bigint();
  entries.forEach((bytes, n) => {
    const outcome = machine.applyEntry(n + 2, bytes);
    if (outcome.result.type !== 'create_transfers' || outcome.result.results.some((result) => result.status !== 'created')) {
      throw new Error(`entry ${n + 2} did not create every transfer`);
    }
  });
  const elapsedNs = process.hrtime.bigint() - started;
  machine.close();
  return Number(elapsedNs) / 1e9;
}

function main(): void {
  console.log(`ledger apply vs raw SQLite inserts (WAL, synchronous=NORMAL, ${ACCOUNTS} accounts), node ${process.version}`);
  console.log('batch  transfers  ledger/s   raw insert/s  ledger/raw');
  for (const plan of plans) {
    const directory = mkdtempSync(join(tmpdir(), 'bench-apply-'));
    try {
      const batches = chunks(makeTransfers(new Prng(plan.batchSize), `b${plan.batchSize}`, plan.transfers, ACCOUNTS), plan.batchSize);
      const ledgerSeconds = benchLedger(directory, batches);
      const rawSeconds = rawApplySeconds(directory, batches, { accounts: ACCOUNTS, updateBalances: false });
      const ledgerRate = plan.transfers / ledgerSeconds;
      const rawRate = plan.transfers / rawSeconds;
      console.log(
        `${String(plan.batchSize).padStart(5)}  ${String(plan.transfers).padStart(9)}  ${ledgerRate.toFixed(0).padStart(8)}  ` +
          `${rawRate.toFixed(0).padStart(12)}  ${(ledgerRate / rawRate).toFixed(2).padStart(10)}`,
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
}

main();
