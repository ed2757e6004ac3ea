// Hand-made histories for the checkers' tests: events written in the shared
// format with times given in milliseconds, serialised to JSON lines and read
// back through parseHistory, so every test also exercises the reader.

import type { EventType, HistoryEvent, ParsedHistory } from '../history.js';
import { formatHistory, NEMESIS_PROCESS, pairOperations, parseHistory } from '../history.js';

const NS_PER_MS = 1_000_000;

export interface Completion {
  type: Exclude<EventType, 'invoke'>;
  value?: unknown;
  index?: number;
  error?: string;
}

export class HistoryBuilder {
  readonly events: HistoryEvent[] = [];

  private push(event: HistoryEvent): this {
    this.events.push(event);
    return this;
  }

  invoke(process: number, f: string, value: unknown, atMs: number, node = 'n1'): this {
    return this.push({ type: 'invoke', process, f, value, time: Math.round(atMs * NS_PER_MS), node });
  }

  complete(process: number, f: string, completion: Completion, atMs: number, node = 'n1'): this {
    const event: HistoryEvent = { type: completion.type, process, f, time: Math.round(atMs * NS_PER_MS), node };
    if (completion.value !== undefined) event.value = completion.value;
    if (completion.index !== undefined) event.index = completion.index;
    if (completion.error !== undefined) event.error = completion.error;
    return this.push(event);
  }

  /** An operation that runs alone from `fromMs` to `toMs` (events are sorted by time in `parsed`). */
  op(process: number, f: string, value: unknown, completion: Completion, fromMs: number, toMs: number): this {
    return this.invoke(process, f, value, fromMs).complete(process, f, completion, toMs);
  }

  nemesis(f: string, atMs: number, value: unknown = {}): this {
    return this.push({ type: 'info', process: NEMESIS_PROCESS, f, value, time: Math.round(atMs * NS_PER_MS) });
  }

  /** The history as the runner would write it: sorted by time, stable for equal times. */
  lines(): string {
    const sorted = this.events.map((event, position) => ({ event, position })).sort((a, b) => a.event.time - b.event.time || a.position - b.position);
    return formatHistory(sorted.map(({ event }) => event));
  }

  parsed(): ParsedHistory {
    return pairOperations(parseHistory(this.lines()));
  }
}

export const ok = (value?: unknown, index?: number): Completion => ({ type: 'ok', ...(value === undefined ? {} : { value }), ...(index === undefined ? {} : { index }) });
export const fail = (code: string): Completion => ({ type: 'fail', value: { code }, error: code });
export const info = (error = 'timeout'): Completion => ({ type: 'info', error });
export const created = (index?: number): Completion => ok({ status: 'created' }, index);
