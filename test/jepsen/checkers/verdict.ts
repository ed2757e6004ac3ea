// The shape every checker answers with, and the small helpers they share to
// build it: an anomaly names its kind, says what is wrong, and quotes the
// offending events exactly as they appear in the history.

import type { HistoryEvent, Operation, ReadLevel } from '../history.js';

export type Validity = true | false | 'unknown';

export interface Anomaly {
  kind: string;
  message: string;
  /** The offending events, quoted from the history (invocation and completion of each operation). */
  ops: HistoryEvent[];
}

export interface Verdict {
  valid: Validity;
  anomalies: Anomaly[];
  stats: Record<string, unknown>;
}

/** At most this many anomalies are kept per checker, so a broken run still gives a readable report. */
export const MAX_ANOMALIES = 200;

export function quote(...operations: (Operation | undefined)[]): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  for (const operation of operations) {
    if (operation === undefined) continue;
    events.push(operation.invoke);
    if (operation.completion !== undefined) events.push(operation.completion);
  }
  return events;
}

/** Collects anomalies up to the cap and counts the ones left out. */
export class AnomalyList {
  readonly items: Anomaly[] = [];
  omitted = 0;

  add(kind: string, message: string, ...operations: (Operation | undefined)[]): void {
    if (this.items.length >= MAX_ANOMALIES) {
      this.omitted++;
      return;
    }
    this.items.push({ kind, message, ops: quote(...operations) });
  }

  get count(): number {
    return this.items.length + this.omitted;
  }
}

/** valid false when anything was found; else 'unknown' when some part could not be decided; else true. */
export function verdictOf(anomalies: AnomalyList, undecided: boolean, stats: Record<string, unknown>): Verdict {
  const valid: Validity = anomalies.count > 0 ? false : undecided ? 'unknown' : true;
  const withOmitted = anomalies.omitted > 0 ? { ...stats, anomaliesOmitted: anomalies.omitted } : stats;
  return { valid, anomalies: anomalies.items, stats: withOmitted };
}

/** Combines verdicts: false wins over 'unknown', which wins over true. */
export function combineValidity(values: readonly Validity[]): Validity {
  if (values.includes(false)) return false;
  if (values.includes('unknown')) return 'unknown';
  return true;
}

/** The consistency level of a read; the contract's default is linearizable. */
export function readLevel(operation: Operation): ReadLevel {
  const value = operation.invoke.value as { level?: ReadLevel } | undefined;
  return value?.level ?? 'linearizable';
}

/** Reads whose level promises linearizability (lease reads do, within the configured clock drift). */
export function claimsLinearizable(operation: Operation, leaseIsLinearizable: boolean): boolean {
  const level = readLevel(operation);
  return level === 'linearizable' || (level === 'lease' && leaseIsLinearizable);
}

export function describeOperation(operation: Operation): string {
  const result = operation.completion === undefined ? 'no completion' : `${operation.outcome} ${JSON.stringify(operation.completion.value ?? null)}`;
  return `#${operation.id} p${operation.process} ${operation.f} ${JSON.stringify(operation.invoke.value ?? null)} -> ${result}`;
}
