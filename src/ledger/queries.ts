// Read-only views for the GET endpoints. Amounts are bigint; render.ts turns
// them into the contract's decimal strings. Several-account reads run inside
// one read transaction so they reflect a single applied index.

import type Database from 'better-sqlite3';
import type { ReservationLine } from './schemas.js';
import {
  FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS, FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS, transferRowColumns, transferRowFromDb, type TransferRow, type TransferStatus,
} from './transfers.js';
import { readEventPage, type EventPage, type EventPosition } from './events.js';
import { reservationRowFromDb, selectReservationRow, type ReservationStatus } from './inventory.js';

export const MAX_TRANSFERS_PAGE = 1000;

export interface AccountView {
  id: string;
  ledger: string;
  code: number;
  flags: { debits_must_not_exceed_credits: boolean; credits_must_not_exceed_debits: boolean };
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  /** credits_posted - debits_posted, from the credit side for every account (docs/ledger.md, Balances). */
  balance: bigint;
  /**
   * credits_posted - debits_posted - debits_pending: what a debit may still
   * take before the posted credits are used up, the headroom of
   * debits_must_not_exceed_credits. Read from the credit side for every
   * account: a debit-normal account's headroom is debits_posted -
   * credits_posted - credits_pending, not this.
   */
  available: bigint;
  metadata?: unknown;
  created_at: number;
}

export interface TransferView {
  seq: number;
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: bigint;
  ledger: string;
  code: number;
  pending: boolean;
  post_pending_id?: string;
  void_pending_id?: string;
  expires_at?: number;
  status: TransferStatus;
  metadata?: unknown;
  created_at: number;
  index: number;
}

export interface ItemView {
  sku: string;
  on_hand: number;
  reserved: number;
  available: number;
  metadata?: unknown;
}

export interface ReservationView {
  id: string;
  status: ReservationStatus;
  lines: ReservationLine[];
  expires_at: number;
}

type Row = Record<string, unknown>;

const transferColumns = `seq, ${transferRowColumns}`;

export class LedgerQueries {
  constructor(private readonly statement: (sql: string) => Database.Statement, private readonly db: Database.Database) {}

  account(id: string): AccountView | undefined {
    const row = this.statement('SELECT * FROM accounts WHERE id = ?').get(id) as Row | undefined;
    return row === undefined ? undefined : accountView(row);
  }

  /** Several accounts from one consistent state, in the order asked; missing ids are undefined. */
  accounts(ids: readonly string[]): (AccountView | undefined)[] {
    return this.db.transaction(() => ids.map((id) => this.account(id)))();
  }

  /** The account's transfers with seq > afterSeq in commit order, at most `limit` (1..1000). */
  accountTransfers(accountId: string, afterSeq: number, limit: number): TransferView[] {
    const bounded = Math.max(1, Math.min(MAX_TRANSFERS_PAGE, Math.trunc(limit)));
    const rows = this.statement(
      `SELECT ${transferColumns} FROM transfers WHERE seq IN (` +
        'SELECT seq FROM transfers WHERE debit_account_id = @account AND seq > @after ' +
        'UNION SELECT seq FROM transfers WHERE credit_account_id = @account AND seq > @after) ORDER BY seq LIMIT @limit',
    ).all({ account: accountId, after: afterSeq, limit: bounded }) as Row[];
    return rows.map(transferView);
  }

  transfer(id: string): TransferView | undefined {
    const row = this.statement(`SELECT ${transferColumns} FROM transfers WHERE id = ?`).get(id) as Row | undefined;
    return row === undefined ? undefined : transferView(row);
  }

  item(sku: string): ItemView | undefined {
    const row = this.statement('SELECT sku, on_hand, reserved, metadata FROM items WHERE sku = ?').get(sku) as Row | undefined;
    if (row === undefined) return undefined;
    const onHand = Number(row['on_hand']);
    const reserved = Number(row['reserved']);
    return { sku, on_hand: onHand, reserved, available: onHand - reserved, ...metadataField(row) };
  }

  /** The changes of whole applied entries from `from` on, one bounded page (events.ts). */
  eventPage(from: EventPosition): EventPage {
    return this.db.transaction(() => {
      const meta = this.statement('SELECT applied_index FROM meta').get() as Row;
      return readEventPage(this.statement, from, Number(meta['applied_index']));
    })();
  }

  reservation(id: string): ReservationView | undefined {
    const row = this.statement(selectReservationRow).get(id) as Row | undefined;
    return row === undefined ? undefined : reservationRowFromDb(row);
  }
}

function metadataField(row: Row): { metadata?: unknown } {
  return metadataOf(row['metadata'] as string | null);
}

function metadataOf(metadata: string | null): { metadata?: unknown } {
  return metadata === null ? {} : { metadata: JSON.parse(metadata) as unknown };
}

export function accountView(row: Row): AccountView {
  const flags = Number(row['flags']);
  const debitsPending = row['debits_pending'] as bigint;
  const debitsPosted = row['debits_posted'] as bigint;
  const creditsPosted = row['credits_posted'] as bigint;
  return {
    id: row['id'] as string,
    ledger: row['ledger'] as string,
    code: Number(row['code']),
    flags: {
      debits_must_not_exceed_credits: (flags & FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS) !== 0,
      credits_must_not_exceed_debits: (flags & FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS) !== 0,
    },
    debits_pending: debitsPending,
    debits_posted: debitsPosted,
    credits_pending: row['credits_pending'] as bigint,
    credits_posted: creditsPosted,
    balance: creditsPosted - debitsPosted,
    available: creditsPosted - debitsPosted - debitsPending,
    ...metadataField(row),
    created_at: Number(row['created_at']),
  };
}

export function transferView(raw: Row): TransferView {
  const row: TransferRow = transferRowFromDb(raw);
  return {
    seq: Number(raw['seq']),
    id: row.id,
    debit_account_id: row.debit_account_id,
    credit_account_id: row.credit_account_id,
    amount: row.amount,
    ledger: row.ledger,
    code: row.code,
    pending: row.kind === 'pending',
    ...(row.kind === 'post' && row.pending_id !== null ? { post_pending_id: row.pending_id } : {}),
    ...(row.kind === 'void' && row.pending_id !== null ? { void_pending_id: row.pending_id } : {}),
    ...(row.expires_at === null ? {} : { expires_at: row.expires_at }),
    status: row.status,
    ...metadataOf(row.metadata),
    created_at: row.created_at,
    index: row.created_index,
  };
}
