#!/usr/bin/env node
// ledgerd: one raft-ledger node. Reads the configuration (flags and LEDGER_*
// variables), opens the node's storage and ledger, serves the client API and
// the peer RPCs, and shuts down cleanly on SIGTERM/SIGINT (a leader first
// hands leadership over). The only process entry that listens.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { ConfigError, isLoopbackHost, loadConfig, usage, type Config } from '../config.js';
import fastify, { type FastifyInstance } from 'fastify';
import { buildApp, type AppExtension } from '../http/app.js';
import type { TokenGrant } from '../http/auth.js';
import { metricsExtension } from '../http/metrics.js';
import { LedgerNode, systemClock } from '../node/node.js';
import { PEER_ROUTES_PREFIX, peerRoutesPlugin } from '../node/peer-routes.js';
import { PeerTransport, type PeerTlsOptions } from '../node/peer-transport.js';
import type { TransportHandlers } from '../node/transport.js';
import type { NodeId } from '../raft/types.js';

type Logger = pino.Logger;

function splitHostPort(hostPort: string): { host: string; port: number } {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(at + 1)) };
}

/** Without credentials nothing but this machine may reach the node. */
function bindAddress(config: Config, logger: Logger): string {
  const hasCredentials = config.tokens.size > 0 && config.clusterSecret !== undefined;
  if (hasCredentials || isLoopbackHost(config.listen)) {
    if (!hasCredentials) logger.warn('no client tokens and cluster secret configured: serving loopback only (set LEDGER_TOKENS and LEDGER_CLUSTER_SECRET to expose the node)');
    return config.listen;
  }
  const { port } = splitHostPort(config.listen);
  logger.warn({ requested: config.listen }, 'no client tokens and cluster secret configured: binding 127.0.0.1 instead of the requested address');
  return `127.0.0.1:${port}`;
}

/** A joining node learns its peers' URLs from the member it was pointed at. */
async function peersFromMember(joinUrl: string, config: Config): Promise<Map<NodeId, string>> {
  const headers: Record<string, string> = {};
  const readToken = [...config.tokens].find(([, scope]) => scope === 'read' || scope === 'admin')?.[0];
  if (readToken) headers.authorization = `Bearer ${readToken}`;
  const response = await request(new URL('/v1/cluster', joinUrl), { headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = (await response.body.json()) as { members?: { id: string; url?: string }[] };
  if (response.statusCode !== 200 || !Array.isArray(body.members)) {
    throw new Error(`--join ${joinUrl}: GET /v1/cluster answered ${response.statusCode}`);
  }
  const peers = new Map<NodeId, string>();
  for (const member of body.members) if (member.url && member.id !== config.id) peers.set(member.id, member.url);
  return peers;
}

function tlsOptions(config: Config): PeerTlsOptions | undefined {
  if (!config.tlsCa && !config.tlsCert) return undefined;
  return {
    ...(config.tlsCa ? { ca: readFileSync(config.tlsCa) } : {}),
    ...(config.tlsCert ? { cert: readFileSync(config.tlsCert) } : {}),
    ...(config.tlsKey ? { key: readFileSync(config.tlsKey) } : {}),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return;
  }
  let config: Config;
  try {
    config = loadConfig(argv, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`ledgerd: invalid configuration:\n${error.message}\n\n${usage()}`);
      process.exit(2);
    }
    throw error;
  }
  const logger = pino({ level: config.logLevel, base: { node: config.id } });
  const listen = bindAddress(config, logger);
  const peers = config.join === undefined ? new Map(config.peers) : await peersFromMember(config.join, config);
  const tls = tlsOptions(config);

  let handlers: TransportHandlers | undefined;
  const node = new LedgerNode({
    id: config.id,
    dataDir: path.resolve(config.data),
    peers,
    join: config.join !== undefined,
    tickMs: config.tickMs,
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    maxClockDriftRatio: config.maxClockDriftRatio,
    snapshotEveryEntries: config.snapshotEveryEntries,
    snapshotRetainEntries: config.snapshotRetainEntries,
    maxPendingWrites: config.maxPendingWrites,
    clock: systemClock,
    logger,
    transport: (h) => {
      handlers = h;
      return new PeerTransport({ nodeId: config.id, handlers: h, secret: config.clusterSecret, tls, logger });
    },
  });
  if (!handlers) throw new Error('transport was not created');
  const peerHandlers = handlers;

  const https = config.tlsCert && config.tlsKey ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } : undefined;
  const peerOptions = { nodeId: config.id, secret: config.clusterSecret, handlers: peerHandlers };
  const tokens: TokenGrant[] = [...config.tokens].map(([token, scope], i) => ({ token, scopes: [scope], name: `${scope}-${i + 1}` }));
  const extensions: AppExtension[] = [metricsExtension(node.metrics)];
  // With --peer-listen the peer RPCs get their own port and nothing else; otherwise they share the API's.
  // Peer RPCs run many times a second: log them only when something is wrong.
  const mountPeerRoutes = (root: FastifyInstance): void => {
    void root.register(peerRoutesPlugin, { ...peerOptions, prefix: PEER_ROUTES_PREFIX, logLevel: 'warn' });
  };
  if (config.peerListen === undefined) extensions.push(mountPeerRoutes);
  const app = buildApp({
    service: node,
    tokens,
    bodyLimitBytes: config.bodyLimitBytes,
    logLevel: config.logLevel,
    extensions,
    ...(config.tlsCa ? { forwardCa: readFileSync(config.tlsCa) } : {}),
    ...(https ? { https } : {}),
  });
  const servers = [app];
  if (config.peerListen !== undefined) {
    const peerApp = https ? fastify({ https }) : fastify();
    mountPeerRoutes(peerApp);
    const { host, port } = splitHostPort(config.peerListen);
    await peerApp.listen({ host, port });
    servers.push(peerApp);
  }
  const { host, port } = splitHostPort(listen);
  await app.listen({ host, port });
  node.start();
  logger.info({ listen, peers: Object.fromEntries(peers), join: config.join }, 'ledgerd started');

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await node.stop();
      for (const server of servers) await server.close();
      logger.info('stopped cleanly');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'unclean shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`ledgerd: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
