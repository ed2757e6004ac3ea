// The bytes of a ledger log entry: what the leader proposes and every replica
// decodes. UTF-8 JSON `{"v": <command version>, "time_ms": <leader time>,
// "command": {...}}`, with amounts as decimal strings (bigint never meets
// JSON.stringify's number path). Decoding an entry written by an older version
// goes through that version's schema and an upgrade to the current Command.
// An empty byte array is a Raft entry without a ledger command (no-op,
// membership): it is recorded as applied and changes nothing else.

import { z } from 'zod';
import { fastCommand } from './entry-fast-path.js';
import { commandSchemaV1, CURRENT_COMMAND_VERSION, MAX_HOLD_MS, type Command } from './schemas.js';

export interface LedgerEntry {
  timeMs: number;
  command: Command;
}

export type DecodedEntry =
  | { kind: 'command'; timeMs: number; command: Command }
  | { kind: 'empty' }
  | { kind: 'invalid'; timeMs: number | undefined; reason: string };

/**
 * Latest entry time: any deadline (time + at most MAX_HOLD_MS) stays a safe
 * integer, so it is exact in a double and in SQLite alike.
 */
export const MAX_ENTRY_TIME_MS = Number.MAX_SAFE_INTEGER - MAX_HOLD_MS;

const envelopeSchema = z.strictObject({
  v: z.number().int().min(1),
  time_ms: z.number().int().min(0).max(MAX_ENTRY_TIME_MS),
  command: z.unknown(),
});

/** One entry per released command version: how to read it as the current Command. */
const upgraders: ReadonlyMap<number, (command: unknown) => z.ZodSafeParseResult<Command>> = new Map([
  [1, (command: unknown) => commandSchemaV1.safeParse(command)],
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeEntry(entry: LedgerEntry): Uint8Array {
  return encodeEntryWithCommand(entry.timeMs, encodeCommand(entry.command));
}

/** The command's part of an entry: its JSON, amounts as decimal strings. Equal commands give equal text. */
export function encodeCommand(command: Command): string {
  return JSON.stringify(command, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}

/** An entry around a command already encoded with encodeCommand (the write path keys pending writes by it). */
export function encodeEntryWithCommand(timeMs: number, commandJson: string): Uint8Array {
  return encoder.encode(`{"v":${CURRENT_COMMAND_VERSION},"time_ms":${timeMs},"command":${commandJson}}`);
}

/** Never throws: a corrupt or unknown entry decodes to `invalid` with a stable reason. */
export function decodeEntry(bytes: Uint8Array): DecodedEntry {
  if (bytes.length === 0) return { kind: 'empty' };
  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(decoder.decode(bytes));
  } catch {
    return { kind: 'invalid', timeMs: undefined, reason: 'entry is not UTF-8 JSON' };
  }
  const envelope = envelopeSchema.safeParse(parsedJson);
  if (!envelope.success) return { kind: 'invalid', timeMs: undefined, reason: `bad envelope: ${issuePaths(envelope.error)}` };
  // The commonest entry skips zod's walk when it is certainly valid (entry-fast-path.ts).
  const fast = envelope.data.v === CURRENT_COMMAND_VERSION ? fastCommand(envelope.data.command) : undefined;
  if (fast !== undefined) return { kind: 'command', timeMs: envelope.data.time_ms, command: fast };
  const upgrade = upgraders.get(envelope.data.v);
  if (upgrade === undefined) {
    return { kind: 'invalid', timeMs: envelope.data.time_ms, reason: `unknown command version ${envelope.data.v}` };
  }
  const command = upgrade(envelope.data.command);
  if (!command.success) {
    return { kind: 'invalid', timeMs: envelope.data.time_ms, reason: `bad command: ${issuePaths(command.error)}` };
  }
  return { kind: 'command', timeMs: envelope.data.time_ms, command: command.data };
}

function issuePaths(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((issue) => issue.path.join('.') || '(root)')
    .join(', ');
}
