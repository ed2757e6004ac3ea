// Linearizability checking: the Wing-Gong-Lowe search with Lowe's cache of
// (linearized set, state) pairs, as Porcupine's checker.go does it, and
// P-compositionality: the history is split by key and each key is searched
// alone (Herlihy-Wing locality), so the cost grows with the concurrency on one
// key rather than with the whole run. Every key search has a time and a state
// budget, and so has the whole check; a search that runs out answers
// 'unknown', never true.
//
// Operations that completed with info may or may not have taken effect: their
// completion is placed at +infinity, so the search may linearize them at any
// point after their invocation, including after everything else (= never
// observed). Failed operations took no effect and are left out by the callers.
//
// An operation that touches two keys (a post touches its own id and its pending
// transfer) is checked on each key's projection: a violation on a projection
// is a real violation; a pass on every projection is what the locality gives
// for single-key operations and a necessary condition for the rest.

import { performance } from 'node:perf_hooks';
import { unreachable } from '../../../src/lib/assert.js';
import { Prng } from '../../../src/lib/prng.js';
import type { Operation, ParsedHistory } from '../history.js';
import { invokeValue, ReadTransferInvoke, ReadTransferOk, resultValue, SettleInvoke, toBigInt, TransferInvoke } from '../history.js';
import { AnomalyList, claimsLinearizable, combineValidity, verdictOf } from './verdict.js';
import type { Validity, Verdict } from './verdict.js';

/** A sequential specification. `step` answers whether `output` is allowed for `input` in `state`, and the next state. */
export interface Model<State, Input, Output> {
  init(): State;
  step(state: State, input: Input, output: Output): [boolean, State];
  /** State equality for the cache; default compares `hash`. */
  equal?(a: State, b: State): boolean;
  /** A string that equal states share; default JSON.stringify. */
  hash?(state: State): string;
  describe?(input: Input, output: Output): string;
}

export interface LinearOperation<Input, Output> {
  input: Input;
  output: Output;
  /** Invocation time. */
  call: number;
  /** Completion time; Infinity when the outcome is unknown. */
  ret: number;
  /** The history operation this came from, quoted in reports. */
  source?: Operation;
}

export interface LinearizabilityLimits {
  /** Wall-clock budget of the whole check. */
  timeLimitMs: number;
  /** Wall-clock budget of one key. */
  timeLimitPerKeyMs: number;
  /** Cached (linearized set, state) pairs one key may hold. */
  maxStatesPerKey: number;
  /** Cached pairs over all keys. */
  maxStatesTotal: number;
  /** Approximate bytes of the cache of the key being searched (a key's cache is dropped when it is done). */
  maxMemoryBytes: number;
}

export const DEFAULT_LIMITS: LinearizabilityLimits = {
  timeLimitMs: 60_000,
  timeLimitPerKeyMs: 10_000,
  maxStatesPerKey: 200_000,
  maxStatesTotal: 2_000_000,
  maxMemoryBytes: 256 * 1024 * 1024,
};

export interface KeyResult<Input, Output> {
  key: string;
  valid: Validity;
  /** Why the search stopped without an answer ('unknown'). */
  reason?: string;
  operationCount: number;
  statesExplored: number;
  elapsedMs: number;
  /** For a non-linearizable key: the longest linearizable prefix found, in linearization order. */
  longestPrefix?: LinearOperation<Input, Output>[];
  /** For a non-linearizable key: operations left out of that prefix, earliest completion first. */
  leftOut?: LinearOperation<Input, Output>[];
}

export interface LinearizabilityResult<Input, Output> {
  valid: Validity;
  keys: KeyResult<Input, Output>[];
  statesExplored: number;
  elapsedMs: number;
}

interface Entry {
  op: number;
  isCall: boolean;
  /** For a call: its return entry. */
  match: Entry | undefined;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/** Calls sorted before returns at equal times: equal timestamps count as concurrent. */
function buildEntries<I, O>(operations: readonly LinearOperation<I, O>[]): Entry {
  const points: { op: number; isCall: boolean; time: number }[] = [];
  operations.forEach((operation, op) => {
    points.push({ op, isCall: true, time: operation.call });
    points.push({ op, isCall: false, time: operation.ret });
  });
  points.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.op - b.op;
  });
  const head: Entry = { op: -1, isCall: false, match: undefined, prev: undefined, next: undefined };
  const returns = new Map<number, Entry>();
  let last = head;
  for (const point of points) {
    const entry: Entry = { op: point.op, isCall: point.isCall, match: undefined, prev: last, next: undefined };
    if (!point.isCall) returns.set(point.op, entry);
    last.next = entry;
    last = entry;
  }
  for (let entry = head.next; entry !== undefined; entry = entry.next) {
    if (entry.isCall) entry.match = returns.get(entry.op);
  }
  return head;
}

/** Takes a call and its return out of the list. */
function lift(entry: Entry): void {
  (entry.prev as Entry).next = entry.next;
  if (entry.next !== undefined) entry.next.prev = entry.prev;
  const match = entry.match as Entry;
  (match.prev as Entry).next = match.next;
  if (match.next !== undefined) match.next.prev = match.prev;
}

function unlift(entry: Entry): void {
  const match = entry.match as Entry;
  (match.prev as Entry).next = match;
  if (match.next !== undefined) match.next.prev = match;
  (entry.prev as Entry).next = entry;
  if (entry.next !== undefined) entry.next.prev = entry;
}

/** The linearized set as a bitset with a Zobrist hash kept up to date on every flip. */
class LinearizedSet {
  readonly words: Uint32Array;
  hashLow = 0;
  hashHigh = 0;
  private readonly keysLow: Uint32Array;
  private readonly keysHigh: Uint32Array;

  constructor(size: number, seed: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
    const prng = new Prng(seed);
    this.keysLow = Uint32Array.from({ length: size }, () => prng.nextUint32());
    this.keysHigh = Uint32Array.from({ length: size }, () => prng.nextUint32());
  }

  flip(op: number): void {
    const word = op >>> 5;
    this.words[word] = ((this.words[word] as number) ^ (1 << (op & 31))) >>> 0;
    this.hashLow = (this.hashLow ^ (this.keysLow[op] as number)) >>> 0;
    this.hashHigh = (this.hashHigh ^ (this.keysHigh[op] as number)) >>> 0;
  }

  sameAs(words: Uint32Array): boolean {
    for (let i = 0; i < words.length; i++) if (words[i] !== this.words[i]) return false;
    return true;
  }
}

interface Budget {
  readonly limits: LinearizabilityLimits;
  readonly startedAt: number;
  statesTotal: number;
}

type SearchOutcome<I, O> = Omit<KeyResult<I, O>, 'key' | 'operationCount' | 'elapsedMs'>;

/** One key's search (Porcupine's checkSingle): true, false with the longest prefix, or 'unknown' with a reason. */
function searchKey<S, I, O>(model: Model<S, I, O>, operations: readonly LinearOperation<I, O>[], budget: Budget): SearchOutcome<I, O> {
  const hash = model.hash ?? ((state: S) => JSON.stringify(state));
  const equal = model.equal ?? ((a: S, b: S) => hash(a) === hash(b));
  const head = buildEntries(operations);
  const linearized = new LinearizedSet(operations.length, operations.length);
  const cache = new Map<string, { words: Uint32Array; state: S }[]>();
  const calls: { entry: Entry; state: S }[] = [];
  let longest: number[] = [];
  let state = model.init();
  let entry = head.next;
  let statesExplored = 0;
  let iterations = 0;
  const keyStartedAt = performance.now();
  const entryBytes = linearized.words.length * 4 + 96;
  while (head.next !== undefined) {
    if (++iterations % 1024 === 0) {
      const now = performance.now();
      if (now - keyStartedAt > budget.limits.timeLimitPerKeyMs) return { valid: 'unknown', reason: `time limit per key (${budget.limits.timeLimitPerKeyMs} ms)`, statesExplored };
      if (now - budget.startedAt > budget.limits.timeLimitMs) return { valid: 'unknown', reason: `time limit (${budget.limits.timeLimitMs} ms)`, statesExplored };
    }
    const current = entry as Entry;
    if (!current.isCall) {
      // A return whose operation is not linearized yet: nothing fits here, undo the last choice.
      if (calls.length === 0) return { valid: false, statesExplored, ...explain(operations, longest) };
      const top = calls.pop() as { entry: Entry; state: S };
      state = top.state;
      linearized.flip(top.entry.op);
      unlift(top.entry);
      entry = top.entry.next;
      continue;
    }
    const operation = operations[current.op] as LinearOperation<I, O>;
    const [allowed, next] = model.step(state, operation.input, operation.output);
    if (!allowed) {
      entry = current.next;
      continue;
    }
    linearized.flip(current.op);
    const cacheKey = `${linearized.hashLow}:${linearized.hashHigh}:${hash(next)}`;
    const bucket = cache.get(cacheKey) ?? [];
    if (bucket.some((seen) => linearized.sameAs(seen.words) && equal(seen.state, next))) {
      linearized.flip(current.op);
      entry = current.next;
      continue;
    }
    bucket.push({ words: linearized.words.slice(), state: next });
    cache.set(cacheKey, bucket);
    statesExplored++;
    budget.statesTotal++;
    const exhausted = exhaustedBudget(budget, statesExplored, statesExplored * entryBytes);
    if (exhausted !== undefined) return { valid: 'unknown', reason: exhausted, statesExplored };
    calls.push({ entry: current, state });
    if (calls.length > longest.length) longest = calls.map((call) => call.entry.op);
    state = next;
    lift(current);
    entry = head.next;
  }
  return { valid: true, statesExplored };
}

function exhaustedBudget(budget: Budget, statesOfKey: number, bytesOfKey: number): string | undefined {
  const { limits } = budget;
  if (statesOfKey > limits.maxStatesPerKey) return `state limit per key (${limits.maxStatesPerKey})`;
  if (budget.statesTotal > limits.maxStatesTotal) return `state limit (${limits.maxStatesTotal})`;
  if (bytesOfKey > limits.maxMemoryBytes) return `memory limit (${limits.maxMemoryBytes} bytes)`;
  return undefined;
}

function explain<I, O>(operations: readonly LinearOperation<I, O>[], longest: readonly number[]): Pick<KeyResult<I, O>, 'longestPrefix' | 'leftOut'> {
  const inPrefix = new Set(longest);
  const leftOut = operations.filter((_, op) => !inPrefix.has(op)).sort((a, b) => a.ret - b.ret);
  return { longestPrefix: longest.map((op) => operations[op] as LinearOperation<I, O>), leftOut };
}

/**
 * Checks each key's operations against the model. The result is false when some key
 * has no linearization, else 'unknown' when some key ran out of budget, else true.
 */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  opsByKey: ReadonlyMap<string, readonly LinearOperation<I, O>[]> | Readonly<Record<string, readonly LinearOperation<I, O>[]>>,
  limits: Partial<LinearizabilityLimits> = {},
): LinearizabilityResult<I, O> {
  const budget: Budget = { limits: { ...DEFAULT_LIMITS, ...limits }, startedAt: performance.now(), statesTotal: 0 };
  const entries = opsByKey instanceof Map ? [...opsByKey.entries()] : Object.entries(opsByKey);
  const keys: KeyResult<I, O>[] = [];
  for (const [key, operations] of entries) {
    const keyStartedAt = performance.now();
    const outcome = searchKey(model, operations, budget);
    keys.push({ key, operationCount: operations.length, elapsedMs: performance.now() - keyStartedAt, ...outcome });
  }
  return {
    valid: combineValidity(keys.map((key) => key.valid)),
    keys,
    statesExplored: budget.statesTotal,
    elapsedMs: performance.now() - budget.startedAt,
  };
}

// ---------------------------------------------------------------------------
// A read/write register, the textbook model (used by the property tests).

export type RegisterInput = { kind: 'write'; value: number } | { kind: 'read' };
export type RegisterOutput = number | undefined;

export const registerModel: Model<number, RegisterInput, RegisterOutput> = {
  init: () => 0,
  step: (state, input, output) => (input.kind === 'write' ? [true, input.value] : [output === state, state]),
  hash: (state) => String(state),
  describe: (input, output) => (input.kind === 'write' ? `write ${input.value}` : `read -> ${String(output)}`),
};

// ---------------------------------------------------------------------------
// The ledger's model per transfer id: absent, then pending, posted, voided or expired.

export type TransferStatus = 'pending' | 'posted' | 'voided' | 'expired';
export type TransferState = { status: 'absent' } | { status: TransferStatus; amount: string | undefined };
export type TransferInput =
  | { kind: 'create'; status: TransferStatus; amount: string | undefined }
  | { kind: 'settle'; to: 'posted' | 'voided' }
  | { kind: 'read' };
export type TransferOutput =
  | { kind: 'write'; result: 'created' | 'exists' | 'unknown' }
  | { kind: 'read'; found: false }
  | { kind: 'read'; found: true; status: string; amount: string | undefined };

function stepCreate(state: TransferState, input: Extract<TransferInput, { kind: 'create' }>, result: string): [boolean, TransferState] {
  const created: TransferState = { status: input.status, amount: input.amount };
  if (result === 'created') return [state.status === 'absent', created];
  if (result === 'exists') return [state.status !== 'absent', state];
  return [true, state.status === 'absent' ? created : state];
}

function stepSettle(state: TransferState, to: 'posted' | 'voided', result: string): [boolean, TransferState] {
  const settled: TransferState = state.status === 'absent' ? state : { ...state, status: to };
  if (result === 'created') return [state.status === 'pending', settled];
  if (result === 'exists') return [state.status === to, state];
  return [true, state.status === 'pending' ? settled : state];
}

function stepRead(state: TransferState, output: TransferOutput): [boolean, TransferState] {
  if (output.kind !== 'read') return [false, state];
  if (!output.found) return [state.status === 'absent', state];
  if (state.status === 'absent') return [false, state];
  if (state.amount !== undefined && output.amount !== undefined && state.amount !== output.amount) return [false, state];
  if (output.status === state.status) return [true, state];
  // A pending transfer's timeout is decided at apply time, between any two operations.
  if (state.status === 'pending' && output.status === 'expired') return [true, { ...state, status: 'expired' }];
  return [false, state];
}

export const transferModel: Model<TransferState, TransferInput, TransferOutput> = {
  init: () => ({ status: 'absent' }),
  step(state, input, output) {
    const result = output.kind === 'write' ? output.result : 'unknown';
    switch (input.kind) {
      case 'create':
        return output.kind === 'write' ? stepCreate(state, input, result) : [false, state];
      case 'settle':
        return output.kind === 'write' ? stepSettle(state, input.to, result) : [false, state];
      case 'read':
        return stepRead(state, output);
      default:
        return unreachable(input, 'transfer model input');
    }
  },
  hash: (state) => (state.status === 'absent' ? 'absent' : `${state.status}:${state.amount ?? '?'}`),
  describe: (input, output) => `${JSON.stringify(input)} -> ${JSON.stringify(output)}`,
};

function writeOutput(operation: Operation): TransferOutput {
  if (operation.outcome !== 'ok') return { kind: 'write', result: 'unknown' };
  const status = (operation.completion?.value as { status?: unknown } | undefined)?.status;
  return { kind: 'write', result: status === 'exists' ? 'exists' : 'created' };
}

/** Splits the ledger operations into per-transfer-id projections for the transfer model. */
export function transferOperationsByKey(
  operations: readonly Operation[],
  leaseIsLinearizable = true,
): Map<string, LinearOperation<TransferInput, TransferOutput>[]> {
  const byKey = new Map<string, LinearOperation<TransferInput, TransferOutput>[]>();
  const add = (key: string, operation: Operation, input: TransferInput, output: TransferOutput): void => {
    const list = byKey.get(key) ?? [];
    list.push({ input, output, call: operation.call, ret: operation.ret, source: operation });
    byKey.set(key, list);
  };
  const pendingAmount = new Map<string, string>();
  for (const operation of operations) {
    if (operation.f === 'transfer' && operation.outcome !== 'fail') {
      const value = invokeValue(TransferInvoke, operation);
      const amount = toBigInt(value.amount).toString();
      if (value.pending === true) pendingAmount.set(value.id, amount);
      add(value.id, operation, { kind: 'create', status: value.pending === true ? 'pending' : 'posted', amount }, writeOutput(operation));
    }
  }
  for (const operation of operations) {
    if ((operation.f === 'post' || operation.f === 'void') && operation.outcome !== 'fail') {
      const value = invokeValue(SettleInvoke, operation);
      const to = operation.f === 'post' ? 'posted' : 'voided';
      const amount = value.amount !== undefined ? toBigInt(value.amount).toString() : pendingAmount.get(value.pending_id);
      add(value.id, operation, { kind: 'create', status: to, amount }, writeOutput(operation));
      add(value.pending_id, operation, { kind: 'settle', to }, writeOutput(operation));
    } else if (operation.f === 'read-transfer' && operation.outcome === 'ok' && claimsLinearizable(operation, leaseIsLinearizable)) {
      add(invokeValue(ReadTransferInvoke, operation).id, operation, { kind: 'read' }, readOutput(operation));
    }
  }
  return byKey;
}

function readOutput(operation: Operation): TransferOutput {
  const value = resultValue(ReadTransferOk, operation);
  if (!value.found) return { kind: 'read', found: false };
  return { kind: 'read', found: true, status: value.status, amount: value.amount === undefined ? undefined : toBigInt(value.amount).toString() };
}

export interface LinearizabilityOptions {
  limits?: Partial<LinearizabilityLimits>;
  /** Check lease reads as linearizable (default true: the contract promises it within the configured drift). */
  leaseIsLinearizable?: boolean;
}

const QUOTED_PER_SIDE = 5;

/** The ledger's linearizability verdict: per transfer id, writes and linearizable reads against the transfer model. */
export function checkTransferLinearizability(history: ParsedHistory, options: LinearizabilityOptions = {}): Verdict {
  const byKey = transferOperationsByKey(history.operations, options.leaseIsLinearizable ?? true);
  const result = checkLinearizable(transferModel, byKey, options.limits);
  const anomalies = new AnomalyList();
  const unknownKeys: { key: string; reason: string }[] = [];
  for (const key of result.keys) {
    if (key.valid === 'unknown') unknownKeys.push({ key: key.key, reason: key.reason ?? '' });
    if (key.valid !== false) continue;
    const prefix = (key.longestPrefix ?? []).slice(-QUOTED_PER_SIDE);
    const leftOut = (key.leftOut ?? []).slice(0, QUOTED_PER_SIDE);
    anomalies.add(
      'nonlinearizable',
      `transfer ${key.key}: no linearization of its ${key.operationCount} operations; the longest linearizable prefix holds ` +
        `${key.longestPrefix?.length ?? 0}, and none of the ${key.leftOut?.length ?? 0} left out can follow it ` +
        `(quoted: the prefix's last ${prefix.length}, then the first ${leftOut.length} left out)`,
      ...prefix.map((op) => op.source),
      ...leftOut.map((op) => op.source),
    );
  }
  return verdictOf(anomalies, result.valid === 'unknown', {
    keys: result.keys.length,
    operations: result.keys.reduce((sum, key) => sum + key.operationCount, 0),
    statesExplored: result.statesExplored,
    elapsedMs: Math.round(result.elapsedMs),
    unknownKeys: unknownKeys.slice(0, 20),
    unknownKeyCount: unknownKeys.length,
  });
}
