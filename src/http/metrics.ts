// GET /metrics (Prometheus text from the node's registry) and the
// http_request_duration_seconds histogram, as an AppExtension: it is
// installed on the root instance, so its hook times every request, labelled
// by the route template (never the raw URL, so labels stay bounded).

import type { FastifyInstance } from 'fastify';
import type { NodeMetrics } from '../node/metrics.js';
import type { AppExtension } from './app.js';

export function metricsExtension(metrics: NodeMetrics): AppExtension {
  return (app: FastifyInstance) => {
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? 'unmatched';
      if (route !== '/metrics') {
        metrics.httpRequestSeconds.observe(
          { route, method: request.method, status: String(reply.statusCode) },
          reply.elapsedTime / 1000,
        );
      }
      done();
    });
    app.get('/metrics', async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).send(text);
    });
  };
}
