// The tamper-evident hash chain. After entry N the head is
//   sha256(head[N-1] | N | time_ms | sha256(entry bytes) | effects digest)
// where the effects digest covers every record the entry created and every
// status it changed, each written as one canonical line. The same line
// functions serve apply (from the rows about to be written) and verifyChain
// (from the rows read back), so a record edited after the fact no longer
// reproduces its entry's digest.

import { hash } from 'node:crypto';

export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

/**
 * JSON with object keys sorted at every depth, undefined members left out,
 * and bigint as decimal strings. Written as plain loops: it runs for every
 * created record on every replica.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'bigint') return `"${value.toString()}"`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  for (const key of keys) {
    const member = record[key];
    if (member === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}

/** The digest that decides `exists` versus `exists_with_different_fields`. */
export function requestDigest(request: unknown): string {
  return sha256Hex(canonicalJson(request));
}

export const effectTables = ['accounts', 'transfers', 'items', 'adjustments', 'reservations'] as const;
export type EffectTable = (typeof effectTables)[number];
/** Tables whose rows change status once after creation. */
export type StatusTable = 'transfers' | 'reservations';

type LineValue = string | number | bigint | null | undefined;

export function recordLine(values: readonly LineValue[]): string {
  let line = '';
  for (const value of values) line += value === null || value === undefined ? '|' : `${String(value)}|`;
  return `${line}\n`;
}

// Row shapes as stored; the line functions take exactly the columns that never
// change after creation. Metadata enters as its digest: it is free text, and a
// '|' or newline inside it would make two different rows write the same line.
export interface AccountLineRow {
  id: string; ledger: string; code: number | bigint; flags: number | bigint; metadata: string | null;
  created_at: number | bigint; created_index: number | bigint; request_digest: string;
}
export interface TransferLineRow {
  id: string; kind: string; debit_account_id: string; credit_account_id: string; amount: bigint;
  ledger: string; code: number | bigint; pending_id: string | null; expires_at: number | bigint | null; metadata: string | null;
  created_at: number | bigint; created_index: number | bigint; request_digest: string;
}
export interface ItemLineRow {
  sku: string; initial_on_hand: number | bigint; metadata: string | null; created_at: number | bigint; created_index: number | bigint;
  request_digest: string;
}
export interface AdjustmentLineRow {
  id: string; sku: string; delta: number | bigint; created_at: number | bigint; created_index: number | bigint; request_digest: string;
}
export interface ReservationLineRow {
  id: string; lines: string; expires_at: number | bigint; created_at: number | bigint; created_index: number | bigint; request_digest: string;
}

const metadataDigest = (metadata: string | null): string | null => (metadata === null ? null : sha256Hex(metadata));

export const lineOf = {
  accounts: (r: AccountLineRow) =>
    recordLine(['A', r.id, r.ledger, r.code, r.flags, metadataDigest(r.metadata), r.created_at, r.created_index, r.request_digest]),
  transfers: (r: TransferLineRow) =>
    recordLine(['T', r.id, r.kind, r.debit_account_id, r.credit_account_id, r.amount, r.ledger, r.code, r.pending_id, r.expires_at,
      metadataDigest(r.metadata), r.created_at, r.created_index, r.request_digest]),
  items: (r: ItemLineRow) =>
    recordLine(['I', r.sku, r.initial_on_hand, metadataDigest(r.metadata), r.created_at, r.created_index, r.request_digest]),
  adjustments: (r: AdjustmentLineRow) => recordLine(['J', r.id, r.sku, r.delta, r.created_at, r.created_index, r.request_digest]),
  reservations: (r: ReservationLineRow) => recordLine(['R', r.id, r.lines, r.expires_at, r.created_at, r.created_index, r.request_digest]),
};

export function statusLine(table: StatusTable, id: string, status: string): string {
  return recordLine(['S', table, id, status]);
}

/** Collects one entry's effects in a replica-independent order. */
export class Effects {
  private readonly created = new Map<EffectTable, string[]>(effectTables.map((table) => [table, []]));
  private readonly statusChanges: string[] = [];

  addCreated(table: EffectTable, line: string): void {
    (this.created.get(table) as string[]).push(line);
  }

  addStatus(table: StatusTable, id: string, status: string): void {
    this.statusChanges.push(statusLine(table, id, status));
  }

  /** Created lines in table order then creation order; status lines sorted. */
  digest(): string {
    const parts: string[] = [];
    for (const table of effectTables) parts.push(...(this.created.get(table) as string[]));
    parts.push(...[...this.statusChanges].sort());
    return sha256Hex(parts.join(''));
  }
}

export function nextHead(previousHead: string, index: number, timeMs: number, dataDigest: string, effectsDigest: string): string {
  return sha256Hex(`${previousHead}|${index}|${timeMs}|${dataDigest}|${effectsDigest}`);
}
