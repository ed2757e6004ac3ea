// Test nodes for the peer transport: a fastify app with the peer routes on
// 127.0.0.1 (port 0 unless given), a PeerTransport, and handlers that record
// what arrives. In-memory snapshot sources and sinks check CRC32C like the
// storage layer does.

import Fastify from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { Entry, Message, MessageType, NodeId, SnapshotMeta } from '../../src/raft/types.js';
import type { SnapshotSink, SnapshotSource, TransportHandlers } from '../../src/node/transport.js';
import { PeerTransport } from '../../src/node/peer-transport.js';
import type { PeerTransportOptions } from '../../src/node/peer-transport.js';
import { registerPeerRoutes } from '../../src/node/peer-routes.js';
import type { PeerLimits } from '../../src/node/peer-limits.js';
import { newEpoch, peerRequestHeaders, secretBytes } from '../../src/node/peer-auth.js';
import type { PeerOperation } from '../../src/node/peer-auth.js';
import { PEER_ROUTES_PREFIX, PEER_ROUTE_PATHS } from '../../src/node/peer-routes.js';
import { request } from 'undici';
import { crc32c } from '../../src/storage/crc32c.js';
import { SnapshotChecksumError } from '../../src/storage/errors.js';

export const SECRET = 'correct horse battery staple 42';

export function message(fields: Partial<Message> & { type: MessageType; from: NodeId; to: NodeId }): Message {
  return {
    term: 1, index: 0, logTerm: 0, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0,
    readRound: 0, readIds: [], force: false, ...fields,
  };
}

export function entry(index: number, data: Uint8Array, term = 1): Entry {
  return { term, index, type: 'normal', data };
}

export class MemorySink implements SnapshotSink {
  readonly chunks: Uint8Array[] = [];
  committed = false;
  aborted = false;
  private crc = 0;
  private bytes = 0;

  constructor(readonly from: NodeId, readonly meta: SnapshotMeta) {}

  write(chunk: Uint8Array): void {
    this.chunks.push(Buffer.from(chunk));
    this.crc = crc32c(chunk, this.crc);
    this.bytes += chunk.byteLength;
  }

  commit(expectedDataCrc32c: number): void {
    if (expectedDataCrc32c !== this.crc) throw new SnapshotChecksumError(expectedDataCrc32c, this.crc, this.bytes);
    this.committed = true;
  }

  abort(): void {
    this.aborted = true;
  }

  data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export class MemorySource implements SnapshotSource {
  readonly dataBytes: number;
  readonly dataCrc32c: number;
  readonly reads: number[] = [];
  closed = false;

  constructor(readonly meta: SnapshotMeta, private readonly data: Uint8Array, options: { crcOverride?: number; failAtOffset?: number } = {}) {
    this.dataBytes = data.byteLength;
    this.dataCrc32c = options.crcOverride ?? crc32c(data);
    this.failAtOffset = options.failAtOffset;
  }

  private readonly failAtOffset: number | undefined;

  read(offset: number, length: number): Uint8Array {
    if (this.failAtOffset !== undefined && offset >= this.failAtOffset) throw new Error(`disk error at ${offset}`);
    this.reads.push(offset);
    return this.data.subarray(offset, Math.min(this.dataBytes, offset + length));
  }

  close(): void {
    this.closed = true;
  }
}

export interface TestNode {
  readonly id: NodeId;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly port: number;
  readonly transport: PeerTransport;
  readonly received: Message[];
  readonly unreachable: NodeId[];
  readonly snapshotsSent: { peer: NodeId; ok: boolean }[];
  readonly sinks: MemorySink[];
  close(): Promise<void>;
}

export interface TestNodeOptions {
  readonly secret?: string | undefined;
  /** The secret the routes check, when it should differ from the one the transport signs with. */
  readonly routesSecret?: string | undefined;
  readonly limits?: Partial<PeerLimits>;
  readonly port?: number;
  /** Where incoming snapshots go; by default a new MemorySink each, kept in `sinks`. */
  readonly openSink?: TransportHandlers['onSnapshotStart'];
  readonly transport?: Partial<PeerTransportOptions>;
}

/** Starts the routes and a transport for `id`; the caller wires peers with connect(). */
export async function startNode(id: NodeId, options: TestNodeOptions = {}): Promise<TestNode> {
  const received: Message[] = [];
  const unreachable: NodeId[] = [];
  const snapshotsSent: { peer: NodeId; ok: boolean }[] = [];
  const sinks: MemorySink[] = [];
  const handlers: TransportHandlers = {
    onMessages: (messages) => received.push(...messages),
    onSnapshotStart: (from, meta) => {
      if (options.openSink !== undefined) return options.openSink(from, meta);
      const sink = new MemorySink(from, meta);
      sinks.push(sink);
      return sink;
    },
    onUnreachable: (peer) => unreachable.push(peer),
    onSnapshotSent: (peer, ok) => snapshotsSent.push({ peer, ok }),
  };
  const app = await listen(id, handlers, options);
  const port = (app.server.address() as AddressInfo).port;
  const transport = new PeerTransport({
    nodeId: id, handlers, secret: options.secret, limits: options.limits, ...options.transport,
  });
  return {
    id, app, port, url: `http://127.0.0.1:${port}`, transport, received, unreachable, snapshotsSent, sinks,
    close: async () => {
      await transport.close();
      await app.close();
    },
  };
}

export async function listen(id: NodeId, handlers: TransportHandlers, options: TestNodeOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  registerPeerRoutes(app, { nodeId: id, secret: options.routesSecret ?? options.secret, handlers, limits: options.limits });
  await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  return app;
}

/** Points every node's transport at every other node. */
export function connect(nodes: readonly TestNode[]): void {
  const urls = new Map(nodes.map((node) => [node.id, node.url]));
  for (const node of nodes) node.transport.setPeers(urls);
}

export interface RawRequest {
  readonly secret?: string | undefined;
  readonly from?: NodeId;
  readonly to?: NodeId;
  readonly seq?: number;
  readonly epoch?: string;
  readonly nowMs?: number;
  readonly contentType?: string;
  /** Replaces or (with undefined) removes headers after signing. */
  readonly headers?: Record<string, string | undefined>;
}

/** One hand-made peer request, signed like the transport signs unless told otherwise. */
export async function postRaw(url: string, operation: PeerOperation, body: Uint8Array, options: RawRequest = {}): Promise<{ status: number; body: string }> {
  const headers: Record<string, string | undefined> = {
    ...peerRequestHeaders(secretBytes(options.secret), {
      operation, from: options.from ?? 'n1', to: options.to ?? 'n2', epoch: options.epoch ?? newEpoch(),
      seq: options.seq ?? 1, body, nowMs: options.nowMs ?? Date.now(),
    }),
    'content-type': options.contentType ?? 'application/octet-stream',
    ...options.headers,
  };
  const defined = Object.fromEntries(Object.entries(headers).filter((pair): pair is [string, string] => pair[1] !== undefined));
  const response = await request(`${url}${PEER_ROUTES_PREFIX}${PEER_ROUTE_PATHS[operation]}`, { method: 'POST', headers: defined, body });
  return { status: response.statusCode, body: await response.body.text() };
}
