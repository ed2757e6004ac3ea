// The staleness checker, on the checker's one clock (the history's `time`).
// A stale read with max_staleness_ms=N never misses a write acknowledged more
// than N ms before the read was invoked; a read with min_index=I answers an
// index >= I and reflects every write whose acknowledgement carried an index
// <= I; a linearizable read (bound 0) never misses a write acknowledged
// before it was invoked. "Misses" is decided two ways: by the raft index the
// read answered (it reflects exactly the writes at or below it), and by what
// the read shows (a transfer not found, an account history without it).

import type { Operation, ParsedHistory } from '../history.js';
import { answerIndex, invokeValue, ReadAccountTransfersInvoke, ReadAccountTransfersOk, ReadTransferInvoke, ReadTransferOk, resultValue, WRITE_KINDS } from '../history.js';
import { AcknowledgedOrder, countBelow, indexTransfers, transfersByAccount } from './ledger-index.js';
import type { TransferRecord } from './ledger-index.js';
import { AnomalyList, claimsLinearizable, readLevel, verdictOf } from './verdict.js';
import type { Verdict } from './verdict.js';

export interface StalenessOptions {
  leaseIsLinearizable?: boolean;
  /**
   * Whether a stale read is held to its max_staleness_ms (default true). A
   * node proves the bound on its own monotonic clock, so a run whose clocks
   * go beyond the drift the cluster allows for (clock-rate-beyond) cannot
   * hold it: such reads are then held to min_index only.
   */
  stalenessBoundsHold?: boolean;
}

const NANOSECONDS_PER_MS = 1_000_000;

interface Bounds {
  /** Writes acknowledged before this time (ns) must be visible; undefined when the read promises nothing by time. */
  visibleBefore: number | undefined;
  minIndex: number | undefined;
}

function boundsOf(read: Operation, leaseIsLinearizable: boolean, stalenessBoundsHold: boolean): Bounds {
  const value = read.invoke.value as { max_staleness_ms?: number; min_index?: number } | undefined;
  const minIndex = value?.min_index;
  if (claimsLinearizable(read, leaseIsLinearizable)) return { visibleBefore: read.call, minIndex };
  const staleness = readLevel(read) === 'stale' && stalenessBoundsHold ? value?.max_staleness_ms : undefined;
  return { visibleBefore: staleness === undefined ? undefined : read.call - staleness * NANOSECONDS_PER_MS, minIndex };
}

/** Acknowledged writes that carried an index, by completion time, with the running maximum of their indexes. */
class AcknowledgedIndexes {
  private readonly completions: number[] = [];
  /** At position p: the write with the highest index among the first p + 1 completions. */
  private readonly highest: { index: number; operation: Operation }[] = [];

  constructor(operations: readonly Operation[]) {
    const writes: { index: number; operation: Operation }[] = [];
    for (const operation of operations) {
      const index = answerIndex(operation);
      if (WRITE_KINDS.has(operation.f) && operation.outcome === 'ok' && index !== undefined) writes.push({ index, operation });
    }
    writes.sort((a, b) => a.operation.completedAt - b.operation.completedAt);
    for (const write of writes) {
      const before = this.highest[this.highest.length - 1];
      this.completions.push(write.operation.completedAt);
      this.highest.push(before !== undefined && before.index >= write.index ? before : write);
    }
  }

  /** The acknowledged write with the highest index among those completed strictly before `time`. */
  highestBefore(time: number): { index: number; operation: Operation } | undefined {
    const before = countBelow(this.completions, time);
    return before === 0 ? undefined : this.highest[before - 1];
  }
}

/** Must the read reflect this acknowledged write, by its bounds? */
function mustReflect(write: Operation, bounds: Bounds): 'time' | 'min-index' | undefined {
  if (bounds.visibleBefore !== undefined && write.completedAt < bounds.visibleBefore) return 'time';
  const index = answerIndex(write);
  if (bounds.minIndex !== undefined && index !== undefined && index <= bounds.minIndex) return 'min-index';
  return undefined;
}

function kindOf(reason: 'time' | 'min-index'): string {
  return reason === 'time' ? 'stale-read' : 'min-index-violated';
}

function checkByIndex(read: Operation, bounds: Bounds, acknowledged: AcknowledgedIndexes, anomalies: AnomalyList): void {
  const index = answerIndex(read);
  if (index === undefined) return;
  if (bounds.minIndex !== undefined && index < bounds.minIndex) {
    anomalies.add('min-index-violated', `a read with min_index ${bounds.minIndex} answered index ${index}`, read);
  }
  if (bounds.visibleBefore === undefined) return;
  const required = acknowledged.highestBefore(bounds.visibleBefore);
  if (required !== undefined && index < required.index) {
    anomalies.add('stale-read', `a ${readLevel(read)} read answered index ${index}, below index ${required.index} of a write acknowledged before its bound`, required.operation, read);
  }
}

function reportMissing(read: Operation, write: Operation, id: string, reason: 'time' | 'min-index', anomalies: AnomalyList): void {
  const why = reason === 'time' ? 'before its staleness bound' : 'at an index within its min_index';
  anomalies.add(kindOf(reason), `a ${readLevel(read)} read does not show transfer ${id}, acknowledged ${why}`, write, read);
}

function checkTransferRead(read: Operation, bounds: Bounds, records: Map<string, TransferRecord>, anomalies: AnomalyList): void {
  const record = records.get(invokeValue(ReadTransferInvoke, read).id);
  if (record?.acknowledged === undefined || resultValue(ReadTransferOk, read).found) return;
  const reason = mustReflect(record.acknowledged, bounds);
  if (reason !== undefined) reportMissing(read, record.acknowledged, record.id, reason, anomalies);
}

/** An account's acknowledged transfers by acknowledgement time and by index. */
interface AccountOrders {
  byTime: AcknowledgedOrder;
  byIndex: AcknowledgedOrder;
}

function checkAccountRead(read: Operation, bounds: Bounds, orders: AccountOrders | undefined, anomalies: AnomalyList): void {
  if (orders === undefined) return;
  const ids = resultValue(ReadAccountTransfersOk, read).ids;
  const late = bounds.visibleBefore === undefined ? undefined : orders.byTime.missing(ids, bounds.visibleBefore);
  if (late !== undefined) return reportMissing(read, late.first.acknowledged as Operation, late.first.id, 'time', anomalies);
  const low = bounds.minIndex === undefined ? undefined : orders.byIndex.missing(ids, bounds.minIndex + 1);
  if (low !== undefined) reportMissing(read, low.first.acknowledged as Operation, low.first.id, 'min-index', anomalies);
}

function accountOrders(records: Map<string, TransferRecord>): Map<string, AccountOrders> {
  const orders = new Map<string, AccountOrders>();
  for (const [account, ofAccount] of transfersByAccount(records)) {
    orders.set(account, {
      byTime: new AcknowledgedOrder(ofAccount, (acknowledgement) => acknowledgement.completedAt),
      byIndex: new AcknowledgedOrder(ofAccount, answerIndex),
    });
  }
  return orders;
}

export function checkStaleness(history: ParsedHistory, options: StalenessOptions = {}): Verdict {
  const leaseIsLinearizable = options.leaseIsLinearizable ?? true;
  const stalenessBoundsHold = options.stalenessBoundsHold ?? true;
  const anomalies = new AnomalyList();
  const acknowledged = new AcknowledgedIndexes(history.operations);
  const records = indexTransfers(history.operations);
  const orders = accountOrders(records);
  let boundedReads = 0;
  for (const read of history.operations) {
    if (!read.f.startsWith('read-') || read.outcome !== 'ok') continue;
    const bounds = boundsOf(read, leaseIsLinearizable, stalenessBoundsHold);
    if (bounds.visibleBefore === undefined && bounds.minIndex === undefined) continue;
    boundedReads++;
    checkByIndex(read, bounds, acknowledged, anomalies);
    if (read.f === 'read-transfer') checkTransferRead(read, bounds, records, anomalies);
    if (read.f === 'read-account-transfers') checkAccountRead(read, bounds, orders.get(invokeValue(ReadAccountTransfersInvoke, read).account), anomalies);
  }
  return verdictOf(anomalies, false, { boundedReads });
}
