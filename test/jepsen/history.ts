// The Jepsen-style history: one JSON event per line, written by the runner and
// read by the checkers (format: /work/wt/JEPSEN-HISTORY.md, summarised in
// docs/jepsen.md). This module owns the zod schemas of the events and of the
// values the checkers rely on, the JSON-lines reader, and the pairing of
// invocations with their completions into operations.
//
// Stable exports for the runner: HistoryEvent, parseHistory(text),
// readHistoryFile(path).

import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Exact integers (minor units) arrive as decimal strings; JSON integers are accepted too. */
export const Decimal = z.union([z.string().regex(/^-?[0-9]+$/), z.number().int()]);
export type Decimal = z.infer<typeof Decimal>;

export const ReadLevel = z.enum(['linearizable', 'lease', 'stale']);
export type ReadLevel = z.infer<typeof ReadLevel>;

export const EventType = z.enum(['invoke', 'ok', 'fail', 'info']);
export type EventType = z.infer<typeof EventType>;

/** The envelope of every line. `value` is checked per `f` by the schemas below. */
export const HistoryEvent = z.object({
  type: EventType,
  process: z.number().int().min(-1),
  f: z.string().min(1),
  value: z.unknown().optional(),
  time: z.number().int().min(0),
  node: z.union([z.string(), z.array(z.string())]).optional(),
  index: z.number().int().min(0).optional(),
  error: z.string().optional(),
});
export type HistoryEvent = z.infer<typeof HistoryEvent>;

/** The process id of nemesis events. */
export const NEMESIS_PROCESS = -1;

const level = { level: ReadLevel.optional(), max_staleness_ms: z.number().min(0).optional(), min_index: z.number().int().min(0).optional() };

export const TransferInvoke = z.object({
  id: z.string(),
  from: z.string(),
  to: z.string(),
  amount: Decimal,
  pending: z.boolean().optional(),
  timeout_ms: z.number().optional(),
});
export const SettleInvoke = z.object({ id: z.string(), pending_id: z.string(), amount: Decimal.optional() });
export const WriteOk = z.object({ status: z.string() }).loose();
export const ReadBalancesInvoke = z.object({ ...level, accounts: z.array(z.string()).optional() }).loose();
export const ReadBalancesOk = z
  .object({ balances: z.record(z.string(), Decimal), index: z.number().int().optional(), staleness_ms: z.number().optional() })
  .loose();
export const ReadTransferInvoke = z.object({ ...level, id: z.string() }).loose();
export const ReadTransferOk = z.union([
  z.object({ found: z.literal(false) }).loose(),
  z.object({ found: z.literal(true), status: z.string(), amount: Decimal.optional() }).loose(),
]);
export const ReadAccountTransfersInvoke = z.object({ ...level, account: z.string() }).loose();
export const ReadAccountTransfersOk = z.object({ ids: z.array(z.string()) }).loose();
export const HoldInvoke = z.object({
  id: z.string(),
  lines: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
  ttl_ms: z.number().optional(),
});
export const ReservationInvoke = z.object({ id: z.string() }).loose();
export const ReadItemInvoke = z.object({ ...level, sku: z.string() }).loose();
export const ReadItemOk = z.object({ on_hand: z.number().int(), reserved: z.number().int(), available: z.number().int().optional() }).loose();
export const ReadReservationInvoke = z.object({ ...level, id: z.string() }).loose();
export const ReadReservationOk = z.object({ found: z.boolean().optional(), status: z.string().optional() }).loose();
export const CreateItemsInvoke = z.object({ items: z.array(z.object({ sku: z.string(), on_hand: z.number().int() })) }).loose();
export const AdjustInvoke = z.object({ id: z.string(), sku: z.string(), delta: z.number().int() }).loose();

/** Value schemas per operation kind: [invocation, ok completion]. Kinds not listed pass unchecked. */
const valueSchemas: Record<string, [z.ZodType, z.ZodType | undefined]> = {
  transfer: [TransferInvoke, WriteOk],
  post: [SettleInvoke, WriteOk],
  void: [SettleInvoke, WriteOk],
  'read-balances': [ReadBalancesInvoke, ReadBalancesOk],
  'read-transfer': [ReadTransferInvoke, ReadTransferOk],
  'read-account-transfers': [ReadAccountTransfersInvoke, ReadAccountTransfersOk],
  hold: [HoldInvoke, undefined],
  confirm: [ReservationInvoke, undefined],
  release: [ReservationInvoke, undefined],
  'read-item': [ReadItemInvoke, ReadItemOk],
  'read-reservation': [ReadReservationInvoke, ReadReservationOk],
  'create-items': [CreateItemsInvoke, undefined],
  adjust: [AdjustInvoke, undefined],
};

export class HistoryFormatError extends Error {
  override name = 'HistoryFormatError';
}

function issuesText(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}

/** Checks one event's envelope and, for client operations of a known kind, its value. */
export function parseEvent(raw: unknown, where: string): HistoryEvent {
  const envelope = HistoryEvent.safeParse(raw);
  if (!envelope.success) throw new HistoryFormatError(`${where}: ${issuesText(envelope.error)}`);
  const event = envelope.data;
  const schemas = event.process === NEMESIS_PROCESS ? undefined : valueSchemas[event.f];
  const schema = schemas === undefined ? undefined : event.type === 'invoke' ? schemas[0] : event.type === 'ok' ? schemas[1] : undefined;
  if (schema !== undefined) {
    const value = schema.safeParse(event.value);
    if (!value.success) throw new HistoryFormatError(`${where}: value of ${event.type} ${event.f}: ${issuesText(value.error)}`);
  }
  return event;
}

/** Parses JSON-lines text; blank lines are skipped; a bad line throws naming its line number and field. */
export function parseHistory(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let number = 1; number <= lines.length; number++) {
    const line = (lines[number - 1] as string).trim();
    if (line === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      throw new HistoryFormatError(`line ${number}: not JSON (${(error as Error).message})`);
    }
    events.push(parseEvent(raw, `line ${number}`));
  }
  return events;
}

export function readHistoryFile(path: string): HistoryEvent[] {
  return parseHistory(readFileSync(path, 'utf8'));
}

export function formatHistory(events: readonly HistoryEvent[]): string {
  return events.map((event) => JSON.stringify(event)).join('\n') + (events.length > 0 ? '\n' : '');
}

export type Outcome = 'ok' | 'fail' | 'info';

/** An invocation with its completion. A missing completion counts as info, completing at +infinity. */
export interface Operation {
  /** Position of the invocation among client invocations, from 0: a stable name for the operation. */
  readonly id: number;
  readonly process: number;
  readonly f: string;
  readonly outcome: Outcome;
  readonly invoke: HistoryEvent;
  readonly completion: HistoryEvent | undefined;
  /** Invocation time (ns). */
  readonly call: number;
  /** Completion time (ns); Infinity for info: it may take effect at any time after `call`. */
  readonly ret: number;
  /** Completion time as recorded (ns), even for info; Infinity when missing. */
  readonly completedAt: number;
}

export interface ParsedHistory {
  readonly operations: Operation[];
  readonly nemesis: HistoryEvent[];
  /** Time of the first event that marks the final read phase (process -1, `f` starting with "final"), if any. */
  readonly finalPhaseTime: number | undefined;
  /** Time of the last event. */
  readonly endTime: number;
}

/** Pairs invocations with completions per process; throws on a completion without an open invocation. */
export function pairOperations(events: readonly HistoryEvent[]): ParsedHistory {
  const open = new Map<number, { invoke: HistoryEvent; id: number }>();
  const slots: { invoke: HistoryEvent; completion: HistoryEvent | undefined }[] = [];
  const nemesis: HistoryEvent[] = [];
  let finalPhaseTime: number | undefined;
  let endTime = 0;
  for (const event of events) {
    endTime = Math.max(endTime, event.time);
    if (event.process === NEMESIS_PROCESS) {
      nemesis.push(event);
      if (finalPhaseTime === undefined && event.f.startsWith('final')) finalPhaseTime = event.time;
      continue;
    }
    const pending = open.get(event.process);
    if (event.type === 'invoke') {
      if (pending !== undefined) {
        throw new HistoryFormatError(`process ${event.process} invoked ${event.f} at ${event.time} with ${pending.invoke.f} still open`);
      }
      open.set(event.process, { invoke: event, id: slots.length });
      slots.push({ invoke: event, completion: undefined });
      continue;
    }
    if (pending === undefined || pending.invoke.f !== event.f) {
      throw new HistoryFormatError(`process ${event.process}: ${event.type} ${event.f} at ${event.time} without an open invocation of ${event.f}`);
    }
    (slots[pending.id] as { completion: HistoryEvent | undefined }).completion = event;
    open.delete(event.process);
  }
  const operations = slots.map(({ invoke, completion }, id): Operation => {
    const outcome: Outcome = completion === undefined ? 'info' : (completion.type as Outcome);
    const completedAt = completion === undefined ? Infinity : completion.time;
    return {
      id, process: invoke.process, f: invoke.f, outcome, invoke, completion,
      call: invoke.time, ret: outcome === 'info' ? Infinity : completedAt, completedAt,
    };
  });
  return { operations, nemesis, finalPhaseTime, endTime };
}

/** The invocation value parsed with its schema (the history was validated when read). */
export function invokeValue<S extends z.ZodType>(schema: S, operation: Operation): z.infer<S> {
  return schema.parse(operation.invoke.value);
}

/** The ok completion's value parsed with its schema. */
export function resultValue<S extends z.ZodType>(schema: S, operation: Operation): z.infer<S> {
  return schema.parse(operation.completion?.value);
}

/** The raft index an operation's answer carried: the event field, else `index` in the value. */
export function answerIndex(operation: Operation): number | undefined {
  const completion = operation.completion;
  if (completion === undefined || completion.type !== 'ok') return undefined;
  if (completion.index !== undefined) return completion.index;
  const value = completion.value as { index?: unknown } | undefined;
  return typeof value?.index === 'number' ? value.index : undefined;
}

export function toBigInt(value: Decimal): bigint {
  return BigInt(value);
}

export const WRITE_KINDS: ReadonlySet<string> = new Set(['transfer', 'post', 'void', 'hold', 'confirm', 'release', 'adjust', 'create-items']);
