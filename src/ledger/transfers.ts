// Applying a batch of transfers (and the expiry of pending ones). The batch is
// worked in memory: accounts are loaded once, balances change on the loaded
// objects, new transfer rows wait in a map, and an undo log lets a linked chain
// be taken back. At the end the batch is written with prepared statements in
// creation order, inside the entry's transaction. Insertion-ordered maps make
// the write order, and so the hash chain, identical on every replica.

import { assert } from '../lib/assert.js';
import { canonicalJson, lineOf, requestDigest, sha256Hex, type TransferLineRow } from './chain.js';
import type { ResultCode } from './codes.js';
import { toCreateResult, type ApplyContext, type CreateResult, type CreateOutcome } from './context.js';
import { MAX_AMOUNT, type Transfer } from './schemas.js';

export const FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS = 1;
export const FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS = 2;

export type TransferKind = 'single' | 'pending' | 'post' | 'void';
export type TransferStatus = 'posted' | 'pending' | 'voided' | 'expired';

export interface TransferRow extends TransferLineRow {
  kind: TransferKind;
  code: number;
  expires_at: number | null;
  status: TransferStatus;
  status_index: number | null;
  metadata: string | null;
  created_at: number;
  created_index: number;
}

interface AccountState {
  id: string;
  ledger: string;
  flags: number;
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

type Undo =
  | { kind: 'balances'; account: AccountState; debitsPending: bigint; debitsPosted: bigint; creditsPending: bigint; creditsPosted: bigint }
  | { kind: 'created'; id: string }
  | { kind: 'status'; row: TransferRow; status: TransferStatus; statusIndex: number | null };

const selectAccount =
  'SELECT id, ledger, flags, debits_pending, debits_posted, credits_pending, credits_posted FROM accounts WHERE id = ?';
const selectDigest = 'SELECT request_digest FROM transfers WHERE id = ?';
/** The columns transferRowFromDb reads. */
export const transferRowColumns =
  'id, kind, debit_account_id, credit_account_id, amount, ledger, code, pending_id, expires_at, status, status_index, ' +
  'metadata, created_at, created_index, request_digest';
const selectTransferRow = `SELECT ${transferRowColumns} FROM transfers WHERE id = ?`;
const insertTransfer =
  'INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount, ledger, code, pending_id, expires_at, status, ' +
  'status_index, metadata, created_at, created_index, request_digest) VALUES (@id, @kind, @debit_account_id, @credit_account_id, ' +
  '@amount, @ledger, @code, @pending_id, @expires_at, @status, @status_index, @metadata, @created_at, @created_index, @request_digest)';
const updateBalances =
  'UPDATE accounts SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ? WHERE id = ?';
const updateStatus = 'UPDATE transfers SET status = ?, status_index = ? WHERE id = ?';

/** The one mapping of a transfers row (read with safe integers, transferRowColumns) to its in-memory shape. */
export function transferRowFromDb(raw: Record<string, unknown>): TransferRow {
  return {
    id: raw['id'] as string,
    kind: raw['kind'] as TransferKind,
    debit_account_id: raw['debit_account_id'] as string,
    credit_account_id: raw['credit_account_id'] as string,
    amount: raw['amount'] as bigint,
    ledger: raw['ledger'] as string,
    code: Number(raw['code']),
    pending_id: raw['pending_id'] as string | null,
    expires_at: raw['expires_at'] === null ? null : Number(raw['expires_at']),
    status: raw['status'] as TransferStatus,
    status_index: raw['status_index'] === null ? null : Number(raw['status_index']),
    metadata: raw['metadata'] as string | null,
    created_at: Number(raw['created_at']),
    created_index: Number(raw['created_index']),
    request_digest: raw['request_digest'] as string,
  };
}

export class TransferBatch {
  private readonly accounts = new Map<string, AccountState | undefined>();
  private readonly touched = new Set<AccountState>();
  private readonly created = new Map<string, TransferRow>();
  private readonly loaded = new Map<string, TransferRow>();
  private readonly undo: Undo[] = [];

  constructor(private readonly context: ApplyContext) {}

  /** Applies the transfers in order: single ones alone, linked chains all or nothing. */
  applyAll(transfers: readonly Transfer[]): CreateResult[] {
    const results: CreateResult[] = [];
    let start = 0;
    while (start < transfers.length) {
      let end = start;
      while (end < transfers.length && transfers[end]?.linked === true) end++;
      if (end === transfers.length) {
        results.push(...openChain(transfers.slice(start)));
        break;
      }
      const group = transfers.slice(start, end + 1);
      results.push(...(group.length === 1 ? [this.applySingle(group[0] as Transfer)] : this.applyChain(group)));
      start = end + 1;
    }
    this.flush();
    return results;
  }

  /** Expires one due pending transfer (row from the due index). */
  expire(row: TransferRow): void {
    const pending = this.loadedRow(row.id);
    assert(pending !== undefined && pending.status === 'pending', `expire of a transfer that is not pending: ${row.id}`);
    this.releasePending(pending);
    this.setStatus(pending, 'expired');
  }

  flush(): void {
    const { statement, effects, index } = this.context;
    const insert = statement(insertTransfer);
    for (const row of this.created.values()) {
      insert.run(row);
      effects.addCreated('transfers', lineOf.transfers(row));
      if (row.status_index === index) effects.addStatus('transfers', row.id, row.status);
    }
    const update = statement(updateBalances);
    for (const account of this.touched) {
      update.run(account.debitsPending, account.debitsPosted, account.creditsPending, account.creditsPosted, account.id);
    }
    const status = statement(updateStatus);
    for (const row of this.loaded.values()) {
      if (row.status_index !== index) continue;
      status.run(row.status, row.status_index, row.id);
      effects.addStatus('transfers', row.id, row.status);
    }
    this.created.clear();
    this.touched.clear();
    this.undo.length = 0;
  }

  private applySingle(transfer: Transfer): CreateResult {
    const outcome = this.applyOne(transfer);
    this.undo.length = 0;
    return toCreateResult(transfer.id, outcome);
  }

  private applyChain(chain: readonly Transfer[]): CreateResult[] {
    const mark = this.undo.length;
    const outcomes: CreateOutcome[] = [];
    const createdInChain = new Set<string>();
    for (const transfer of chain) {
      const outcome = this.applyOne(transfer);
      outcomes.push(outcome);
      if (outcome === 'created') createdInChain.add(transfer.id);
      else if (outcome !== 'exists') break;
    }
    const allExist = outcomes.length === chain.length && outcomes.every((outcome) => outcome === 'exists');
    // A member repeating one created earlier in this chain answers `exists`, as
    // in any batch. Undoing the chain for it would leave that `exists` naming a
    // transfer that was never stored.
    const failing = outcomes.findIndex(
      (outcome, position) => outcome !== 'created' && !(outcome === 'exists' && createdInChain.has((chain[position] as Transfer).id)),
    );
    if (allExist || failing === -1) {
      this.undo.length = 0;
      return chain.map((transfer, position) => toCreateResult(transfer.id, outcomes[position] as CreateOutcome));
    }
    this.rollback(mark);
    return chain.map((transfer, position) =>
      toCreateResult(transfer.id, position === failing ? (outcomes[position] as CreateOutcome) : 'linked_event_failed'),
    );
  }

  private applyOne(transfer: Transfer): CreateOutcome {
    const digest = transferRequestDigest(transfer);
    const existing = this.existingDigest(transfer.id);
    if (existing !== undefined) return existing === digest ? 'exists' : 'exists_with_different_fields';
    const pendingId = transfer.post_pending_id ?? transfer.void_pending_id;
    return pendingId === undefined ? this.create(transfer, digest) : this.settle(transfer, pendingId, digest);
  }

  private create(transfer: Transfer, digest: string): CreateOutcome {
    const debitId = transfer.debit_account_id as string;
    const creditId = transfer.credit_account_id as string;
    const amount = transfer.amount as bigint;
    if (debitId === creditId) return 'accounts_must_be_different';
    if (amount <= 0n) return 'amount_must_be_positive';
    const debit = this.account(debitId);
    if (debit === undefined) return 'debit_account_not_found';
    const credit = this.account(creditId);
    if (credit === undefined) return 'credit_account_not_found';
    if (debit.ledger !== transfer.ledger || credit.ledger !== transfer.ledger) return 'ledger_mismatch';
    const debitTotal = debit.debitsPending + debit.debitsPosted + amount;
    const creditTotal = credit.creditsPending + credit.creditsPosted + amount;
    if (debitTotal > MAX_AMOUNT || creditTotal > MAX_AMOUNT) return 'overflow';
    if ((debit.flags & FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS) !== 0 && debitTotal > debit.creditsPosted) return 'exceeds_credits';
    if ((credit.flags & FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS) !== 0 && creditTotal > credit.debitsPosted) return 'exceeds_debits';
    const pending = transfer.pending === true;
    this.saveBalances(debit);
    this.saveBalances(credit);
    if (pending) {
      debit.debitsPending += amount;
      credit.creditsPending += amount;
    } else {
      debit.debitsPosted += amount;
      credit.creditsPosted += amount;
    }
    const { timeMs } = this.context;
    this.insert(transfer, digest, {
      kind: pending ? 'pending' : 'single', debit_account_id: debitId, credit_account_id: creditId, amount,
      ledger: transfer.ledger as string, code: transfer.code ?? 0, pending_id: null,
      expires_at: pending && transfer.timeout_ms !== undefined ? timeMs + transfer.timeout_ms : null,
      status: pending ? 'pending' : 'posted',
    });
    return 'created';
  }

  private settle(transfer: Transfer, pendingId: string, digest: string): CreateOutcome {
    const pending = this.transferById(pendingId);
    if (pending === undefined) return 'pending_transfer_not_found';
    if (pending.kind !== 'pending') return 'pending_transfer_not_pending';
    const refused = settleRefusal(transfer, pending, this.context.timeMs);
    if (refused !== undefined) return refused;
    const isPost = transfer.post_pending_id !== undefined;
    const amount = transfer.amount ?? pending.amount;
    if (isPost && amount <= 0n) return 'amount_must_be_positive';
    if (isPost && amount > pending.amount) return 'amount_exceeds_pending';
    if (!isPost && amount !== pending.amount) return 'void_amount_must_equal_pending';
    const { debit, credit } = this.releasePending(pending);
    if (isPost) {
      debit.debitsPosted += amount;
      credit.creditsPosted += amount;
    }
    this.setStatus(pending, isPost ? 'posted' : 'voided');
    this.insert(transfer, digest, {
      kind: isPost ? 'post' : 'void', debit_account_id: pending.debit_account_id, credit_account_id: pending.credit_account_id,
      amount, ledger: pending.ledger, code: transfer.code ?? pending.code, pending_id: pending.id, expires_at: null,
      status: isPost ? 'posted' : 'voided',
    });
    return 'created';
  }

  private releasePending(pending: TransferRow): { debit: AccountState; credit: AccountState } {
    const debit = this.account(pending.debit_account_id);
    const credit = this.account(pending.credit_account_id);
    assert(debit !== undefined && credit !== undefined, `accounts of pending transfer ${pending.id} missing`);
    this.saveBalances(debit);
    this.saveBalances(credit);
    debit.debitsPending -= pending.amount;
    credit.creditsPending -= pending.amount;
    assert(debit.debitsPending >= 0n && credit.creditsPending >= 0n, `pending balance below zero releasing ${pending.id}`);
    return { debit, credit };
  }

  private insert(
    transfer: Transfer,
    digest: string,
    fields: Pick<TransferRow, 'kind' | 'debit_account_id' | 'credit_account_id' | 'amount' | 'ledger' | 'code' | 'pending_id' | 'expires_at' | 'status'>,
  ): void {
    const { timeMs, index } = this.context;
    const row: TransferRow = {
      id: transfer.id, ...fields, status_index: null,
      metadata: transfer.metadata === undefined ? null : JSON.stringify(transfer.metadata),
      created_at: timeMs, created_index: index, request_digest: digest,
    };
    this.created.set(row.id, row);
    this.undo.push({ kind: 'created', id: row.id });
  }

  private setStatus(row: TransferRow, status: TransferStatus): void {
    this.undo.push({ kind: 'status', row, status: row.status, statusIndex: row.status_index });
    row.status = status;
    row.status_index = this.context.index;
  }

  private saveBalances(account: AccountState): void {
    this.undo.push({
      kind: 'balances', account, debitsPending: account.debitsPending, debitsPosted: account.debitsPosted,
      creditsPending: account.creditsPending, creditsPosted: account.creditsPosted,
    });
    this.touched.add(account);
  }

  private rollback(mark: number): void {
    while (this.undo.length > mark) {
      const undo = this.undo.pop() as Undo;
      if (undo.kind === 'balances') {
        Object.assign(undo.account, {
          debitsPending: undo.debitsPending, debitsPosted: undo.debitsPosted,
          creditsPending: undo.creditsPending, creditsPosted: undo.creditsPosted,
        });
      } else if (undo.kind === 'created') {
        this.created.delete(undo.id);
      } else {
        undo.row.status = undo.status;
        undo.row.status_index = undo.statusIndex;
      }
    }
  }

  private account(id: string): AccountState | undefined {
    if (this.accounts.has(id)) return this.accounts.get(id);
    const raw = this.context.statement(selectAccount).get(id) as Record<string, unknown> | undefined;
    const account = raw === undefined ? undefined : {
      id, ledger: raw['ledger'] as string, flags: Number(raw['flags']),
      debitsPending: raw['debits_pending'] as bigint, debitsPosted: raw['debits_posted'] as bigint,
      creditsPending: raw['credits_pending'] as bigint, creditsPosted: raw['credits_posted'] as bigint,
    };
    this.accounts.set(id, account);
    return account;
  }

  private existingDigest(id: string): string | undefined {
    const row = this.created.get(id) ?? this.loaded.get(id);
    if (row !== undefined) return row.request_digest;
    return this.context.statement(selectDigest).pluck().get(id) as string | undefined;
  }

  private transferById(id: string): TransferRow | undefined {
    return this.created.get(id) ?? this.loadedRow(id);
  }

  private loadedRow(id: string): TransferRow | undefined {
    const cached = this.loaded.get(id);
    if (cached !== undefined) return cached;
    const raw = this.context.statement(selectTransferRow).get(id) as Record<string, unknown> | undefined;
    if (raw === undefined) return undefined;
    const row = transferRowFromDb(raw);
    this.loaded.set(id, row);
    return row;
  }
}

/**
 * What an idempotent repeat must match: every field, with defaults filled in,
 * so `code: 0`, `linked: false` or `pending: false` repeat an omitted field. A
 * post or void keeps an omitted code apart from 0 (omitted inherits the
 * pending transfer's code) and an omitted amount apart from any number
 * (omitted means the full pending amount).
 */
export function transferIdentity(transfer: Transfer): unknown {
  const settles = transfer.post_pending_id !== undefined || transfer.void_pending_id !== undefined;
  return {
    ...transfer,
    code: settles ? transfer.code : transfer.code ?? 0,
    linked: transfer.linked === true,
    pending: transfer.pending === true,
  };
}

/** The members of transferIdentity in canonicalJson's (sorted) order. */
const IDENTITY_KEYS = [
  'amount', 'code', 'credit_account_id', 'debit_account_id', 'id', 'ledger', 'linked', 'metadata', 'pending', 'post_pending_id',
  'timeout_ms', 'void_pending_id',
] as const satisfies readonly (keyof Transfer)[];
const IDENTITY_KEY_SET: ReadonlySet<string> = new Set(IDENTITY_KEYS);

/**
 * requestDigest(transferIdentity(transfer)), written straight out in sorted
 * key order instead of building the object and sorting its keys: it runs for
 * every transfer on every replica. test/ledger/transfer-digest.test.ts holds
 * it to the definition above.
 */
export function transferRequestDigest(transfer: Transfer): string {
  for (const key in transfer) if (!IDENTITY_KEY_SET.has(key)) return requestDigest(transferIdentity(transfer));
  const settles = transfer.post_pending_id !== undefined || transfer.void_pending_id !== undefined;
  let json = '{';
  for (const key of IDENTITY_KEYS) {
    // The defaults of transferIdentity.
    const value = key === 'code' ? (settles ? transfer.code : transfer.code ?? 0)
      : key === 'linked' ? transfer.linked === true
      : key === 'pending' ? transfer.pending === true
      : transfer[key];
    if (value === undefined) continue;
    json += `${json.length === 1 ? '' : ','}"${key}":${canonicalJson(value)}`;
  }
  return sha256Hex(`${json}}`);
}

/** Checks of a post or void against its pending transfer that do not need balances. */
function settleRefusal(transfer: Transfer, pending: TransferRow, timeMs: number): ResultCode | undefined {
  if (transfer.debit_account_id !== undefined && transfer.debit_account_id !== pending.debit_account_id) {
    return 'pending_transfer_has_different_debit_account_id';
  }
  if (transfer.credit_account_id !== undefined && transfer.credit_account_id !== pending.credit_account_id) {
    return 'pending_transfer_has_different_credit_account_id';
  }
  if (transfer.ledger !== undefined && transfer.ledger !== pending.ledger) return 'pending_transfer_has_different_ledger';
  if (pending.status === 'posted') return 'pending_transfer_already_posted';
  if (pending.status === 'voided') return 'pending_transfer_already_voided';
  if (pending.status === 'expired') return 'pending_transfer_expired';
  if (pending.expires_at !== null && pending.expires_at <= timeMs) return 'pending_transfer_expired';
  return undefined;
}

/** An open chain at the end of a batch: nothing applies; the last member says why. */
function openChain(chain: readonly Transfer[]): CreateResult[] {
  return chain.map((transfer, position) =>
    toCreateResult(transfer.id, position === chain.length - 1 ? 'linked_event_chain_open' : 'linked_event_failed'),
  );
}
