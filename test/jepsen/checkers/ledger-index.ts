// What several checkers need to know about the ledger operations of a
// history: every transfer id with its attempts and outcome, the accounts it
// moves money between, and which reads belong to the final phase.

import type { Operation, ParsedHistory } from '../history.js';
import { invokeValue, SettleInvoke, toBigInt, TransferInvoke, WRITE_KINDS } from '../history.js';

export type TransferKind = 'single' | 'pending' | 'post' | 'void';

export interface TransferRecord {
  id: string;
  kind: TransferKind;
  attempts: Operation[];
  /** Debit and credit accounts; for a post or void, those of its pending transfer when that is known. */
  from: string | undefined;
  to: string | undefined;
  /** The amount it moves (a void moves nothing but carries its pending transfer's amount). */
  amount: bigint | undefined;
  pendingId: string | undefined;
  /** The ok attempt that completed first, if any. */
  acknowledged: Operation | undefined;
  /** True when every attempt failed: it must never appear. */
  refused: boolean;
}

const TRANSFER_WRITES: ReadonlySet<string> = new Set(['transfer', 'post', 'void']);

function recordOf(operation: Operation): Omit<TransferRecord, 'attempts' | 'acknowledged' | 'refused'> {
  if (operation.f === 'transfer') {
    const value = invokeValue(TransferInvoke, operation);
    return { id: value.id, kind: value.pending === true ? 'pending' : 'single', from: value.from, to: value.to, amount: toBigInt(value.amount), pendingId: undefined };
  }
  const value = invokeValue(SettleInvoke, operation);
  return {
    id: value.id, kind: operation.f === 'post' ? 'post' : 'void', from: undefined, to: undefined,
    amount: value.amount === undefined ? undefined : toBigInt(value.amount), pendingId: value.pending_id,
  };
}

/** Every transfer id written in the history, in order of first invocation. */
export function indexTransfers(operations: readonly Operation[]): Map<string, TransferRecord> {
  const records = new Map<string, TransferRecord>();
  for (const operation of operations) {
    if (!TRANSFER_WRITES.has(operation.f)) continue;
    const fields = recordOf(operation);
    const record = records.get(fields.id) ?? { ...fields, attempts: [], acknowledged: undefined, refused: true };
    record.attempts.push(operation);
    if (operation.outcome !== 'fail') record.refused = false;
    if (operation.outcome === 'ok' && (record.acknowledged === undefined || operation.completedAt < record.acknowledged.completedAt)) {
      record.acknowledged = operation;
    }
    records.set(fields.id, record);
  }
  for (const record of records.values()) {
    if (record.pendingId === undefined) continue;
    const pending = records.get(record.pendingId);
    record.from = pending?.from;
    record.to = pending?.to;
    if (record.kind === 'void' || record.amount === undefined) record.amount = pending?.amount;
  }
  return records;
}

/** Accounts a transfer record touches (empty when they are not known). */
export function accountsOf(record: TransferRecord): string[] {
  return record.from !== undefined && record.to !== undefined ? [record.from, record.to] : [];
}

/** The posted-balance effect of a transfer: single transfers and posts move money; pending and void do not. */
export function balanceEffect(record: TransferRecord): Map<string, bigint> | undefined {
  if (record.kind === 'pending' || record.kind === 'void') return new Map();
  if (record.from === undefined || record.to === undefined || record.amount === undefined) return undefined;
  return new Map([
    [record.from, -record.amount],
    [record.to, record.amount],
  ]);
}

/**
 * The final read phase: operations invoked at or after the runner's marker (a
 * process -1 event whose f starts with "final"), or, without a marker, after
 * the last completion of any client write.
 */
export function finalPhaseStart(history: ParsedHistory): number {
  if (history.finalPhaseTime !== undefined) return history.finalPhaseTime;
  let last = 0;
  for (const operation of history.operations) {
    if (WRITE_KINDS.has(operation.f) && operation.completion !== undefined) last = Math.max(last, operation.completion.time);
  }
  return last + 1;
}

export function isFinalRead(operation: Operation, start: number): boolean {
  return operation.call >= start && operation.f.startsWith('read-') && operation.outcome === 'ok';
}
