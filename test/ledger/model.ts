// A small in-memory reference model of the ledger, written plainly and apart
// from the SQLite state machine: maps, whole-state copies for linked chains, no
// undo log, no SQL. Model-based tests apply the same commands to both and
// require the same result for every item and the same balances afterwards.

import { isDeepStrictEqual } from 'node:util';
import type { Command, Transfer } from '../../src/ledger/index.js';

const MAX = 2n ** 63n - 1n;
const MAX_QTY = 2 ** 31 - 1;

export interface ModelAccount {
  request: unknown; ledger: string; debitsLimited: boolean; creditsLimited: boolean;
  debits_pending: bigint; debits_posted: bigint; credits_pending: bigint; credits_posted: bigint;
}
export interface ModelTransfer {
  request: unknown; kind: 'single' | 'pending' | 'post' | 'void'; debit: string; credit: string; amount: bigint;
  ledger: string; code: number; expiresAt: number | undefined; status: 'posted' | 'pending' | 'voided' | 'expired';
}
export interface ModelItem { request: unknown; on_hand: number; reserved: number }
export interface ModelReservation {
  request: unknown; lines: { sku: string; qty: number }[]; status: 'held' | 'confirmed' | 'released' | 'expired'; expiresAt: number;
}

interface State {
  accounts: Map<string, ModelAccount>;
  transfers: Map<string, ModelTransfer>;
  items: Map<string, ModelItem>;
  adjustments: Map<string, unknown>;
  reservations: Map<string, ModelReservation>;
}

type Result = { id?: string; sku?: string; status: string; code?: string };

export class LedgerModel {
  state: State = { accounts: new Map(), transfers: new Map(), items: new Map(), adjustments: new Map(), reservations: new Map() };
  time = 0;

  apply(timeMs: number, command: Command): unknown {
    this.time = Math.max(this.time, timeMs);
    switch (command.type) {
      case 'create_accounts':
        return { type: command.type, results: command.accounts.map((a) => this.idResult(a.id, this.createAccount(a))) };
      case 'create_transfers':
        return { type: command.type, results: this.createTransfers(command.transfers) };
      case 'create_items':
        return { type: command.type, results: command.items.map((item) => ({ sku: item.sku, ...status(this.createItem(item)) })) };
      case 'adjust_stock':
        return { type: command.type, results: command.adjustments.map((a) => this.idResult(a.id, this.adjust(a))) };
      case 'create_reservations':
        return { type: command.type, results: command.reservations.map((r) => this.reserve(r)) };
      case 'confirm_reservations':
        return { type: command.type, results: command.ids.map((id) => this.settleReservation(id, 'confirmed')) };
      case 'release_reservations':
        return { type: command.type, results: command.ids.map((id) => this.settleReservation(id, 'released')) };
      case 'expire':
        return { type: command.type, ...this.expire(command.limit ?? 8190) };
    }
  }

  private idResult(id: string, outcome: string): Result {
    return { id, ...status(outcome) };
  }

  private createAccount(a: Extract<Command, { type: 'create_accounts' }>['accounts'][number]): string {
    const existing = this.state.accounts.get(a.id);
    if (existing) return isDeepStrictEqual(existing.request, accountDefaults(a)) ? 'exists' : 'exists_with_different_fields';
    const debitsLimited = a.flags?.debits_must_not_exceed_credits === true;
    const creditsLimited = a.flags?.credits_must_not_exceed_debits === true;
    if (debitsLimited && creditsLimited) return 'flags_are_mutually_exclusive';
    this.state.accounts.set(a.id, {
      request: accountDefaults(a), ledger: a.ledger, debitsLimited, creditsLimited, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n,
    });
    return 'created';
  }

  private createTransfers(transfers: readonly Transfer[]): Result[] {
    const results: Result[] = [];
    let i = 0;
    while (i < transfers.length) {
      let j = i;
      while (j < transfers.length && transfers[j]!.linked === true) j++;
      if (j === transfers.length) {
        for (let k = i; k < j; k++) results.push(this.idResult(transfers[k]!.id, k === j - 1 ? 'linked_event_chain_open' : 'linked_event_failed'));
        break;
      }
      const chain = transfers.slice(i, j + 1);
      const saved = structuredClone(this.state);
      const outcomes: string[] = [];
      const createdHere: string[] = [];
      for (const t of chain) {
        const outcome = this.transfer(t);
        outcomes.push(outcome);
        if (outcome === 'created') createdHere.push(t.id);
        if (outcome !== 'created' && outcome !== 'exists') break;
      }
      const allExist = outcomes.length === chain.length && outcomes.every((o) => o === 'exists');
      // A repeat of an id created earlier in the same chain is a plain `exists`, not a failure.
      const failing = outcomes.findIndex((o, k) => o !== 'created' && !(o === 'exists' && createdHere.includes(chain[k]!.id)));
      if (chain.length > 1 && !allExist && failing !== -1) {
        this.state = saved;
        chain.forEach((t, k) => results.push(this.idResult(t.id, k === failing ? outcomes[k]! : 'linked_event_failed')));
      } else {
        chain.forEach((t, k) => results.push(this.idResult(t.id, outcomes[k]!)));
      }
      i = j + 1;
    }
    return results;
  }

  private transfer(t: Transfer): string {
    const existing = this.state.transfers.get(t.id);
    if (existing) return isDeepStrictEqual(existing.request, transferDefaults(t)) ? 'exists' : 'exists_with_different_fields';
    const pendingId = t.post_pending_id ?? t.void_pending_id;
    if (pendingId !== undefined) return this.settleTransfer(t, pendingId);
    const amount = t.amount!;
    if (t.debit_account_id === t.credit_account_id) return 'accounts_must_be_different';
    if (amount <= 0n) return 'amount_must_be_positive';
    const dr = this.state.accounts.get(t.debit_account_id!);
    if (!dr) return 'debit_account_not_found';
    const cr = this.state.accounts.get(t.credit_account_id!);
    if (!cr) return 'credit_account_not_found';
    if (dr.ledger !== t.ledger || cr.ledger !== t.ledger) return 'ledger_mismatch';
    if (dr.debits_pending + dr.debits_posted + amount > MAX || cr.credits_pending + cr.credits_posted + amount > MAX) return 'overflow';
    if (dr.debitsLimited && dr.debits_pending + dr.debits_posted + amount > dr.credits_posted) return 'exceeds_credits';
    if (cr.creditsLimited && cr.credits_pending + cr.credits_posted + amount > cr.debits_posted) return 'exceeds_debits';
    const pending = t.pending === true;
    if (pending) {
      dr.debits_pending += amount;
      cr.credits_pending += amount;
    } else {
      dr.debits_posted += amount;
      cr.credits_posted += amount;
    }
    this.state.transfers.set(t.id, {
      request: transferDefaults(t), kind: pending ? 'pending' : 'single', debit: t.debit_account_id!, credit: t.credit_account_id!, amount,
      ledger: t.ledger!, code: t.code ?? 0, status: pending ? 'pending' : 'posted',
      expiresAt: pending && t.timeout_ms !== undefined ? this.time + t.timeout_ms : undefined,
    });
    return 'created';
  }

  private settleTransfer(t: Transfer, pendingId: string): string {
    const p = this.state.transfers.get(pendingId);
    if (!p) return 'pending_transfer_not_found';
    if (p.kind !== 'pending') return 'pending_transfer_not_pending';
    if (t.debit_account_id !== undefined && t.debit_account_id !== p.debit) return 'pending_transfer_has_different_debit_account_id';
    if (t.credit_account_id !== undefined && t.credit_account_id !== p.credit) return 'pending_transfer_has_different_credit_account_id';
    if (t.ledger !== undefined && t.ledger !== p.ledger) return 'pending_transfer_has_different_ledger';
    if (p.status === 'posted') return 'pending_transfer_already_posted';
    if (p.status === 'voided') return 'pending_transfer_already_voided';
    if (p.status === 'expired' || (p.expiresAt !== undefined && p.expiresAt <= this.time)) return 'pending_transfer_expired';
    const post = t.post_pending_id !== undefined;
    const amount = t.amount ?? p.amount;
    if (post && amount <= 0n) return 'amount_must_be_positive';
    if (post && amount > p.amount) return 'amount_exceeds_pending';
    if (!post && amount !== p.amount) return 'void_amount_must_equal_pending';
    const dr = this.state.accounts.get(p.debit)!;
    const cr = this.state.accounts.get(p.credit)!;
    dr.debits_pending -= p.amount;
    cr.credits_pending -= p.amount;
    if (post) {
      dr.debits_posted += amount;
      cr.credits_posted += amount;
    }
    p.status = post ? 'posted' : 'voided';
    this.state.transfers.set(t.id, {
      request: transferDefaults(t), kind: post ? 'post' : 'void', debit: p.debit, credit: p.credit, amount, ledger: p.ledger,
      code: t.code ?? p.code, expiresAt: undefined, status: post ? 'posted' : 'voided',
    });
    return 'created';
  }

  private createItem(item: { sku: string; on_hand: number }): string {
    const existing = this.state.items.get(item.sku);
    if (existing) return isDeepStrictEqual(existing.request, item) ? 'exists' : 'exists_with_different_fields';
    this.state.items.set(item.sku, { request: item, on_hand: item.on_hand, reserved: 0 });
    return 'created';
  }

  private adjust(a: { id: string; sku: string; delta: number }): string {
    if (this.state.adjustments.has(a.id)) return isDeepStrictEqual(this.state.adjustments.get(a.id), a) ? 'exists' : 'exists_with_different_fields';
    const item = this.state.items.get(a.sku);
    if (!item) return 'item_not_found';
    const onHand = item.on_hand + a.delta;
    if (onHand > MAX_QTY) return 'overflow';
    if (onHand < item.reserved) return 'on_hand_below_reserved';
    item.on_hand = onHand;
    this.state.adjustments.set(a.id, a);
    return 'created';
  }

  private reserve(r: { id: string; lines: { sku: string; qty: number }[]; ttl_ms: number }): Result {
    const existing = this.state.reservations.get(r.id);
    if (existing) return this.idResult(r.id, isDeepStrictEqual(existing.request, r) ? 'exists' : 'exists_with_different_fields');
    if (new Set(r.lines.map((l) => l.sku)).size !== r.lines.length) return this.idResult(r.id, 'lines_must_have_distinct_skus');
    if (r.lines.some((l) => l.qty <= 0)) return this.idResult(r.id, 'quantity_must_be_positive');
    for (const line of r.lines) {
      const item = this.state.items.get(line.sku);
      if (!item) return { id: r.id, status: 'error', code: 'item_not_found', sku: line.sku };
      if (item.on_hand - item.reserved < line.qty) return { id: r.id, status: 'error', code: 'insufficient_stock', sku: line.sku };
    }
    for (const line of r.lines) this.state.items.get(line.sku)!.reserved += line.qty;
    this.state.reservations.set(r.id, { request: r, lines: r.lines, status: 'held', expiresAt: this.time + r.ttl_ms });
    return { id: r.id, status: 'created' };
  }

  private settleReservation(id: string, target: 'confirmed' | 'released'): Result {
    const r = this.state.reservations.get(id);
    if (!r) return this.idResult(id, 'reservation_not_found');
    if (r.status === target) return { id, status: 'exists' };
    if (r.status === 'confirmed') return this.idResult(id, 'reservation_already_confirmed');
    if (r.status === 'released') return this.idResult(id, 'reservation_already_released');
    if (r.status === 'expired' || r.expiresAt <= this.time) return this.idResult(id, 'reservation_expired');
    this.finishReservation(r, target);
    return { id, status: target };
  }

  private finishReservation(r: ModelReservation, to: 'confirmed' | 'released' | 'expired'): void {
    for (const line of r.lines) {
      const item = this.state.items.get(line.sku)!;
      item.reserved -= line.qty;
      if (to === 'confirmed') item.on_hand -= line.qty;
    }
    r.status = to;
  }

  private expire(limit: number): { expired_transfers: number; expired_reservations: number } {
    const due: { deadline: number; id: string; kind: 0 | 1 }[] = [];
    for (const [id, t] of this.state.transfers) {
      if (t.status === 'pending' && t.expiresAt !== undefined && t.expiresAt <= this.time) due.push({ deadline: t.expiresAt, id, kind: 0 });
    }
    for (const [id, r] of this.state.reservations) {
      if (r.status === 'held' && r.expiresAt <= this.time) due.push({ deadline: r.expiresAt, id, kind: 1 });
    }
    due.sort((a, b) => a.deadline - b.deadline || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || a.kind - b.kind);
    let transfers = 0;
    let reservations = 0;
    for (const hold of due.slice(0, limit)) {
      if (hold.kind === 0) {
        const t = this.state.transfers.get(hold.id)!;
        this.state.accounts.get(t.debit)!.debits_pending -= t.amount;
        this.state.accounts.get(t.credit)!.credits_pending -= t.amount;
        t.status = 'expired';
        transfers++;
      } else {
        this.finishReservation(this.state.reservations.get(hold.id)!, 'expired');
        reservations++;
      }
    }
    return { expired_transfers: transfers, expired_reservations: reservations };
  }
}

/** A request with its defaults written out: a repeat that only spells out a default is the same request. */
function accountDefaults(a: Extract<Command, { type: 'create_accounts' }>['accounts'][number]): unknown {
  return {
    ...a, code: a.code ?? 0,
    flags: { debits_must_not_exceed_credits: a.flags?.debits_must_not_exceed_credits ?? false, credits_must_not_exceed_debits: a.flags?.credits_must_not_exceed_debits ?? false },
  };
}

function transferDefaults(t: Transfer): unknown {
  const settle = t.post_pending_id !== undefined || t.void_pending_id !== undefined;
  // A post or void without a code takes the pending transfer's, so there "no code" is not code 0.
  const code = settle ? t.code : t.code ?? 0;
  return compactUndefined({ ...t, code, linked: t.linked ?? false, pending: t.pending ?? false });
}

function compactUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined));
}

function status(outcome: string): { status: string; code?: string } {
  return outcome === 'created' || outcome === 'exists' ? { status: outcome } : { status: 'error', code: outcome };
}
