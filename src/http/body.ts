// The API's only body parser: application/json. Any other content type is
// refused with 415 by fastify (and mapped to the error body in app.ts). An
// empty JSON body parses to `undefined`, so confirm, release, leadership and
// snapshot may be sent without one. The raw text is kept per request so that
// a forwarded request carries the client's exact bytes to the leader.
//
// Bodies are parsed exactly (json.ts), never with JSON.parse: a number that
// is not a safe integer, or a key given twice, is refused with 400
// invalid_body naming its path in details.issues, before any schema sees a
// rounded value; `__proto__` and `constructor` are ordinary keys.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { apiError, issuesError, type ApiError } from './errors.js';
import { parseExactJson } from './json.js';

const rawBodies = new WeakMap<FastifyRequest, string>();

export function rawBodyOf(request: FastifyRequest): string | undefined {
  return rawBodies.get(request);
}

/** A body refused by the parser, carried to the app's error handler with its answer. */
export class BodyRefusedError extends Error {
  override name = 'BodyRefusedError';
  readonly statusCode: number;
  constructor(readonly apiError: ApiError) {
    super(apiError.message);
    this.statusCode = apiError.status;
  }
}

/** Parses a JSON body exactly; the error says what to answer. */
export function parseJsonBody(text: string): { ok: true; value: unknown } | { ok: false; error: ApiError } {
  const parsed = parseExactJson(text);
  if (parsed.ok) return parsed;
  if (parsed.kind === 'malformed') {
    return { ok: false, error: apiError('malformed_json', `the body is not valid JSON: ${parsed.reason} at character ${parsed.position}`, { details: { position: parsed.position } }) };
  }
  return { ok: false, error: issuesError('invalid_body', parsed.issues) };
}

/** Replaces every content-type parser of `app` (one encapsulated scope) with the JSON one. */
export function installJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.length === 0) {
      done(null, undefined);
      return;
    }
    rawBodies.set(request, text);
    const parsed = parseJsonBody(text);
    if (parsed.ok) done(null, parsed.value);
    else done(new BodyRefusedError(parsed.error), undefined);
  });
}
