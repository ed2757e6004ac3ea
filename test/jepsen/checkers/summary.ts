// Runs every checker that applies to a history and builds the report object
// (JSON) that the runner writes and the report page reads: each checker's
// verdict with the offending operations quoted, one overall verdict, and the
// availability in each nemesis window (the share of client operations invoked
// in the window that completed ok), per window and per fault kind.

import type { HistoryEvent, Operation, ParsedHistory } from '../history.js';
import { pairOperations, readHistoryFile } from '../history.js';
import { checkBank } from './bank.js';
import type { BankOptions } from './bank.js';
import { checkTransferLinearizability } from './linearizable.js';
import type { LinearizabilityLimits } from './linearizable.js';
import { finalPhaseStart } from './ledger-index.js';
import { checkHistoryPrefix } from './prefix.js';
import { checkReservations } from './reservations.js';
import type { ReservationOptions } from './reservations.js';
import { checkStaleness } from './staleness.js';
import { combineValidity } from './verdict.js';
import type { Validity, Verdict } from './verdict.js';

export interface SummaryOptions {
  bank?: BankOptions;
  reservations?: ReservationOptions;
  linearizability?: Partial<LinearizabilityLimits>;
  /** Check lease reads as linearizable (default true). */
  leaseIsLinearizable?: boolean;
  /** Whether stale reads are held to their max_staleness_ms (default true; see StalenessOptions). */
  stalenessBoundsHold?: boolean;
}

export interface OutcomeCounts {
  ok: number;
  fail: number;
  info: number;
  total: number;
  /** ok / total; null when no operation was invoked. */
  availability: number | null;
}

export interface FaultWindow extends OutcomeCounts {
  kind: string;
  /** The nemesis events that opened and closed it (closed is absent when the run ended first). */
  opened: HistoryEvent;
  closed: HistoryEvent | undefined;
  startMs: number;
  endMs: number;
}

export interface Availability {
  windows: FaultWindow[];
  byKind: Record<string, OutcomeCounts>;
  /** Operations invoked outside every fault window, before the final phase. */
  outsideFaults: OutcomeCounts;
}

export interface Report {
  valid: Validity;
  checkers: Record<string, Verdict>;
  availability: Availability;
  stats: { operations: number; nemesisEvents: number; durationMs: number };
}

/** Opening nemesis f -> closing f. `start-X` closes with `stop-X`; other events not listed are instants. */
const CLOSERS: Record<string, string> = { kill: 'restart', pause: 'resume', 'clock-skew': 'clock-reset', 'clock-rate': 'clock-rate-reset', 'disk-full': 'disk-free' };

function closerOf(f: string): string | undefined {
  return f.startsWith('start-') ? `stop-${f.slice('start-'.length)}` : CLOSERS[f];
}

function kindOf(f: string): string {
  return f.startsWith('start-') ? f.slice('start-'.length) : f;
}

const MS = 1_000_000;

function countsOf(operations: readonly Operation[]): OutcomeCounts {
  const counts = { ok: 0, fail: 0, info: 0 };
  for (const operation of operations) counts[operation.outcome]++;
  const total = counts.ok + counts.fail + counts.info;
  return { ...counts, total, availability: total === 0 ? null : counts.ok / total };
}

function addCounts(a: OutcomeCounts, b: OutcomeCounts): OutcomeCounts {
  const sum = { ok: a.ok + b.ok, fail: a.fail + b.fail, info: a.info + b.info };
  const total = sum.ok + sum.fail + sum.info;
  return { ...sum, total, availability: total === 0 ? null : sum.ok / total };
}

/** Fault windows from the nemesis events: paired start/stop (first in, first out), or from an instant to the next nemesis event. */
function faultSpans(history: ParsedHistory, workloadEnd: number): { kind: string; opened: HistoryEvent; closed: HistoryEvent | undefined; start: number; end: number }[] {
  const events = history.nemesis.filter((event) => !event.f.startsWith('final') && event.type !== 'invoke');
  const closing = new Set(events.map((event) => closerOf(event.f)).filter((f): f is string => f !== undefined));
  const open = new Map<string, HistoryEvent[]>();
  const spans: { kind: string; opened: HistoryEvent; closed: HistoryEvent | undefined; start: number; end: number }[] = [];
  events.forEach((event, position) => {
    const closer = closerOf(event.f);
    if (closer !== undefined) {
      open.set(closer, [...(open.get(closer) ?? []), event]);
    } else if (closing.has(event.f)) {
      const opened = open.get(event.f)?.shift();
      if (opened !== undefined) spans.push({ kind: kindOf(opened.f), opened, closed: event, start: opened.time, end: event.time });
    } else {
      const next = events[position + 1];
      spans.push({ kind: event.f, opened: event, closed: next, start: event.time, end: Math.min(next?.time ?? workloadEnd, workloadEnd) });
    }
  });
  for (const waiting of open.values()) {
    for (const opened of waiting) spans.push({ kind: kindOf(opened.f), opened, closed: undefined, start: opened.time, end: workloadEnd });
  }
  return spans.sort((a, b) => a.start - b.start);
}

export function availabilityOf(history: ParsedHistory): Availability {
  const workloadEnd = finalPhaseStart(history);
  const workload = history.operations.filter((operation) => operation.call < workloadEnd);
  const inside = new Set<Operation>();
  const windows: FaultWindow[] = faultSpans(history, workloadEnd).map((span) => {
    const during = workload.filter((operation) => operation.call >= span.start && operation.call < span.end);
    for (const operation of during) inside.add(operation);
    return { kind: span.kind, opened: span.opened, closed: span.closed, startMs: span.start / MS, endMs: span.end / MS, ...countsOf(during) };
  });
  const byKind: Record<string, OutcomeCounts> = {};
  for (const window of windows) byKind[window.kind] = addCounts(byKind[window.kind] ?? countsOf([]), window);
  return { windows, byKind, outsideFaults: countsOf(workload.filter((operation) => !inside.has(operation))) };
}

const has = (history: ParsedHistory, ...kinds: string[]): boolean => history.operations.some((operation) => kinds.includes(operation.f));

/** Runs the checkers that apply to the operations present. */
export function checkHistory(history: ParsedHistory, options: SummaryOptions = {}): Report {
  const lease = options.leaseIsLinearizable ?? true;
  const checkers: Record<string, Verdict> = {};
  if (has(history, 'transfer', 'read-balances')) checkers['bank'] = checkBank(history, options.bank);
  if (has(history, 'transfer', 'post', 'void', 'read-transfer')) {
    checkers['linearizability'] = checkTransferLinearizability(history, { leaseIsLinearizable: lease, ...(options.linearizability ? { limits: options.linearizability } : {}) });
  }
  if (has(history, 'read-account-transfers')) checkers['history-prefix'] = checkHistoryPrefix(history, { leaseIsLinearizable: lease });
  if (has(history, 'hold', 'confirm', 'release', 'read-item', 'read-reservation')) {
    checkers['reservations'] = checkReservations(history, { leaseIsLinearizable: lease, ...options.reservations });
  }
  if (history.operations.some((operation) => operation.f.startsWith('read-'))) checkers['staleness'] = checkStaleness(history, { leaseIsLinearizable: lease, stalenessBoundsHold: options.stalenessBoundsHold ?? true });
  return {
    valid: combineValidity(Object.values(checkers).map((verdict) => verdict.valid)),
    checkers,
    availability: availabilityOf(history),
    stats: { operations: history.operations.length, nemesisEvents: history.nemesis.length, durationMs: history.endTime / MS },
  };
}

export function checkEvents(events: readonly HistoryEvent[], options: SummaryOptions = {}): Report {
  return checkHistory(pairOperations(events), options);
}

export function checkHistoryFile(path: string, options: SummaryOptions = {}): Report {
  return checkEvents(readHistoryFile(path), options);
}
