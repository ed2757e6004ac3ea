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
import { accountsOf, indexTransfers } from './ledger-index.js';
import type { TransferRecord } from './ledger-index.js';
import { AnomalyList, claimsLinearizable, readLevel, verdictOf } from './verdict.js';
import type { Verdict } from './verdict.js';

export interface StalenessOptions {
  leaseIsLinearizable?: boolean;
}

const NANOSECONDS_PER_MS = 1_000_000;

interface Bounds {
  /** Writes acknowledged before this time (ns) must be visible; undefined when the read promises nothing by time. */
  visibleBefore: number | undefined;
  minIndex: number | undefined;
}

function boundsOf(read: Operation, leaseIsLinearizable: boolean): Bounds {
  const value = read.invoke.value as { max_staleness_ms?: number; min_index?: number } | undefined;
  const minIndex = value?.min_index;
  if (claimsLinearizable(read, leaseIsLinearizable)) return { visibleBefore: read.call, minIndex };
  const staleness = readLevel(read) === 'stale' ? value?.max_staleness_ms : undefined;
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
    let low = 0;
    let high = this.completions.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.completions[middle] as number) < time) low = middle + 1;
      else high = middle;
    }
    return low === 0 ? undefined : this.highest[low - 1];
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

/** What the read shows must include every acknowledged transfer its bounds cover (one anomaly per read). */
function checkByValue(read: Operation, bounds: Bounds, records: Map<string, TransferRecord>, anomalies: AnomalyList): void {
  let expected: TransferRecord[] = [];
  let shown: ReadonlySet<string> = new Set();
  if (read.f === 'read-transfer') {
    const record = records.get(invokeValue(ReadTransferInvoke, read).id);
    expected = record === undefined ? [] : [record];
    shown = resultValue(ReadTransferOk, read).found ? new Set(expected.map((each) => each.id)) : new Set();
  } else if (read.f === 'read-account-transfers') {
    const account = invokeValue(ReadAccountTransfersInvoke, read).account;
    expected = [...records.values()].filter((record) => accountsOf(record).includes(account));
    shown = new Set(resultValue(ReadAccountTransfersOk, read).ids);
  }
  for (const record of expected) {
    const write = record.acknowledged;
    if (write === undefined || shown.has(record.id)) continue;
    const reason = mustReflect(write, bounds);
    if (reason === undefined) continue;
    anomalies.add(kindOf(reason), `a ${readLevel(read)} read does not show transfer ${record.id}, acknowledged ${reason === 'time' ? 'before its staleness bound' : 'at an index within its min_index'}`, write, read);
    return;
  }
}

export function checkStaleness(history: ParsedHistory, options: StalenessOptions = {}): Verdict {
  const leaseIsLinearizable = options.leaseIsLinearizable ?? true;
  const anomalies = new AnomalyList();
  const acknowledged = new AcknowledgedIndexes(history.operations);
  const records = indexTransfers(history.operations);
  let boundedReads = 0;
  for (const read of history.operations) {
    if (!read.f.startsWith('read-') || read.outcome !== 'ok') continue;
    const bounds = boundsOf(read, leaseIsLinearizable);
    if (bounds.visibleBefore === undefined && bounds.minIndex === undefined) continue;
    boundedReads++;
    checkByIndex(read, bounds, acknowledged, anomalies);
    checkByValue(read, bounds, records, anomalies);
  }
  return verdictOf(anomalies, false, { boundedReads });
}
