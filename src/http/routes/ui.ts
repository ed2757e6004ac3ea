// GET /ui: the operator console (docs/ui.md), static HTML, JS and CSS from
// src/http/ui, served by every node without a token: the files hold no data,
// and every call the page makes to /v1 carries the token the operator enters.
// Answers carry a Content-Security-Policy that allows only this origin's own
// script, style and fetches (no inline script, no other origin, no framing).

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { apiError } from '../errors.js';
import { sendError } from '../route.js';

export const UI_PATH = '/ui';

export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self'",
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

/** The console's files and their types: nothing else under /ui is served. */
const ASSETS: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

const here = path.dirname(fileURLToPath(import.meta.url));
/** Beside the compiled routes when the build copied them (dist/src/http/ui), else the repository's src/http/ui. */
const UI_DIRECTORIES = [path.resolve(here, '..', 'ui'), path.resolve(here, '..', '..', '..', '..', 'src', 'http', 'ui')];

export function registerUiRoutes(app: FastifyInstance): void {
  const directory = UI_DIRECTORIES.find((candidate) => existsSync(path.join(candidate, 'index.html')));
  const files = new Map<string, Buffer>();
  const send = (reply: FastifyReply, name: string): FastifyReply => {
    const type = ASSETS[name];
    if (type === undefined || directory === undefined) {
      const why = directory === undefined ? `the console's files are not installed beside this build (looked in ${UI_DIRECTORIES.join(', ')})` : `no console file ${name}`;
      return sendError(reply, apiError('route_not_found', why));
    }
    let body = files.get(name);
    if (body === undefined) {
      body = readFileSync(path.join(directory, name));
      files.set(name, body);
    }
    return reply.headers(UI_SECURITY_HEADERS).type(type).send(body);
  };
  app.get(UI_PATH, async (_request, reply) => send(reply, 'index.html'));
  app.get<{ Params: { asset: string } }>(`${UI_PATH}/:asset`, async (request, reply) => send(reply, request.params.asset === '' ? 'index.html' : request.params.asset));
}
