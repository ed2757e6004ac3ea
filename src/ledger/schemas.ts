// The one definition of every ledger request and command (STYLE habit 4). The
// HTTP layer validates request bodies with the *Request schemas and reports each
// issue's path; the node wraps the parsed items into a Command, which is encoded
// into the Raft entry (entry.ts) and decoded on every replica with the same
// schemas. Types come from z.infer, so validation and types cannot drift.
//
// Versioning: a log entry carries the version of the command schema it was
// written with. commandSchemaV1 must never change meaning once released; a
// later version adds commandSchemaV2 plus an upgrade from V1, so an old log
// still applies after an upgrade (see entry.ts).

import { z } from 'zod';

export const MAX_BATCH_ITEMS = 8190;
export const MAX_AMOUNT = 2n ** 63n - 1n;
export const MAX_QUANTITY = 2 ** 31 - 1;
export const MAX_METADATA_BYTES = 4096;
/** Bound for timeout_ms and ttl_ms (about 34 years) so deadlines stay exact in a double. */
export const MAX_HOLD_MS = 2 ** 40;
export const MAX_RESERVATION_LINES = 100;
export const MAX_CODE = 2 ** 31 - 1;

export const idSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'must be 1..128 characters of [A-Za-z0-9_.:-]');

export const ledgerNameSchema = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'must be 1..32 characters of [A-Za-z0-9_.:-]');

/**
 * A JSON integer up to 2^53-1 or a decimal digit string up to 2^63-1, as bigint.
 * Strings are canonical: ASCII digits only, no sign, spaces, exponent or
 * leading zeros ("007" is refused rather than guessed at, as some parsers read
 * it as octal), so one amount has one spelling.
 */
export const amountSchema = z
  .union([
    z.number().int().min(0).max(Number.MAX_SAFE_INTEGER, 'a JSON number amount must be <= 2^53-1; send larger amounts as a decimal string'),
    z
      .string()
      .max(40, 'must be a decimal digit string up to 2^63-1')
      .regex(/^(0|[1-9][0-9]*)$/, 'must be a decimal digit string without sign, spaces or leading zeros'),
  ])
  .transform((value) => BigInt(value))
  .pipe(z.bigint().max(MAX_AMOUNT, 'overflow: amount must be <= 2^63-1'))
  .meta({ description: 'an exact integer in minor units: a JSON integer up to 2^53-1 or a decimal digit string up to 2^63-1' });

export const quantitySchema = z.number().int().min(0).max(MAX_QUANTITY);
export const deltaSchema = z.number().int().min(-MAX_QUANTITY).max(MAX_QUANTITY);
export const holdMsSchema = z.number().int().min(1).max(MAX_HOLD_MS);
export const codeSchema = z.number().int().min(0).max(MAX_CODE);

/** Deepest nesting of arrays and objects inside metadata (the metadata object itself is level 0). */
export const MAX_METADATA_DEPTH = 32;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Metadata = { [key: string]: JsonValue };

interface MetadataIssue {
  path: (string | number)[];
  message: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Why `value` is not acceptable metadata, or undefined. Walks the value with an
 * explicit stack, never recursion: client data of any depth must give an issue,
 * not a stack overflow, whose depth would differ between processes and turn a
 * request (or a log entry, decoded on every replica) into a crash. Bounded: at
 * most MAX_METADATA_BYTES nodes are visited, as each takes at least one byte.
 */
function metadataIssue(metadata: unknown): MetadataIssue | undefined {
  if (!isPlainObject(metadata)) return { path: [], message: 'metadata must be a JSON object' };
  const tooLarge: MetadataIssue = { path: [], message: `metadata must serialize to at most ${MAX_METADATA_BYTES} bytes of UTF-8 JSON` };
  const stack: { value: unknown; path: (string | number)[] }[] = [{ value: metadata, path: [] }];
  let nodes = 1;
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const { value, path } = next;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { path, message: 'must be a finite JSON number' };
      continue;
    }
    if (!Array.isArray(value) && !isPlainObject(value)) return { path, message: 'must be a JSON value' };
    const keys: (string | number)[] = Array.isArray(value) ? [] : Object.keys(value);
    const count = Array.isArray(value) ? value.length : keys.length;
    if (count > 0 && path.length >= MAX_METADATA_DEPTH) {
      return { path, message: `metadata must not nest deeper than ${MAX_METADATA_DEPTH} levels` };
    }
    nodes += count;
    if (nodes > MAX_METADATA_BYTES) return tooLarge;
    const children: [string | number, unknown][] = Array.isArray(value)
      ? value.map((item, position): [number, unknown] => [position, item])
      : keys.map((key) => [key, (value as Record<string, unknown>)[key]]);
    // "__proto__" and "constructor" are ordinary keys: the HTTP parser and
    // JSON.parse (on replicas) define them as own properties, and nothing on
    // the way to SQLite copies metadata by assignment (only spread, keys and
    // JSON.stringify, which keep own properties).
    for (const [key, child] of children) stack.push({ value: child, path: [...path, key] });
  }
  return Buffer.byteLength(JSON.stringify(metadata), 'utf8') <= MAX_METADATA_BYTES ? undefined : tooLarge;
}

/** A JSON object of at most 4 KiB (UTF-8 bytes of its JSON) and 32 levels of nesting. */
export const metadataSchema = z
  .unknown()
  .superRefine((value, ctx) => {
    const issue = metadataIssue(value);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  })
  .transform((value) => value as Metadata)
  .meta({ type: 'object', description: `a JSON object of at most ${MAX_METADATA_BYTES} bytes (UTF-8 JSON) and ${MAX_METADATA_DEPTH} levels of nesting` });

export const accountSchema = z.strictObject({
  id: idSchema,
  ledger: ledgerNameSchema,
  code: codeSchema.optional(),
  flags: z
    .strictObject({
      debits_must_not_exceed_credits: z.boolean().optional(),
      credits_must_not_exceed_debits: z.boolean().optional(),
    })
    .optional(),
  metadata: metadataSchema.optional(),
}).meta({ id: 'NewAccount' });

export const transferSchema = z
  .strictObject({
    id: idSchema,
    debit_account_id: idSchema.optional(),
    credit_account_id: idSchema.optional(),
    amount: amountSchema.optional(),
    ledger: ledgerNameSchema.optional(),
    code: codeSchema.optional(),
    linked: z.boolean().optional(),
    pending: z.boolean().optional(),
    timeout_ms: holdMsSchema.optional(),
    post_pending_id: idSchema.optional(),
    void_pending_id: idSchema.optional(),
    metadata: metadataSchema.optional(),
  })
  .superRefine((transfer, ctx) => {
    const settles = transfer.post_pending_id !== undefined || transfer.void_pending_id !== undefined;
    if (transfer.post_pending_id !== undefined && transfer.void_pending_id !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['void_pending_id'], message: 'give post_pending_id or void_pending_id, not both' });
    }
    if (settles && transfer.pending === true) {
      ctx.addIssue({ code: 'custom', path: ['pending'], message: 'a post or void cannot itself be pending' });
    }
    if (transfer.timeout_ms !== undefined && transfer.pending !== true) {
      ctx.addIssue({ code: 'custom', path: ['timeout_ms'], message: 'timeout_ms is only allowed with pending: true' });
    }
    if (!settles) {
      for (const field of ['debit_account_id', 'credit_account_id', 'amount', 'ledger'] as const) {
        if (transfer[field] === undefined) {
          ctx.addIssue({ code: 'custom', path: [field], message: `${field} is required unless post_pending_id or void_pending_id is given` });
        }
      }
    }
  })
  .meta({ id: 'NewTransfer', description: 'debit_account_id, credit_account_id, amount and ledger are required unless post_pending_id or void_pending_id is given' });

export const itemSchema = z.strictObject({
  sku: idSchema,
  on_hand: quantitySchema,
  metadata: metadataSchema.optional(),
}).meta({ id: 'NewItem' });

/** POST /v1/items/:sku/adjust body; the sku comes from the path. */
export const adjustRequestSchema = z.strictObject({ id: idSchema, delta: deltaSchema });
export const adjustmentSchema = z.strictObject({ id: idSchema, sku: idSchema, delta: deltaSchema });

export const reservationLineSchema = z.strictObject({ sku: idSchema, qty: quantitySchema });
export const reservationSchema = z.strictObject({
  id: idSchema,
  lines: z.array(reservationLineSchema).min(1).max(MAX_RESERVATION_LINES),
  ttl_ms: holdMsSchema,
});

/**
 * A body that is either one item or `{ [key]: [item, ...] }` (1..8190 items),
 * normalized to an array. Issues keep the path of the form the client sent.
 */
function singleOrBatch<Item extends z.ZodType>(key: string, item: Item) {
  const batch = z.strictObject({ [key]: z.array(item).min(1).max(MAX_BATCH_ITEMS) });
  const schema = z.unknown().transform((body, ctx): z.output<Item>[] => {
    const isBatch = typeof body === 'object' && body !== null && !Array.isArray(body) && key in body;
    if (isBatch) {
      const parsed = batch.safeParse(body);
      if (parsed.success) return parsed.data[key] as z.output<Item>[];
      for (const issue of parsed.error.issues) ctx.issues.push(issue as z.core.$ZodRawIssue);
      return z.NEVER;
    }
    const parsed = item.safeParse(body);
    if (parsed.success) return [parsed.data as z.output<Item>];
    for (const issue of parsed.error.issues) ctx.issues.push(issue as z.core.$ZodRawIssue);
    return z.NEVER;
  });
  acceptedBodyForms.set(schema, z.union([batch, item]));
  return schema;
}

/**
 * What a client may send for each single-or-batch body, for the API
 * description (src/http/openapi.ts): the same batch and item schemas as a
 * union. The body itself is parsed by hand above, because a union would
 * report an invalid item without the path of its bad field.
 */
export const acceptedBodyForms = new WeakMap<z.ZodType, z.ZodType>();

export const accountsRequestSchema = singleOrBatch('accounts', accountSchema);
export const transfersRequestSchema = singleOrBatch('transfers', transferSchema);
export const itemsRequestSchema = singleOrBatch('items', itemSchema);
export const reservationRequestSchema = reservationSchema;

const batchOf = <Item extends z.ZodType>(item: Item) => z.array(item).min(1).max(MAX_BATCH_ITEMS);

/** Version 1 of the commands a log entry can carry. Frozen once released. */
export const commandSchemaV1 = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('create_accounts'), accounts: batchOf(accountSchema) }),
  z.strictObject({ type: z.literal('create_transfers'), transfers: batchOf(transferSchema) }),
  z.strictObject({ type: z.literal('create_items'), items: batchOf(itemSchema) }),
  z.strictObject({ type: z.literal('adjust_stock'), adjustments: batchOf(adjustmentSchema) }),
  z.strictObject({ type: z.literal('create_reservations'), reservations: batchOf(reservationSchema) }),
  z.strictObject({ type: z.literal('confirm_reservations'), ids: batchOf(idSchema) }),
  z.strictObject({ type: z.literal('release_reservations'), ids: batchOf(idSchema) }),
  z.strictObject({ type: z.literal('expire'), limit: z.number().int().min(1).max(MAX_BATCH_ITEMS).optional() }),
]);

export type Account = z.output<typeof accountSchema>;
export type Transfer = z.output<typeof transferSchema>;
export type Item = z.output<typeof itemSchema>;
export type Adjustment = z.output<typeof adjustmentSchema>;
export type ReservationLine = z.output<typeof reservationLineSchema>;
export type Reservation = z.output<typeof reservationSchema>;
/** The current command version: what the state machine applies. */
export type Command = z.output<typeof commandSchemaV1>;
export type CommandType = Command['type'];
export const CURRENT_COMMAND_VERSION = 1;
