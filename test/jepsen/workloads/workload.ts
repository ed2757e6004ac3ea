// What a workload gives the runner: a setup, the next operation of a client,
// and the reads of the final phase. An operation names its history kind and
// arguments, the HTTP request that performs it, and how a 2xx answer becomes
// the completion (ok, or fail for a refused item). Non-2xx answers and
// transport errors are classified by the runner, the same for every workload.

import type { Prng } from '../../../src/lib/prng.js';
import type { Answer, HttpRequest } from '../client.js';

export type Level = 'linearizable' | 'lease' | 'stale';
export const LEVELS: readonly Level[] = ['linearizable', 'lease', 'stale'];

export interface Completion {
  readonly type: 'ok' | 'fail';
  readonly value: unknown;
  readonly error?: string;
}

export interface Operation {
  readonly f: string;
  readonly value: Record<string, unknown>;
  readonly request: HttpRequest;
  /** The completion of a 2xx answer (of every page, in order, for a paged read). */
  readonly complete: (answer: Answer, pages: readonly Answer[]) => Completion;
  /** For a paged read: the request of the next page after this 2xx answer, if there is one. */
  readonly nextPage?: (answer: Answer) => HttpRequest | undefined;
  /** Reads answer `fail` on a timeout: a read cannot have taken effect. */
  readonly isRead: boolean;
}

/** Sends setup requests until they succeed (setup runs before any fault). */
export type SetupSend = (request: HttpRequest) => Promise<Answer>;

/** A client's memory between its operations (the ids it wrote, the last index it saw). */
export interface ClientState {
  readonly process: number;
  readonly rng: Prng;
  counter: number;
  lastIndex: number;
}

export interface Workload {
  readonly name: string;
  /** Creates the records the operations use; answers what run.json records about them. */
  setup(send: SetupSend, record: (op: Operation, answer: Answer) => void): Promise<Record<string, unknown>>;
  next(client: ClientState): Operation;
  /** Reads of the final phase (each is sent to every node). */
  finalReads(): Operation[];
}

/** The query string of a read at `level`, with a staleness bound and min_index sometimes. */
export function readQuery(level: Level, client: ClientState | undefined): { query: string; extra: Record<string, unknown> } {
  const params = new URLSearchParams({ consistency: level });
  const extra: Record<string, unknown> = {};
  if (client && level === 'stale' && client.rng.chance(0.5)) {
    const bound = client.rng.pick([0, 50, 200, 1000, 5000]);
    params.set('max_staleness_ms', String(bound));
    extra.max_staleness_ms = bound;
  }
  if (client && client.lastIndex > 0 && client.rng.chance(0.3)) {
    params.set('min_index', String(client.lastIndex));
    extra.min_index = client.lastIndex;
  }
  return { query: params.toString(), extra };
}

/** The first result item of a write answer: ok for the given statuses, fail with the item's code otherwise. */
export function itemCompletion(answer: Answer, okStatuses: readonly string[]): Completion {
  const item = answer.body?.results?.[0];
  if (item && okStatuses.includes(item.status)) return { type: 'ok', value: { status: item.status } };
  const code = typeof item?.code === 'string' ? item.code : 'no_result';
  return { type: 'fail', value: { code }, error: code };
}
