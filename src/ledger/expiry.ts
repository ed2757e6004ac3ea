// Expiry of holds: pending transfers with timeout_ms and reservations with
// ttl_ms. A hold is due when its deadline <= entry time. The `expire` command
// takes the due holds in (deadline, id) order, transfers before reservations on
// a tie, at most `limit` per entry; the leader proposes another while more are due.

import type { ApplyContext } from './context.js';
import { finishReservation, reservationRowFromDb, type ReservationRow } from './inventory.js';
import { MAX_BATCH_ITEMS } from './schemas.js';
import { TransferBatch, transferRowColumns, transferRowFromDb, type TransferRow } from './transfers.js';

export interface ExpireResult {
  expired_transfers: number;
  expired_reservations: number;
}

const dueTransfers =
  `SELECT ${transferRowColumns} FROM transfers WHERE status = 'pending' AND expires_at IS NOT NULL ` +
  'AND expires_at <= ? ORDER BY expires_at, id LIMIT ?';
const dueReservations =
  "SELECT id, lines, status, expires_at FROM reservations WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?";
const earliestTransfer = "SELECT MIN(expires_at) FROM transfers WHERE status = 'pending' AND expires_at IS NOT NULL";
const earliestReservation = "SELECT MIN(expires_at) FROM reservations WHERE status = 'held'";

export function expireDue(context: ApplyContext, limit: number = MAX_BATCH_ITEMS): ExpireResult {
  const transfers = (context.statement(dueTransfers).all(context.timeMs, limit) as Record<string, unknown>[]).map(transferRowFromDb);
  const reservations = (context.statement(dueReservations).all(context.timeMs, limit) as Record<string, unknown>[]).map(
    reservationRowFromDb,
  );
  const chosen = mergeByDeadline(transfers, reservations, limit);
  const batch = new TransferBatch(context);
  for (const row of chosen.transfers) batch.expire(row);
  batch.flush();
  for (const row of chosen.reservations) finishReservation(context, row, 'expired');
  return { expired_transfers: chosen.transfers.length, expired_reservations: chosen.reservations.length };
}

function mergeByDeadline(
  transfers: readonly TransferRow[],
  reservations: readonly ReservationRow[],
  limit: number,
): { transfers: TransferRow[]; reservations: ReservationRow[] } {
  const chosen = { transfers: [] as TransferRow[], reservations: [] as ReservationRow[] };
  let t = 0;
  let r = 0;
  while (chosen.transfers.length + chosen.reservations.length < limit) {
    const transfer = transfers[t];
    const reservation = reservations[r];
    if (transfer === undefined && reservation === undefined) break;
    const takeTransfer =
      reservation === undefined ||
      (transfer !== undefined && compareDeadline(transfer.expires_at as number, transfer.id, reservation.expires_at, reservation.id) <= 0);
    if (takeTransfer) chosen.transfers.push(transfers[t++] as TransferRow);
    else chosen.reservations.push(reservations[r++] as ReservationRow);
  }
  return chosen;
}

function compareDeadline(deadlineA: number, idA: string, deadlineB: number, idB: string): number {
  if (deadlineA !== deadlineB) return deadlineA < deadlineB ? -1 : 1;
  return idA < idB ? -1 : idA > idB ? 1 : 0;
}

/** The earliest deadline of any live hold, or undefined when none is held. */
export function nextDeadline(context: Pick<ApplyContext, 'statement'>): number | undefined {
  const transfer = context.statement(earliestTransfer).pluck().get() as bigint | null;
  const reservation = context.statement(earliestReservation).pluck().get() as bigint | null;
  const deadlines = [transfer, reservation].filter((value): value is bigint => value !== null).map(Number);
  return deadlines.length === 0 ? undefined : Math.min(...deadlines);
}
