#!/usr/bin/env node
// ledgerd: one raft-ledger node. Reads the configuration (flags and LEDGER_*
// variables), refuses to expose a port without the credentials it needs,
// takes its data directory (one owner, the right node of the right cluster),
// serves the client API and the peer RPCs, and on SIGTERM/SIGINT/SIGHUP shuts
// down cleanly (a leader first hands leadership over) within a bounded time,
// whatever happens to its log stream. The only process entry that listens.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { ConfigError, exposureOf, loadConfig, usage, type Config } from '../config.js';
import fastify, { type FastifyInstance } from 'fastify';
import { buildApp, type AppExtension } from '../http/app.js';
import type { TokenGrant } from '../http/auth.js';
import { metricsExtension } from '../http/metrics.js';
import { LedgerNode, systemClock } from '../node/node.js';
import { PEER_ROUTES_PREFIX, peerRoutesPlugin } from '../node/peer-routes.js';
import { PeerTransport, type PeerTlsOptions } from '../node/peer-transport.js';
import type { TransportHandlers } from '../node/transport.js';
import type { NodeId } from '../raft/types.js';
import { StartupError, takeDataDir } from './data-dir.js';
import { NonBlockingLogStream } from './log-stream.js';

/** Every answer names the cluster, so a joining node learns which one it joins (etcd sends X-Etcd-Cluster-ID alike). */
export const CLUSTER_ID_HEADER = 'x-raft-cluster-id';
/** After a stop signal, the node is gone within the leadership hand-over plus this, whatever blocks. */
const SHUTDOWN_GRACE_MS = 8_000;
/** Time given to queued log lines at exit; a reader that takes longer loses them. */
const LOG_DRAIN_MS = 500;

function splitHostPort(hostPort: string): { host: string; port: number } {
  const at = hostPort.lastIndexOf(':');
  return { host: hostPort.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(at + 1)) };
}

interface MemberView {
  readonly peers: Map<NodeId, string>;
  readonly clusterId: string;
}

/** A joining node learns its peers' URLs, and the cluster it joins, from the member it was pointed at. */
async function memberView(joinUrl: string, config: Config, tls: PeerTlsOptions | undefined): Promise<MemberView> {
  const headers: Record<string, string> = {};
  const readToken = [...config.tokens].find(([, scope]) => scope === 'read' || scope === 'admin')?.[0];
  if (readToken) headers.authorization = `Bearer ${readToken}`;
  let response;
  try {
    response = await request(new URL('/v1/cluster', joinUrl), {
      headers, headersTimeout: 10_000, bodyTimeout: 10_000, ...(tls?.ca ? { dispatcher: new Agent({ connect: { ca: tls.ca } }) } : {}),
    });
  } catch (error) {
    throw new StartupError(`--join ${joinUrl}: cannot reach the member (${(error as Error).message}): start it first, or join through another member`);
  }
  const body = (await response.body.json().catch(() => ({}))) as { members?: { id: string; url?: string }[] };
  const clusterId = response.headers[CLUSTER_ID_HEADER];
  if (response.statusCode !== 200 || !Array.isArray(body.members) || typeof clusterId !== 'string') {
    throw new StartupError(`--join ${joinUrl}: GET /v1/cluster answered ${response.statusCode}${typeof clusterId === 'string' ? '' : ' without a cluster id'}: is it a raft-ledger node, and does --tokens hold a read token for it?`);
  }
  const peers = new Map<NodeId, string>();
  for (const member of body.members) if (member.url && member.id !== config.id) peers.set(member.id, member.url);
  return { peers, clusterId };
}

/** Adds the cluster id header to every answer of `app`. */
function clusterIdExtension(clusterId: string): AppExtension {
  return (app) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      reply.header(CLUSTER_ID_HEADER, clusterId);
      return payload;
    });
  };
}

/** listen(), with a port in use (or not ours to take) as one line naming the flag. */
async function listenOn(server: FastifyInstance, address: string, flag: string): Promise<void> {
  const { host, port } = splitHostPort(address);
  try {
    await server.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new StartupError(`${address} is already in use (${flag}): stop the process listening there, or give ${flag} another port`);
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES') throw new StartupError(`cannot listen on ${address} (${flag}): ${code}; give ${flag} an address of this machine and a port you may use`);
    throw error;
  }
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
  const exposure = exposureOf(config);
  if (exposure.refusals.length > 0) {
    process.stderr.write(`ledgerd: refusing to start:\n${exposure.refusals.map((line) => `  ${line}\n`).join('')}`);
    process.exit(2);
  }
  const logStream = new NonBlockingLogStream(1);
  const logger = pino({ level: config.logLevel, base: { node: config.id } }, logStream);
  for (const warning of exposure.warnings) logger.warn(warning);
  const tls = tlsOptions(config);
  const member = config.join === undefined ? undefined : await memberView(config.join, config, tls);
  const peers = member?.peers ?? new Map(config.peers);
  const dataDir = path.resolve(config.data);
  const owned = takeDataDir(dataDir, config, member?.clusterId);
  logger.info({ data: dataDir, cluster: owned.identity.clusterId, identity: owned.note }, 'data directory locked and identified');

  let handlers: TransportHandlers | undefined;
  const node = new LedgerNode({
    id: config.id,
    dataDir,
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
  const extensions: AppExtension[] = [clusterIdExtension(owned.identity.clusterId), metricsExtension(node.metrics)];
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
    logStream,
    extensions,
    ...(config.tlsCa ? { forwardCa: readFileSync(config.tlsCa) } : {}),
    ...(https ? { https } : {}),
  });
  const servers = [app];
  if (config.peerListen !== undefined) {
    const peerApp = https ? fastify({ https }) : fastify();
    clusterIdExtension(owned.identity.clusterId)(peerApp);
    mountPeerRoutes(peerApp);
    servers.push(peerApp);
    await listenOn(peerApp, config.peerListen, '--peer-listen');
  }
  await listenOn(app, config.listen, '--listen');
  node.start();
  logger.info({ listen: config.listen, peerListen: config.peerListen, peers: Object.fromEntries(peers), join: config.join }, 'ledgerd started');

  const exit = async (code: number): Promise<never> => {
    await logStream.drain(LOG_DRAIN_MS);
    process.exit(code);
  };
  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'second stop signal: exiting now');
      return void exit(1);
    }
    stopping = true;
    const deadlineMs = config.tickMs * config.electionTicks * 2 + SHUTDOWN_GRACE_MS;
    setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown did not finish in time: exiting anyway (nothing acknowledged is lost)');
      void exit(1);
    }, deadlineMs).unref();
    logger.info({ signal }, 'shutting down');
    try {
      await node.stop();
      for (const server of servers) await server.close();
      owned.lock.release();
      logger.info('stopped cleanly');
      await exit(0);
    } catch (error) {
      logger.error({ err: error }, 'unclean shutdown');
      await exit(1);
    }
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => void shutdown(signal));
}

main().catch((error: unknown) => {
  // What the operator can fix is one line; anything else is a bug and keeps its stack.
  const text = error instanceof StartupError ? error.message : ((error as Error).stack ?? String(error));
  process.stderr.write(`ledgerd: ${text}\n`);
  process.exit(1);
});
