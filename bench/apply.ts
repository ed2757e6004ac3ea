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
/** batchSize transfers per log entry; entriesPerTransaction log entries per SQLite transaction (the driver's apply batch). */
const plans = [
  { batchSize: 1, entriesPerTransaction: 1, transfers: 4_000 },
  { batchSize: 1, entriesPerTransaction: 64, transfers: 20_000 },
  { batchSize: 100, entriesPerTransaction: 1, transfers: 40_000 },
  { batchSize: 8190, entriesPerTransaction: 1, transfers: 8190 * 6 },
];

interface Cost {
  readonly seconds: number;
  /** CPU microseconds of the whole process (the ledger's checkpoint thread included). */
  readonly cpuMicros: number;
}

const cpuMicros = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;

function benchLedger(directory: string, batches: Transfer[][], entriesPerTransaction: number): Cost {
  const machine = LedgerStateMachine.open(join(directory, 'ledger.db'));
  const accounts = Array.from({ length: ACCOUNTS }, (_, n) => ({ id: `acct-${n}`, ledger: 'USD' }));
  machine.applyEntry(1, encodeEntry({ timeMs: 1, command: { type: 'create_accounts', accounts } }));
  const entries = batches.map((transfers, n) => ({ index: n + 2, data: encodeEntry({ timeMs: 2 + n, command: { type: 'create_transfers', transfers } }) }));
  const started = process.hrtime.bigint();
  const cpuStarted = process.cpuUsage();
  for (const group of chunks(entries, entriesPerTransaction)) {
    for (const outcome of machine.applyEntries(group)) {
      if (outcome.result.type !== 'create_transfers' || outcome.result.results.some((result) => result.status !== 'created')) {
        throw new Error(`entry ${outcome.index} did not create every transfer`);
      }
    }
  }
  const elapsedNs = process.hrtime.bigint() - started;
  const cpu = cpuMicros(process.cpuUsage(cpuStarted));
  machine.close();
  return { seconds: Number(elapsedNs) / 1e9, cpuMicros: cpu };
}

function main(): void {
  console.log(`ledger apply vs raw SQLite inserts (WAL, synchronous=NORMAL, ${ACCOUNTS} accounts), node ${process.version}`);
  // Wall rates swing with whatever else the machine runs; CPU per transfer is the steadier figure there.
  console.log('batch  entries/txn  transfers  ledger/s   raw insert/s  ledger/raw  ledger cpu us/transfer  raw cpu us/transfer');
  for (const plan of plans) {
    const directory = mkdtempSync(join(tmpdir(), 'bench-apply-'));
    try {
      const batches = chunks(makeTransfers(new Prng(plan.batchSize), `b${plan.batchSize}`, plan.transfers, ACCOUNTS), plan.batchSize);
      const ledger = benchLedger(directory, batches, plan.entriesPerTransaction);
      const grouped = chunks(batches, plan.entriesPerTransaction).map((group) => group.flat());
      const rawCpuStarted = process.cpuUsage();
      const rawSeconds = rawApplySeconds(directory, grouped, { accounts: ACCOUNTS, updateBalances: false });
      const rawCpu = cpuMicros(process.cpuUsage(rawCpuStarted));
      const ledgerRate = plan.transfers / ledger.seconds;
      const rawRate = plan.transfers / rawSeconds;
      console.log(
        `${String(plan.batchSize).padStart(5)}  ${String(plan.entriesPerTransaction).padStart(11)}  ${String(plan.transfers).padStart(9)}  ${ledgerRate.toFixed(0).padStart(8)}  ` +
          `${rawRate.toFixed(0).padStart(12)}  ${(ledgerRate / rawRate).toFixed(2).padStart(10)}  ` +
          `${(ledger.cpuMicros / plan.transfers).toFixed(1).padStart(22)}  ${(rawCpu / plan.transfers).toFixed(1).padStart(19)}`,
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }
}

main();
