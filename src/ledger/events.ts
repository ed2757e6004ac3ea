// Change data capture: the ledger's changes read back in log order from the
// tables themselves. Every row keeps the index that created it and, for rows
// whose status changes once, the index of that change (db.ts), so the changes
// of any index range are a query away and nothing is ever compacted out: Raft
// log compaction and snapshots keep every ledger row.
//
// Within one entry the changes come in a fixed order (created rows table by
// table in the chain's order, by seq; then status changes, transfers before
// reservations, by id), the same on every node, so `index.sub` positions
// name the same change everywhere. A page holds only whole entries (so an
// entry's change count, and with it each id, is known) and at most about
// PAGE_ROWS rows per source, or one entry's changes when a single entry is
// larger (bounded by MAX_BATCH_ITEMS per source).

import type Database from 'better-sqlite3';
import { assert, unreachable } from '../lib/assert.js';
import { effectTables, type EffectTable } from './chain.js';
import { reservationRowFromDb, type ReservationStatus } from './inventory.js';
import { accountView, transferView, type AccountView, type ItemView, type ReservationView, type TransferView } from './queries.js';
import { MAX_BATCH_ITEMS } from './schemas.js';
import { transferRowColumns } from './transfers.js';

export const EVENT_PAGE_ROWS = 256;

/** Where a stream stands: entries before `index` and the first `skip` changes of `index` are delivered. */
export interface EventPosition {
  readonly index: number;
  readonly skip: number;
}

export interface AdjustmentView {
  id: string;
  sku: string;
  delta: number;
  created_at: number;
}

export type LedgerEvent =
  | { readonly kind: 'account_created'; readonly record: AccountView }
  | { readonly kind: 'transfer_created' | 'transfer_status_changed'; readonly record: TransferView }
  | { readonly kind: 'item_created'; readonly record: ItemView & { created_at: number } }
  | { readonly kind: 'stock_adjusted'; readonly record: AdjustmentView }
  | { readonly kind: 'reservation_created' | 'reservation_status_changed'; readonly record: ReservationView };

export interface PositionedEvent {
  readonly index: number;
  /** 1-based position inside the entry; 0 when the entry made this one change only. */
  readonly sub: number;
  readonly event: LedgerEvent;
}

export interface EventPage {
  readonly events: PositionedEvent[];
  /** Where the next page starts. */
  readonly next: EventPosition;
}

type Row = Record<string, unknown>;
type Statement = (sql: string) => Database.Statement;
type Source = EffectTable | 'transfer_status' | 'reservation_status';

const sources: readonly Source[] = [...effectTables, 'transfer_status', 'reservation_status'];

interface SourceRows {
  readonly source: Source;
  readonly rows: Row[];
  readonly full: boolean;
}

/** The changes of entries index..upTo (after skipping `skip` of the first), whole entries only. */
export function readEventPage(statement: Statement, from: EventPosition, upTo: number): EventPage {
  if (from.index > upTo) return { events: [], next: from };
  let fetched = fetchSources(statement, from.index, upTo, EVENT_PAGE_ROWS);
  let cutoff = cutoffOf(fetched);
  if (cutoff === from.index) {
    // One entry has at least a page of changes in one source: read that entry whole.
    fetched = fetchSources(statement, from.index, from.index, MAX_BATCH_ITEMS + 1);
    assert(cutoffOf(fetched) === undefined, `entry ${from.index} has more than ${MAX_BATCH_ITEMS} changes in one table`);
    cutoff = from.index + 1;
  }
  const end = cutoff === undefined ? upTo + 1 : cutoff;
  // Only changes of the first entry are skipped, however large `skip` is (a Last-Event-ID the client made up).
  const events = positioned(fetched, end).filter((event) => event.index !== from.index || Math.max(1, event.sub) > from.skip);
  return { events, next: { index: end, skip: 0 } };
}

/** The lowest last index among sources that filled their page: changes at it may continue past the page. */
function cutoffOf(fetched: readonly SourceRows[]): number | undefined {
  let cutoff: number | undefined;
  for (const { source, rows, full } of fetched) {
    const last = rows.at(-1);
    if (!full || last === undefined) continue;
    const index = indexOf(source, last);
    if (cutoff === undefined || index < cutoff) cutoff = index;
  }
  return cutoff;
}

function fetchSources(statement: Statement, fromIndex: number, upTo: number, limit: number): SourceRows[] {
  return sources.map((source) => {
    const rows = fetchRows(statement, source, fromIndex, upTo, limit);
    return { source, rows, full: rows.length === limit };
  });
}

function fetchRows(statement: Statement, source: Source, fromIndex: number, upTo: number, limit: number): Row[] {
  switch (source) {
    case 'transfer_status':
    case 'reservation_status': {
      const table = source === 'transfer_status' ? 'transfers' : 'reservations';
      return statement(
        `SELECT ${columnsOf(table)} FROM ${table} WHERE status_index IS NOT NULL AND status_index >= @from AND status_index <= @upTo ` +
          'ORDER BY status_index, id LIMIT @limit',
      ).all({ from: fromIndex, upTo, limit }) as Row[];
    }
    default: {
      const firstSeq = firstSeqAtOrAfter(statement, source, fromIndex);
      return statement(`SELECT ${columnsOf(source)} FROM ${source} WHERE seq >= @seq AND created_index <= @upTo ORDER BY seq LIMIT @limit`).all({
        seq: firstSeq,
        upTo,
        limit,
      }) as Row[];
    }
  }
}

function columnsOf(table: EffectTable): string {
  return table === 'transfers' ? `seq, ${transferRowColumns}` : '*';
}

/**
 * The smallest seq whose row was created at fromIndex or later. Rows are
 * inserted in apply order, so created_index never decreases along seq (the
 * chain verification walks the tables by seq and relies on the same order);
 * a binary search over seq then needs no index on created_index.
 */
function firstSeqAtOrAfter(statement: Statement, table: EffectTable, fromIndex: number): number {
  const maxRow = statement(`SELECT max(seq) AS seq FROM ${table}`).get() as Row;
  let low = 0;
  let high = maxRow['seq'] === null ? 0 : Number(maxRow['seq']) + 1;
  const createdAt = statement(`SELECT created_index FROM ${table} WHERE seq >= ? ORDER BY seq LIMIT 1`);
  // Invariant: rows with seq < low were created before fromIndex; rows with seq >= high at or after it.
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const row = createdAt.get(middle) as Row | undefined;
    if (row !== undefined && Number(row['created_index']) < fromIndex) low = middle + 1;
    else high = middle;
  }
  return low;
}

function indexOf(source: Source, row: Row): number {
  return Number(source === 'transfer_status' || source === 'reservation_status' ? row['status_index'] : row['created_index']);
}

/** The events of entries before `end`, in entry order then source order, each with its position in the entry. */
function positioned(fetched: readonly SourceRows[], end: number): PositionedEvent[] {
  const keyed: { index: number; order: number; position: number; event: LedgerEvent }[] = [];
  fetched.forEach(({ source, rows }, order) => {
    rows.forEach((row, position) => {
      const index = indexOf(source, row);
      if (index < end) keyed.push({ index, order, position, event: eventOf(source, row) });
    });
  });
  keyed.sort((a, b) => a.index - b.index || a.order - b.order || a.position - b.position);
  const counts = new Map<number, number>();
  for (const { index } of keyed) counts.set(index, (counts.get(index) ?? 0) + 1);
  let previous = -1;
  let sub = 0;
  return keyed.map(({ index, event }) => {
    sub = index === previous ? sub + 1 : 1;
    previous = index;
    return { index, sub: counts.get(index) === 1 ? 0 : sub, event };
  });
}

function eventOf(source: Source, row: Row): LedgerEvent {
  switch (source) {
    case 'accounts':
      // Accounts are created empty; balances move with the transfer events.
      return { kind: 'account_created', record: accountView({ ...row, debits_pending: 0n, debits_posted: 0n, credits_pending: 0n, credits_posted: 0n }) };
    case 'transfers': {
      // A transfer whose status changed later was pending when created.
      const record = transferView(row);
      return { kind: 'transfer_created', record: row['status_index'] === null ? record : { ...record, status: 'pending' } };
    }
    case 'items': {
      const onHand = Number(row['initial_on_hand']);
      const metadata = row['metadata'] === null ? {} : { metadata: JSON.parse(row['metadata'] as string) as unknown };
      return { kind: 'item_created', record: { sku: row['sku'] as string, on_hand: onHand, reserved: 0, available: onHand, ...metadata, created_at: Number(row['created_at']) } };
    }
    case 'adjustments':
      return {
        kind: 'stock_adjusted',
        record: { id: row['id'] as string, sku: row['sku'] as string, delta: Number(row['delta']), created_at: Number(row['created_at']) },
      };
    case 'reservations': {
      const record = reservationRowFromDb(row);
      const status: ReservationStatus = row['status_index'] === null ? record.status : 'held';
      return { kind: 'reservation_created', record: { ...record, status } };
    }
    case 'transfer_status':
      return { kind: 'transfer_status_changed', record: transferView(row) };
    case 'reservation_status':
      return { kind: 'reservation_status_changed', record: reservationRowFromDb(row) };
    default:
      return unreachable(source, 'event source');
  }
}
