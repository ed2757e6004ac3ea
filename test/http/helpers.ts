// Shared setup for the HTTP tests: an app over a LocalService, torn down with
// the test, and small assertions on the contract's error body and headers.

import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type BuildAppOptions } from '../../src/http/app.js';
import { LocalService, type LocalServiceOptions } from './local-service.js';

export interface TestApp {
  readonly app: FastifyInstance;
  readonly service: LocalService;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function testApp(t: Teardown, options: Partial<Omit<BuildAppOptions, 'service'>> = {}, serviceOptions: LocalServiceOptions = {}): TestApp {
  const service = new LocalService(serviceOptions);
  const app = buildApp({ service, logLevel: 'silent', ...options });
  t.teardown(async () => {
    await app.close();
    service.close();
  });
  return { app, service };
}

export interface ErrorShape {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function errorOf(response: LightMyRequestResponse): ErrorShape['error'] {
  const body = response.json<ErrorShape>();
  return body.error;
}

/** The distinct paths listed in a 400's details.issues (a field may fail two rules). */
export function issuePaths(response: LightMyRequestResponse): string[] {
  const issues = errorOf(response).details?.['issues'] as { path: string }[] | undefined;
  return [...new Set((issues ?? []).map((issue) => issue.path))];
}

export const json = { 'content-type': 'application/json' };

export const RAFT_HEADERS = ['x-raft-term', 'x-raft-index', 'x-raft-leader', 'x-served-by'] as const;
