// verifyChain: recomputes the hash chain from the stored records and checks
// that the balances agree with the records they summarize. Reads in pages of
// bounded size, so memory stays flat however large the ledger is.

import type Database from 'better-sqlite3';
import { effectTables, lineOf, nextHead, sha256Hex, statusLine, type EffectTable, type StatusTable } from './chain.js';
import { GENESIS_HEAD } from './db.js';

export type VerifyReport =
  | { ok: true; checkedEntries: number; head: string }
  | { ok: false; index: number; reason: string };

const PAGE_ROWS = 1000;
type Row = Record<string, unknown>;
type Statement = (sql: string) => Database.Statement;

/** Walks rows of one table in key order, one page at a time. */
class PagedCursor {
  private page: Row[] = [];
  private position = 0;
  private done = false;

  constructor(private readonly fetch: (last: Row | undefined) => Row[]) {}

  peek(): Row | undefined {
    if (this.position < this.page.length) return this.page[this.position];
    if (this.done) return undefined;
    const last = this.page[this.page.length - 1];
    this.page = this.fetch(last);
    this.position = 0;
    this.done = this.page.length < PAGE_ROWS;
    return this.page[0];
  }

  next(): Row | undefined {
    const row = this.peek();
    this.position++;
    return row;
  }
}

function createdCursor(statement: Statement, table: EffectTable): PagedCursor {
  const sql = `SELECT * FROM ${table} WHERE seq > ? ORDER BY seq LIMIT ${PAGE_ROWS}`;
  return new PagedCursor((last) => statement(sql).all(last === undefined ? -1 : last['seq']) as Row[]);
}

function statusCursor(statement: Statement, table: StatusTable): PagedCursor {
  const sql =
    `SELECT id, status, status_index FROM ${table} WHERE status_index IS NOT NULL AND ` +
    `(status_index > @index OR (status_index = @index AND id > @id)) ORDER BY status_index, id LIMIT ${PAGE_ROWS}`;
  return new PagedCursor((last) => statement(sql).all(last === undefined ? { index: -1, id: '' } : { index: last['status_index'], id: last['id'] }) as Row[]);
}

export function verifyChain(statement: Statement): VerifyReport {
  const created = new Map(effectTables.map((table) => [table, createdCursor(statement, table)] as const));
  const statuses = new Map((['transfers', 'reservations'] as const).map((table) => [table, statusCursor(statement, table)] as const));
  const chainSql = `SELECT * FROM chain WHERE entry_index > ? ORDER BY entry_index LIMIT ${PAGE_ROWS}`;
  const chain = new PagedCursor((last) => statement(chainSql).all(last === undefined ? 0 : last['entry_index']) as Row[]);
  let head = GENESIS_HEAD;
  let checked = 0;
  let lastTimeMs = 0;
  for (let entry = chain.next(); entry !== undefined; entry = chain.next()) {
    const index = Number(entry['entry_index']);
    if (index !== checked + 1) return { ok: false, index, reason: `chain row ${index} follows ${checked}` };
    const parts: string[] = [];
    for (const [table, cursor] of created) {
      const stray = takeWhileIndex(cursor, 'created_index', index, (row) => parts.push(lineFor(table, row)));
      if (stray !== undefined) return { ok: false, index, reason: `${table} row created at ${stray}, which has no chain row` };
    }
    const statusLines: string[] = [];
    for (const [table, cursor] of statuses) {
      const stray = takeWhileIndex(cursor, 'status_index', index, (row) => statusLines.push(statusLine(table, row['id'] as string, row['status'] as string)));
      if (stray !== undefined) return { ok: false, index, reason: `${table} status changed at ${stray}, which has no chain row` };
    }
    const effectsDigest = sha256Hex(parts.join('') + statusLines.sort().join(''));
    if (effectsDigest !== entry['effects_digest']) return { ok: false, index, reason: 'stored records do not match the entry digest' };
    head = nextHead(head, index, Number(entry['time_ms']), entry['data_digest'] as string, effectsDigest);
    if (head !== entry['head']) return { ok: false, index, reason: 'chain head does not match' };
    checked = index;
    lastTimeMs = Number(entry['time_ms']);
  }
  const meta = statement('SELECT applied_index, time_ms, chain_head FROM meta').get() as Row;
  if (Number(meta['applied_index']) !== checked || meta['chain_head'] !== head || Number(meta['time_ms']) !== lastTimeMs) {
    return { ok: false, index: checked, reason: 'meta applied index, time or chain head differs from the chain' };
  }
  const problem = verifyUnchangedStatuses(statement) ?? verifyBalances(statement);
  return problem === undefined ? { ok: true, checkedEntries: checked, head } : { ok: false, index: checked, reason: problem };
}

// A row whose status never changed (status_index NULL) has no status line in
// the chain, so its status must be the one its kind is created with.
const transferStatusEdited = `
SELECT id FROM transfers WHERE status_index IS NULL
  AND status != CASE kind WHEN 'pending' THEN 'pending' WHEN 'void' THEN 'voided' ELSE 'posted' END
ORDER BY id LIMIT 1`;
const reservationStatusEdited = "SELECT id FROM reservations WHERE status_index IS NULL AND status != 'held' ORDER BY id LIMIT 1";

function verifyUnchangedStatuses(statement: Statement): string | undefined {
  const transfer = statement(transferStatusEdited).pluck().get() as string | undefined;
  if (transfer !== undefined) return `transfer ${transfer} has a status no entry gave it`;
  const reservation = statement(reservationStatusEdited).pluck().get() as string | undefined;
  return reservation === undefined ? undefined : `reservation ${reservation} has a status no entry gave it`;
}

/** Consumes rows whose `column` equals index; returns a smaller stray index if one is found. */
function takeWhileIndex(cursor: PagedCursor, column: string, index: number, take: (row: Row) => void): number | undefined {
  for (let row = cursor.peek(); row !== undefined; row = cursor.peek()) {
    const rowIndex = Number(row[column]);
    if (rowIndex > index) return undefined;
    if (rowIndex < index) return rowIndex;
    take(row);
    cursor.next();
  }
  return undefined;
}

function lineFor(table: EffectTable, row: Row): string {
  // The stored row has every column the line function reads.
  return (lineOf[table] as unknown as (row: Row) => string)(row);
}

const accountMismatch = `
SELECT a.id FROM accounts a WHERE
  a.debits_posted != (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE debit_account_id = a.id AND kind IN ('single', 'post'))
  OR a.credits_posted != (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE credit_account_id = a.id AND kind IN ('single', 'post'))
  OR a.debits_pending != (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE debit_account_id = a.id AND status = 'pending')
  OR a.credits_pending != (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE credit_account_id = a.id AND status = 'pending')
ORDER BY a.id LIMIT 1`;

const itemMismatch = `
SELECT i.sku FROM items i WHERE
  i.reserved != (SELECT COALESCE(SUM(json_extract(l.value, '$.qty')), 0) FROM reservations r, json_each(r.lines) l
                 WHERE r.status = 'held' AND json_extract(l.value, '$.sku') = i.sku)
  OR i.on_hand != i.initial_on_hand + (SELECT COALESCE(SUM(delta), 0) FROM adjustments WHERE sku = i.sku)
     - (SELECT COALESCE(SUM(json_extract(l.value, '$.qty')), 0) FROM reservations r, json_each(r.lines) l
        WHERE r.status = 'confirmed' AND json_extract(l.value, '$.sku') = i.sku)
ORDER BY i.sku LIMIT 1`;

/** Balances must equal the sums of their records, and debits must equal credits. */
function verifyBalances(statement: Statement): string | undefined {
  const account = statement(accountMismatch).pluck().get() as string | undefined;
  if (account !== undefined) return `account ${account} balances differ from its transfers`;
  const item = statement(itemMismatch).pluck().get() as string | undefined;
  if (item !== undefined) return `item ${item} stock differs from its adjustments and reservations`;
  let debits = 0n;
  let credits = 0n;
  for (const row of statement('SELECT debits_pending + debits_posted AS d, credits_pending + credits_posted AS c FROM accounts').iterate() as Iterable<Row>) {
    debits += row['d'] as bigint;
    credits += row['c'] as bigint;
  }
  return debits === credits ? undefined : `sum of debits ${debits} differs from sum of credits ${credits}`;
}
