// The HTTP-only request schemas: path parameters, query strings and the
// cluster bodies. Ledger bodies are the ledger's own schemas (src/ledger),
// never redefined here. Query values arrive as strings; each is parsed to
// its type here, with unknown parameters rejected like unknown body fields.

import { z } from 'zod';
import { idSchema, MAX_TRANSFERS_PAGE } from '../ledger/index.js';
import type { ReadLevel, ReadOptions } from '../node/service.js';

/** How many ids one `GET /v1/accounts?ids=` may ask for. */
export const MAX_ACCOUNT_IDS = 1000;
export const DEFAULT_TRANSFERS_PAGE = 100;
export const DEFAULT_WAIT_MS = 1000;
const MAX_STALENESS_BOUND_MS = 2 ** 31 - 1;

/** A non-negative decimal integer in a query string, at most `max`. */
function integerParameter(name: string, min: number, max: number) {
  return z
    .string()
    .regex(/^[0-9]{1,16}$/, `${name} must be a decimal integer`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be >= ${min}`).max(max, `${name} must be <= ${max}`))
    .meta({ description: `a decimal integer ${min}..${max}` });
}

const booleanParameter = (name: string) =>
  z.enum(['true', 'false'], `${name} must be true or false`).transform((value) => value === 'true');

const redirectParameter = booleanParameter('redirect');

export const noParams = z.strictObject({});
/** GET bodies are ignored, as HTTP intends. */
export const ignoredBody = z.unknown();

export const idParamsSchema = z.strictObject({ id: idSchema });
export const skuParamsSchema = z.strictObject({ sku: idSchema });

/** Writes take only `redirect=true` (answer 307 to the leader instead of forwarding). */
export const writeQuerySchema = z.strictObject({ redirect: redirectParameter.optional() });

export interface ReadQuery {
  readonly options: ReadOptions;
  readonly forwardOnStale: boolean;
  readonly redirect: boolean;
}

const readQueryShape = (maxWaitMs: number) => ({
  consistency: z.enum(['linearizable', 'lease', 'stale'], 'consistency must be linearizable, lease or stale').optional(),
  max_staleness_ms: integerParameter('max_staleness_ms', 0, MAX_STALENESS_BOUND_MS).optional(),
  wait_ms: integerParameter('wait_ms', 0, maxWaitMs).optional(),
  min_index: integerParameter('min_index', 0, Number.MAX_SAFE_INTEGER).optional(),
  on_stale: z.enum(['error', 'forward'], 'on_stale must be error or forward').optional(),
  redirect: redirectParameter.optional(),
});

type ReadQueryInput = z.output<z.ZodObject<ReturnType<typeof readQueryShape>>>;

function checkStaleOnly(query: ReadQueryInput, ctx: z.core.$RefinementCtx): void {
  if (query.consistency === 'stale') return;
  for (const field of ['max_staleness_ms', 'on_stale'] as const) {
    if (query[field] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [field], message: `${field} applies only to stale reads: add consistency=stale` });
    }
  }
}

function toReadQuery(query: ReadQueryInput): ReadQuery {
  const level: ReadLevel = query.consistency ?? 'linearizable';
  return {
    options: {
      level,
      waitMs: query.wait_ms ?? DEFAULT_WAIT_MS,
      ...(query.max_staleness_ms === undefined ? {} : { maxStalenessMs: query.max_staleness_ms }),
      ...(query.min_index === undefined ? {} : { minIndex: query.min_index }),
    },
    forwardOnStale: query.on_stale === 'forward',
    redirect: query.redirect ?? false,
  };
}

/** The consistency parameters every GET takes, plus any route-specific ones. */
export function readQuerySchema<Extra extends z.ZodRawShape>(maxWaitMs: number, extra: Extra) {
  return z
    .strictObject({ ...readQueryShape(maxWaitMs), ...extra })
    .superRefine((query, ctx) => checkStaleOnly(query as ReadQueryInput, ctx))
    .transform((query) => ({ read: toReadQuery(query as ReadQueryInput), query }));
}

export const accountIdsShape = {
  ids: z
    .string()
    .transform((value) => value.split(','))
    .pipe(z.array(idSchema).min(1).max(MAX_ACCOUNT_IDS, `ids lists at most ${MAX_ACCOUNT_IDS} accounts`))
    .meta({ description: `1..${MAX_ACCOUNT_IDS} account ids separated by commas` }),
};

export const transfersPageShape = {
  after: integerParameter('after', 0, Number.MAX_SAFE_INTEGER).optional(),
  limit: integerParameter('limit', 1, MAX_TRANSFERS_PAGE).optional(),
};

/** GET /v1/events: the first log index whose changes to send (Last-Event-ID, when sent, wins). */
export const eventsQuerySchema = z.strictObject({ from_index: integerParameter('from_index', 0, Number.MAX_SAFE_INTEGER).optional() });

const nodeUrlSchema = z.url({ protocol: /^https?$/, error: 'url must be an http:// or https:// URL' });

export const addMemberSchema = z.strictObject({ id: idSchema, url: nodeUrlSchema, voter: z.boolean().optional() });

/** A body that may be absent: confirm, release, leadership and snapshot carry nothing required. */
const optionalBody = <Shape extends z.ZodRawShape>(shape: Shape) =>
  z.preprocess((body) => (body === undefined ? {} : body), z.strictObject(shape, 'the body must be empty or a JSON object'));

export const emptyBodySchema = optionalBody({});
export const leadershipSchema = optionalBody({ to: idSchema.optional() });
