// The API's only body parser: application/json. Any other content type is
// refused with 415 by fastify (and mapped to the error body in app.ts). An
// empty JSON body parses to `undefined`, so confirm, release, leadership and
// snapshot may be sent without one. The raw text is kept per request so that
// a forwarded request carries the client's exact bytes to the leader.

import type { FastifyInstance, FastifyRequest } from 'fastify';

const rawBodies = new WeakMap<FastifyRequest, string>();

export function rawBodyOf(request: FastifyRequest): string | undefined {
  return rawBodies.get(request);
}

/** Replaces every content-type parser of `app` (one encapsulated scope) with the JSON one. */
export function installJsonParser(app: FastifyInstance): void {
  // Proto and constructor poisoning are refused (fastify's secure parse) and surface as malformed JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.length === 0) {
      done(null, undefined);
      return;
    }
    rawBodies.set(request, text);
    parseJson(request, text, done);
  });
}
