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

export const TRANSFER_WRITES: ReadonlySet<string> = new Set(['transfer', 'post', 'void']);

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

/** Transfer records per account they touch, in order of first invocation. */
export function transfersByAccount(records: Map<string, TransferRecord>): Map<string, TransferRecord[]> {
  const byAccount = new Map<string, TransferRecord[]>();
  for (const record of records.values()) {
    for (const account of new Set(accountsOf(record))) {
      const list = byAccount.get(account) ?? [];
      list.push(record);
      byAccount.set(account, list);
    }
  }
  return byAccount;
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

/**
 * One account's acknowledged transfers ordered by a key of their acknowledgement (its time or
 * its raft index), to find what a read of the account's transfers must show: the cost per read
 * is the length of the read, not the number of transfers.
 */
export class AcknowledgedOrder {
  private readonly keys: number[] = [];
  private readonly records: TransferRecord[] = [];
  private readonly rank = new Map<string, number>();

  constructor(records: readonly TransferRecord[], keyOf: (acknowledgement: Operation) => number | undefined) {
    const keyed: { key: number; record: TransferRecord }[] = [];
    for (const record of records) {
      const key = record.acknowledged === undefined ? undefined : keyOf(record.acknowledged);
      if (key !== undefined) keyed.push({ key, record });
    }
    keyed.sort((a, b) => a.key - b.key);
    keyed.forEach(({ key, record }, position) => {
      this.keys.push(key);
      this.records.push(record);
      this.rank.set(record.id, position);
    });
  }

  /** Among the transfers whose key is below `bound`, the first that `listed` lacks and how many it lacks. */
  missing(listed: readonly string[], bound: number): { first: TransferRecord; count: number } | undefined {
    const required = countBelow(this.keys, bound);
    const present = new Set<number>();
    for (const id of listed) {
      const rank = this.rank.get(id);
      if (rank !== undefined && rank < required) present.add(rank);
    }
    if (present.size === required) return undefined;
    for (let rank = 0; rank < required; rank++) {
      if (!present.has(rank)) return { first: this.records[rank] as TransferRecord, count: required - present.size };
    }
    return undefined;
  }
}

/** How many of the ascending `sorted` are strictly below `bound` (binary search). */
export function countBelow(sorted: readonly number[], bound: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) < bound) low = middle + 1;
    else high = middle;
  }
  return low;
}
