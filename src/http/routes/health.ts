// Probes and the API description, open without a token: /openapi.json is
// the OpenAPI 3.1 document of this node's routes, /healthz says the process
// serves HTTP, /readyz says the node knows a leader and has applied up to the commit index
// it last heard (503 not_ready otherwise, so a load balancer skips it).

import type { FastifyInstance } from 'fastify';
import { apiError } from '../errors.js';
import { sendError } from '../route.js';
import type { LedgerService } from '../../node/service.js';
import type { ApiRoutes } from '../api-routes.js';
import { OPENAPI_PATH } from '../openapi-path.js';

const NOT_READY_RETRY_AFTER_MS = 1000;

export function registerHealthRoutes(app: FastifyInstance, service: LedgerService, routes: ApiRoutes): void {
  // The API description is as open as the probes: it holds no data, and a client needs it before it has a token.
  // The generator is loaded on the first request: it would add a few hundred ms to every start on a busy machine.
  let document: string | undefined;
  app.get(OPENAPI_PATH, async (_request, reply) => {
    document ??= JSON.stringify((await import('../openapi.js')).buildOpenApiDocument(routes));
    return reply.type('application/json; charset=utf-8').send(document);
  });

  app.get('/healthz', async (_request, reply) => reply.type('application/json; charset=utf-8').send({ status: 'ok', id: service.nodeId }));

  app.get('/readyz', async (_request, reply) => {
    const readiness = service.readiness();
    if (!readiness.ready) {
      return sendError(reply, apiError('not_ready', `this node is not ready (${readiness.reason})`, {
        retryAfterMs: NOT_READY_RETRY_AFTER_MS,
        details: { reason: readiness.reason },
      }));
    }
    return reply.type('application/json; charset=utf-8').send({ ready: true, reason: readiness.reason });
  });
}
