// Items, stock adjustments and reservations. Invariant at every index, for
// every sku: 0 <= reserved <= on_hand (also a CHECK on the items table). A
// reservation is checked line by line before any line is applied, so it holds
// all of its lines or none.

import { assert } from '../lib/assert.js';
import { lineOf, requestDigest } from './chain.js';
import type { ResultCode } from './codes.js';
import {
  toCreateResult, type ApplyContext, type ConfirmResult, type ItemResult, type CreateOutcome, type ReleaseResult, type ReservationResult,
} from './context.js';
import { MAX_QUANTITY, type Adjustment, type Item, type Reservation, type ReservationLine } from './schemas.js';

export type ReservationStatus = 'held' | 'confirmed' | 'released' | 'expired';

interface StockRow {
  on_hand: number;
  reserved: number;
}

export interface ReservationRow {
  id: string;
  lines: ReservationLine[];
  status: ReservationStatus;
  expires_at: number;
}

const selectItemDigest = 'SELECT request_digest FROM items WHERE sku = ?';
const insertItem =
  'INSERT INTO items (sku, on_hand, reserved, initial_on_hand, metadata, created_at, created_index, request_digest) ' +
  'VALUES (@sku, @initial_on_hand, 0, @initial_on_hand, @metadata, @created_at, @created_index, @request_digest)';
const selectStock = 'SELECT on_hand, reserved FROM items WHERE sku = ?';
const updateStock = 'UPDATE items SET on_hand = ?, reserved = ? WHERE sku = ?';
const selectAdjustmentDigest = 'SELECT request_digest FROM adjustments WHERE id = ?';
const insertAdjustment =
  'INSERT INTO adjustments (id, sku, delta, created_at, created_index, request_digest) ' +
  'VALUES (@id, @sku, @delta, @created_at, @created_index, @request_digest)';
const selectReservationDigest = 'SELECT request_digest FROM reservations WHERE id = ?';
const insertReservation =
  'INSERT INTO reservations (id, lines, status, status_index, expires_at, created_at, created_index, request_digest) ' +
  "VALUES (@id, @lines, 'held', NULL, @expires_at, @created_at, @created_index, @request_digest)";
export const selectReservationRow = 'SELECT id, lines, status, expires_at FROM reservations WHERE id = ?';
const updateReservationStatus = 'UPDATE reservations SET status = ?, status_index = ? WHERE id = ?';

export function createItems(context: ApplyContext, items: readonly Item[]): ItemResult[] {
  return items.map((item) => {
    const outcome = createItem(context, item);
    return outcome === 'created' || outcome === 'exists' ? { sku: item.sku, status: outcome } : { sku: item.sku, status: 'error', code: outcome };
  });
}

function createItem(context: ApplyContext, item: Item): CreateOutcome {
  const digest = requestDigest(item);
  const existing = context.statement(selectItemDigest).pluck().get(item.sku) as string | undefined;
  if (existing !== undefined) return existing === digest ? 'exists' : 'exists_with_different_fields';
  const row = {
    sku: item.sku, initial_on_hand: item.on_hand, metadata: item.metadata === undefined ? null : JSON.stringify(item.metadata),
    created_at: context.timeMs, created_index: context.index, request_digest: digest,
  };
  context.statement(insertItem).run(row);
  context.effects.addCreated('items', lineOf.items(row));
  return 'created';
}

export function adjustStock(context: ApplyContext, adjustments: readonly Adjustment[]) {
  return adjustments.map((adjustment) => toCreateResult(adjustment.id, adjust(context, adjustment)));
}

function adjust(context: ApplyContext, adjustment: Adjustment): CreateOutcome {
  const digest = requestDigest(adjustment);
  const existing = context.statement(selectAdjustmentDigest).pluck().get(adjustment.id) as string | undefined;
  if (existing !== undefined) return existing === digest ? 'exists' : 'exists_with_different_fields';
  const stock = readStock(context, adjustment.sku);
  if (stock === undefined) return 'item_not_found';
  const onHand = stock.on_hand + adjustment.delta;
  if (onHand > MAX_QUANTITY) return 'overflow';
  if (onHand < stock.reserved) return 'on_hand_below_reserved';
  writeStock(context, adjustment.sku, { on_hand: onHand, reserved: stock.reserved });
  const row = { ...adjustment, created_at: context.timeMs, created_index: context.index, request_digest: digest };
  context.statement(insertAdjustment).run(row);
  context.effects.addCreated('adjustments', lineOf.adjustments(row));
  return 'created';
}

export function createReservations(context: ApplyContext, reservations: readonly Reservation[]): ReservationResult[] {
  return reservations.map((reservation) => reserve(context, reservation));
}

function reserve(context: ApplyContext, reservation: Reservation): ReservationResult {
  const { id } = reservation;
  const digest = requestDigest(reservation);
  const existing = context.statement(selectReservationDigest).pluck().get(id) as string | undefined;
  if (existing !== undefined) return toCreateResult(id, existing === digest ? 'exists' : 'exists_with_different_fields');
  const skus = new Set(reservation.lines.map((line) => line.sku));
  if (skus.size !== reservation.lines.length) return { id, status: 'error', code: 'lines_must_have_distinct_skus' };
  if (reservation.lines.some((line) => line.qty <= 0)) return { id, status: 'error', code: 'quantity_must_be_positive' };
  const stocks: StockRow[] = [];
  for (const line of reservation.lines) {
    const stock = readStock(context, line.sku);
    if (stock === undefined) return { id, status: 'error', code: 'item_not_found', sku: line.sku };
    if (stock.on_hand - stock.reserved < line.qty) return { id, status: 'error', code: 'insufficient_stock', sku: line.sku };
    stocks.push(stock);
  }
  reservation.lines.forEach((line, position) => {
    const stock = stocks[position] as StockRow;
    writeStock(context, line.sku, { on_hand: stock.on_hand, reserved: stock.reserved + line.qty });
  });
  const row = {
    id, lines: JSON.stringify(reservation.lines), expires_at: context.timeMs + reservation.ttl_ms,
    created_at: context.timeMs, created_index: context.index, request_digest: digest,
  };
  context.statement(insertReservation).run(row);
  context.effects.addCreated('reservations', lineOf.reservations(row));
  return { id, status: 'created' };
}

export function confirmReservations(context: ApplyContext, ids: readonly string[]): ConfirmResult[] {
  return ids.map((id) => settlementResult(id, settleReservation(context, id, 'confirmed'), 'confirmed'));
}

export function releaseReservations(context: ApplyContext, ids: readonly string[]): ReleaseResult[] {
  return ids.map((id) => settlementResult(id, settleReservation(context, id, 'released'), 'released'));
}

function settlementResult<Done extends 'confirmed' | 'released'>(
  id: string,
  outcome: 'done' | 'exists' | ResultCode,
  done: Done,
): { id: string; status: Done | 'exists' } | { id: string; status: 'error'; code: ResultCode } {
  if (outcome === 'done') return { id, status: done };
  if (outcome === 'exists') return { id, status: 'exists' };
  return { id, status: 'error', code: outcome };
}

/** Confirm or release: a repeat of the same settlement answers `exists`. */
function settleReservation(context: ApplyContext, id: string, target: 'confirmed' | 'released'): 'done' | 'exists' | ResultCode {
  const reservation = readReservation(context, id);
  if (reservation === undefined) return 'reservation_not_found';
  if (reservation.status === target) return 'exists';
  if (reservation.status === 'confirmed') return 'reservation_already_confirmed';
  if (reservation.status === 'released') return 'reservation_already_released';
  if (reservation.status === 'expired' || reservation.expires_at <= context.timeMs) return 'reservation_expired';
  finishReservation(context, reservation, target);
  return 'done';
}

/** Ends a held reservation: confirmed takes the stock out, released and expired give it back. */
export function finishReservation(context: ApplyContext, reservation: ReservationRow, status: Exclude<ReservationStatus, 'held'>): void {
  assert(reservation.status === 'held', `reservation ${reservation.id} is not held`);
  for (const line of reservation.lines) {
    const stock = readStock(context, line.sku);
    assert(stock !== undefined && stock.reserved >= line.qty, `reservation ${reservation.id} holds more ${line.sku} than reserved`);
    const onHand = status === 'confirmed' ? stock.on_hand - line.qty : stock.on_hand;
    writeStock(context, line.sku, { on_hand: onHand, reserved: stock.reserved - line.qty });
  }
  context.statement(updateReservationStatus).run(status, context.index, reservation.id);
  context.effects.addStatus('reservations', reservation.id, status);
}

export function readReservation(context: Pick<ApplyContext, 'statement'>, id: string): ReservationRow | undefined {
  const raw = context.statement(selectReservationRow).get(id) as Record<string, unknown> | undefined;
  return raw === undefined ? undefined : reservationRowFromDb(raw);
}

export function reservationRowFromDb(raw: Record<string, unknown>): ReservationRow {
  return {
    id: raw['id'] as string,
    lines: JSON.parse(raw['lines'] as string) as ReservationLine[],
    status: raw['status'] as ReservationStatus,
    expires_at: Number(raw['expires_at']),
  };
}

function readStock(context: ApplyContext, sku: string): StockRow | undefined {
  const raw = context.statement(selectStock).get(sku) as { on_hand: bigint; reserved: bigint } | undefined;
  return raw === undefined ? undefined : { on_hand: Number(raw.on_hand), reserved: Number(raw.reserved) };
}

function writeStock(context: ApplyContext, sku: string, stock: StockRow): void {
  assert(0 <= stock.reserved && stock.reserved <= stock.on_hand && stock.on_hand <= MAX_QUANTITY, `stock invariant broken for ${sku}`);
  context.statement(updateStock).run(stock.on_hand, stock.reserved, sku);
}
