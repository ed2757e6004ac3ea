// Probes, open without a token: /healthz says the process serves HTTP,
// /readyz says the node knows a leader and has applied up to the commit index
// it last heard (503 not_ready otherwise, so a load balancer skips it).

import type { FastifyInstance } from 'fastify';
import { apiError } from '../errors.js';
import { sendError } from '../route.js';
import type { LedgerService } from '../../node/service.js';

const NOT_READY_RETRY_AFTER_MS = 1000;

export function registerHealthRoutes(app: FastifyInstance, service: LedgerService): void {
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
