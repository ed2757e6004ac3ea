// Shared helpers for the ledger tests: a state machine fed commands with
// increasing indexes, and invariant checks read straight from SQLite state.

import { encodeEntry, LedgerStateMachine, type Command, type CommandResult } from '../../src/ledger/index.js';

export class Driver {
  readonly machine: LedgerStateMachine;

  constructor(path = ':memory:', machine?: LedgerStateMachine) {
    this.machine = machine ?? LedgerStateMachine.open(path);
  }

  apply(command: Command, timeMs = 1_000): CommandResult {
    return this.machine.applyEntry(this.machine.appliedIndex() + 1, encodeEntry({ timeMs, command })).result;
  }

  /** The per-item results of a batch command; throws on other result shapes. */
  results(command: Command, timeMs = 1_000): { id?: string; sku?: string; status: string; code?: string }[] {
    const result = this.apply(command, timeMs);
    if (!('results' in result)) throw new Error(`no results for ${command.type}: ${JSON.stringify(result)}`);
    return result.results;
  }

  /** The code (or status when not an error) of the only item of a command. */
  outcome(command: Command, timeMs = 1_000): string {
    const results = this.results(command, timeMs);
    const first = results[0];
    if (results.length !== 1 || first === undefined) throw new Error(`expected one result, got ${JSON.stringify(results)}`);
    return first.code ?? first.status;
  }
}

/** Returns a description of the first broken invariant, or undefined. */
export function brokenInvariant(machine: LedgerStateMachine, accountIds: readonly string[], skus: readonly string[]): string | undefined {
  let debits = 0n;
  let credits = 0n;
  let debitsPending = 0n;
  let creditsPending = 0n;
  for (const account of machine.queries.accounts(accountIds)) {
    if (account === undefined) continue;
    debits += account.debits_posted;
    credits += account.credits_posted;
    debitsPending += account.debits_pending;
    creditsPending += account.credits_pending;
    const debitTotal = account.debits_pending + account.debits_posted;
    const creditTotal = account.credits_pending + account.credits_posted;
    if (account.flags.debits_must_not_exceed_credits && debitTotal > account.credits_posted) return `${account.id} debits exceed credits`;
    if (account.flags.credits_must_not_exceed_debits && creditTotal > account.debits_posted) return `${account.id} credits exceed debits`;
    if (debitTotal > 2n ** 63n - 1n || creditTotal > 2n ** 63n - 1n) return `${account.id} above 2^63-1`;
  }
  if (debits !== credits) return `posted debits ${debits} != credits ${credits}`;
  if (debitsPending !== creditsPending) return `pending debits ${debitsPending} != credits ${creditsPending}`;
  for (const sku of skus) {
    const item = machine.queries.item(sku);
    if (item !== undefined && !(item.reserved >= 0 && item.reserved <= item.on_hand)) return `${sku} reserved ${item.reserved} on_hand ${item.on_hand}`;
  }
  return undefined;
}

let nextTransferId = 1;
/** Applies `count` one-transfer entries from account a to b (1 each), in one batch, after what is applied. */
export function applyTransfers(machine: LedgerStateMachine, count: number): void {
  const from = machine.appliedIndex() + 1;
  machine.applyEntries(Array.from({ length: count }, (_, n) => ({
    index: from + n,
    data: encodeEntry({
      timeMs: from + n,
      command: { type: 'create_transfers', transfers: [{ id: `t${nextTransferId++}`, debit_account_id: 'a', credit_account_id: 'b', amount: 1n, ledger: 'USD' }] },
    }),
  })));
}

/** A ledger at `path` with accounts a and b (entry 1). */
export function openWithAccounts(path: string): LedgerStateMachine {
  const machine = LedgerStateMachine.open(path);
  machine.applyEntry(1, encodeEntry({ timeMs: 1, command: { type: 'create_accounts', accounts: [{ id: 'a', ledger: 'USD' }, { id: 'b', ledger: 'USD' }] } }));
  return machine;
}
