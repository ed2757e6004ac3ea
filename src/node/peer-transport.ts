// The sending side of the peer transport over undici: one keep-alive
// connection per peer for messages (HTTP/1.1 pipelined, at most
// maxInFlightRequests requests on it) and one for snapshot chunks, a bounded
// ordered queue per peer whose messages go out batched, request timeouts,
// and exponential backoff with jitter while a peer cannot be reached. The
// receiving side is peer-routes.ts; the wire format is peer-codec.ts.
//
// Raft tolerates lost and reordered messages, not unbounded queues: a full
// queue drops its oldest messages, a failed request's messages are not
// retried (the core retransmits), and a peer that is down costs at most one
// probe request per backoff interval.

import { randomBytes } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import { Client } from 'undici';
import type { Dispatcher } from 'undici';
import type { Message, NodeId } from '../raft/types.js';
import type { SnapshotSource, Transport, TransportHandlers } from './transport.js';
import type { NodeLogger } from './node-options.js';
import { assert } from '../lib/assert.js';
import { newEpoch, peerRequestHeaders, secretBytes } from './peer-auth.js';
import type { PeerOperation, PeerSecret } from './peer-auth.js';
import { encodeMessageBatch, encodeSnapshotChunk, encodedMessageBytes } from './peer-codec.js';
import { peerLimits } from './peer-limits.js';
import type { PeerLimits } from './peer-limits.js';
import { PEER_ROUTES_PREFIX, PEER_ROUTE_PATHS } from './peer-routes.js';

/** The frame header, message count and checksum around a batch's messages. */
const BATCH_FRAME_OVERHEAD_BYTES = 16;
/** How much of an error answer is kept for the log. */
const MAX_ERROR_BODY_BYTES = 2048;
/** An abort notice for a failed snapshot stream gets this long. */
const SNAPSHOT_ABORT_TIMEOUT_MS = 2000;

/** TLS for https peer URLs; with `cert` and `key` the node presents a client certificate (mutual TLS). */
export type PeerTlsOptions = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'passphrase' | 'servername' | 'rejectUnauthorized'>;

export interface PeerTransportOptions {
  readonly nodeId: NodeId;
  readonly handlers: TransportHandlers;
  /** The shared cluster secret; without it requests are unauthenticated (safe on loopback only). */
  readonly secret?: PeerSecret | undefined;
  readonly tls?: PeerTlsOptions | undefined;
  readonly limits?: Partial<PeerLimits> | undefined;
  readonly logger?: NodeLogger | undefined;
  /** Jitter source in [0, 1) for backoff. */
  readonly random?: (() => number) | undefined;
  /** The wall clock for signed timestamps. */
  readonly nowMs?: (() => number) | undefined;
}

export interface PeerLinkStats {
  readonly peer: NodeId;
  readonly url: string;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly inFlightRequests: number;
  readonly sentRequests: number;
  readonly sentMessages: number;
  /** Dropped because the queue was full, the message could never fit a request, or its request failed. */
  readonly droppedMessages: number;
  readonly failedRequests: number;
  readonly reachable: boolean;
  readonly snapshotInProgress: boolean;
}

/** A peer answered a request with an error status. */
export class PeerHttpError extends Error {
  override name = 'PeerHttpError';
  constructor(readonly peer: NodeId, readonly statusCode: number, readonly body: string) {
    super(`peer ${JSON.stringify(peer)} answered ${statusCode}: ${body}`);
  }
}

export class PeerTimeoutError extends Error {
  override name = 'PeerTimeoutError';
  constructor(readonly peer: NodeId, readonly timeoutMs: number) {
    super(`peer ${JSON.stringify(peer)} did not answer within ${timeoutMs} ms`);
  }
}

interface Queued {
  readonly message: Message;
  readonly bytes: number;
}

/** What a link needs from its transport. */
interface LinkContext {
  readonly nodeId: NodeId;
  readonly epoch: string;
  readonly secret: Buffer | undefined;
  readonly limits: PeerLimits;
  readonly handlers: TransportHandlers;
  readonly logger: NodeLogger | undefined;
  readonly random: () => number;
  readonly nowMs: () => number;
  readonly tls: PeerTlsOptions | undefined;
  readonly isClosed: () => boolean;
}

/** Everything this node sends to one peer at one URL. */
class PeerLink {
  private readonly origin: string;
  private readonly basePath: string;
  private readonly client: Client;
  private snapshotClient: Client | undefined;
  private queue: Queued[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private inFlight = 0;
  private seq = 0;
  private failures = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private snapshot: Promise<void> | undefined;
  private sentRequests = 0;
  private sentMessages = 0;
  private droppedMessages = 0;
  private failedRequests = 0;

  /** `configuredUrl` is kept as given, to notice when setPeers changes it. */
  constructor(readonly peer: NodeId, readonly configuredUrl: string, readonly url: URL, private readonly context: LinkContext) {
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '') + PEER_ROUTES_PREFIX;
    this.client = this.newClient(context.limits.maxInFlightRequests);
  }

  private newClient(pipelining: number): Client {
    const { limits, tls } = this.context;
    return new Client(this.origin, {
      pipelining,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      keepAliveMaxTimeout: limits.keepAliveTimeoutMs,
      connect: { ...tls, timeout: limits.connectTimeoutMs },
    });
  }

  enqueue(message: Message): void {
    const bytes = encodedMessageBytes(message);
    if (bytes + BATCH_FRAME_OVERHEAD_BYTES > this.context.limits.maxRequestBytes) {
      this.droppedMessages += 1;
      this.context.logger?.warn({ peer: this.peer, type: message.type, bytes }, 'peer message larger than maxRequestBytes dropped');
      return;
    }
    this.queue.push({ message, bytes });
    this.queuedBytes += bytes;
    const { maxQueuedMessages, maxQueuedBytes } = this.context.limits;
    while (this.queueLength() > maxQueuedMessages || this.queuedBytes > maxQueuedBytes) this.dropOldest();
  }

  /**
   * Sends what is queued now, one request per batch. The transport calls it
   * once after enqueueing all of a Ready's messages, so they share requests
   * and leave before whatever the caller does next (an acknowledgement must
   * not wait behind an apply).
   */
  pump(): void {
    // After a failure, one probe request at a time until the peer answers.
    const window = this.failures > 0 ? 1 : this.context.limits.maxInFlightRequests;
    while (!this.closed && this.backoffTimer === undefined && this.inFlight < window && this.queueLength() > 0) {
      this.dispatch(this.takeBatch());
    }
  }

  private takeBatch(): Message[] {
    const { maxBatchMessages, maxBatchBytes } = this.context.limits;
    const batch: Message[] = [];
    let batchBytes = BATCH_FRAME_OVERHEAD_BYTES;
    while (this.queueLength() > 0 && batch.length < maxBatchMessages) {
      const next = this.queue[this.queueHead] as Queued;
      if (batch.length > 0 && batchBytes + next.bytes > maxBatchBytes) break;
      batch.push(this.shift().message);
      batchBytes += next.bytes;
    }
    return batch;
  }

  private dispatch(batch: Message[]): void {
    this.seq += 1;
    this.inFlight += 1;
    this.sentRequests += 1;
    const body = encodeMessageBatch(batch);
    post(this.context, this.client, this.peer, this.path('messages'), 'messages', this.seq, body, this.context.limits.requestTimeoutMs)
      .then(() => this.succeeded(batch.length), (error: unknown) => this.failed(error, batch.length))
      .finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
  }

  private succeeded(messageCount: number): void {
    this.sentMessages += messageCount;
    if (this.failures === 0) return;
    this.context.logger?.info({ peer: this.peer, failedAttempts: this.failures }, 'peer reachable again');
    this.failures = 0;
  }

  private failed(error: unknown, messageCount: number): void {
    this.droppedMessages += messageCount;
    this.failedRequests += 1;
    if (this.closed || this.context.isClosed() || this.backoffTimer !== undefined) return;
    if (this.failures === 0) this.context.logger?.warn({ peer: this.peer, url: this.url.href, error: describe(error) }, 'peer unreachable; backing off');
    const ceilingMs = Math.min(this.context.limits.backoffMaxMs, this.context.limits.backoffBaseMs * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    const delayMs = Math.ceil(ceilingMs / 2 + this.context.random() * (ceilingMs / 2));
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.pump();
    }, delayMs);
    this.backoffTimer.unref();
    this.context.handlers.onUnreachable(this.peer);
  }

  /** Streams a snapshot unless one is already going to this peer; the outcome goes to onSnapshotSent. */
  sendSnapshot(message: Message, source: SnapshotSource): void {
    if (this.snapshot !== undefined) {
      source.close();
      this.context.logger?.warn({ peer: this.peer, index: source.meta.index }, 'snapshot already streaming to this peer; new one refused');
      queueMicrotask(() => this.reportSnapshot(false));
      return;
    }
    this.snapshot = streamSnapshot(this, message, source)
      .then((ok) => this.reportSnapshot(ok))
      .finally(() => {
        this.snapshot = undefined;
      });
  }

  private reportSnapshot(ok: boolean): void {
    if (!this.context.isClosed()) this.context.handlers.onSnapshotSent(this.peer, ok);
  }

  /** The connection snapshots use, apart from messages so that a large chunk does not hold back heartbeats. */
  snapshotConnection(): Client {
    this.snapshotClient ??= this.newClient(1);
    return this.snapshotClient;
  }

  path(operation: PeerOperation): string {
    return this.basePath + PEER_ROUTE_PATHS[operation];
  }

  get linkContext(): LinkContext {
    return this.context;
  }

  get isClosed(): boolean {
    return this.closed || this.context.isClosed();
  }

  /** Drops the queue and closes the connections; in-flight requests fail and are not reported. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.droppedMessages += this.queueLength();
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    await Promise.all([this.client.destroy(), this.snapshotClient?.destroy()]);
    await this.snapshot;
  }

  stats(): PeerLinkStats {
    return {
      peer: this.peer,
      url: this.configuredUrl,
      queuedMessages: this.queueLength(),
      queuedBytes: this.queuedBytes,
      inFlightRequests: this.inFlight,
      sentRequests: this.sentRequests,
      sentMessages: this.sentMessages,
      droppedMessages: this.droppedMessages,
      failedRequests: this.failedRequests,
      reachable: this.failures === 0,
      snapshotInProgress: this.snapshot !== undefined,
    };
  }

  private queueLength(): number {
    return this.queue.length - this.queueHead;
  }

  private shift(): Queued {
    const item = this.queue[this.queueHead] as Queued;
    this.queueHead += 1;
    this.queuedBytes -= item.bytes;
    // Compact once the consumed head dominates, keeping shift O(1) amortised.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return item;
  }

  private dropOldest(): void {
    this.shift();
    this.droppedMessages += 1;
  }
}

/** Streams `source` in order, one chunk per request; the `snap` message rides on the first and is delivered after the last. */
async function streamSnapshot(link: PeerLink, message: Message, source: SnapshotSource): Promise<boolean> {
  const context = link.linkContext;
  const streamId = randomBytes(16).toString('hex');
  const chunkBytes = context.limits.snapshotChunkBytes;
  const header = { streamId, totalBytes: source.dataBytes, dataCrc32c: source.dataCrc32c, abort: false };
  let offsetBytes = 0;
  try {
    do {
      if (link.isClosed) return false;
      const length = Math.min(chunkBytes, source.dataBytes - offsetBytes);
      const data = length > 0 ? source.read(offsetBytes, length) : new Uint8Array(0);
      if (data.byteLength !== length) throw new Error(`snapshot source gave ${data.byteLength} bytes at offset ${offsetBytes}, not ${length}`);
      const first = offsetBytes === 0;
      const last = offsetBytes + length === source.dataBytes;
      const body = encodeSnapshotChunk({ ...header, first, last, offsetBytes, message: first ? message : undefined, data });
      await post(context, link.snapshotConnection(), link.peer, link.path('snapshot'), 'snapshot', 0, body, context.limits.snapshotChunkTimeoutMs);
      offsetBytes += length;
    } while (offsetBytes < source.dataBytes);
    return !link.isClosed;
  } catch (error) {
    if (!link.isClosed) {
      context.logger?.warn({ peer: link.peer, index: source.meta.index, offsetBytes, error: describe(error) }, 'snapshot stream to peer failed');
      // Tell the receiver at once rather than leaving its sink open until its idle timeout.
      const abort = encodeSnapshotChunk({ ...header, abort: true, first: false, last: false, offsetBytes, message: undefined, data: new Uint8Array(0) });
      await post(context, link.snapshotConnection(), link.peer, link.path('snapshot'), 'snapshot', 0, abort, SNAPSHOT_ABORT_TIMEOUT_MS).catch(() => undefined);
    }
    return false;
  } finally {
    source.close();
  }
}

/** One signed POST; resolves on 2xx, rejects with PeerHttpError, PeerTimeoutError or undici's error otherwise. */
async function post(
  context: LinkContext, client: Client, peer: NodeId, path: string, operation: PeerOperation,
  seq: number, body: Buffer, timeoutMs: number,
): Promise<void> {
  const headers = peerRequestHeaders(context.secret, { operation, from: context.nodeId, to: peer, epoch: context.epoch, seq, body, nowMs: context.nowMs() });
  headers['content-type'] = 'application/octet-stream';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new PeerTimeoutError(peer, timeoutMs)), timeoutMs);
  try {
    // idempotent + non-blocking lets undici pipeline POSTs; a re-sent request is dropped by the receiver.
    const response = await client.request({ path, method: 'POST', headers, body, signal: controller.signal, idempotent: true, blocking: false });
    if (response.statusCode >= 200 && response.statusCode < 300) {
      await response.body.dump();
      return;
    }
    throw new PeerHttpError(peer, response.statusCode, await readBounded(response.body));
  } finally {
    clearTimeout(timer);
  }
}

async function readBounded(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    chunks.push(bytes);
    total += bytes.length;
    if (total >= MAX_ERROR_BODY_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The Transport over HTTP with undici: construct once per node, then setPeers. */
export class PeerTransport implements Transport {
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly context: LinkContext;
  private closed = false;
  private unknownPeerDrops = 0;

  constructor(options: PeerTransportOptions) {
    this.context = {
      nodeId: options.nodeId,
      epoch: newEpoch(),
      secret: secretBytes(options.secret),
      limits: peerLimits(options.limits),
      handlers: options.handlers,
      logger: options.logger,
      random: options.random ?? Math.random,
      nowMs: options.nowMs ?? Date.now,
      tls: options.tls,
      isClosed: () => this.closed,
    };
  }

  setPeers(urls: ReadonlyMap<NodeId, string>): void {
    if (this.closed) return;
    for (const [peer, link] of this.links) {
      if (urls.get(peer) !== link.configuredUrl) this.removeLink(peer, link);
    }
    for (const [peer, url] of urls) {
      if (peer === this.context.nodeId || this.links.has(peer)) continue;
      const parsed = parsePeerUrl(url);
      if (parsed === undefined) {
        this.context.logger?.warn({ peer, url }, 'peer URL is not an http(s) URL; messages to this peer are dropped');
        continue;
      }
      this.links.set(peer, new PeerLink(peer, url, parsed, this.context));
    }
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const touched = new Set<PeerLink>();
    for (const message of messages) {
      assert(message.from === this.context.nodeId, `message from ${message.from} sent by node ${this.context.nodeId}`);
      assert(message.type !== 'snap', 'snap messages go through sendSnapshot');
      const link = this.links.get(message.to);
      if (link === undefined) {
        this.unknownPeerDrops += 1;
      } else {
        link.enqueue(message);
        touched.add(link);
      }
    }
    for (const link of touched) link.pump();
  }

  sendSnapshot(message: Message, source: SnapshotSource): void {
    assert(message.type === 'snap' && message.snapshot?.index === source.meta.index && message.snapshot.term === source.meta.term,
      'sendSnapshot needs the snap message of the snapshot it streams');
    const link = this.closed ? undefined : this.links.get(message.to);
    if (link === undefined) {
      source.close();
      if (!this.closed) queueMicrotask(() => this.context.handlers.onSnapshotSent(message.to, false));
      return;
    }
    link.sendSnapshot(message, source);
  }

  /** Per-peer counters for metrics and `GET /v1/cluster`. */
  stats(): { readonly peers: readonly PeerLinkStats[]; readonly unknownPeerDrops: number } {
    return { peers: [...this.links.values()].map((link) => link.stats()), unknownPeerDrops: this.unknownPeerDrops };
  }

  async close(): Promise<void> {
    this.closed = true;
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.map((link) => link.close()));
  }

  private removeLink(peer: NodeId, link: PeerLink): void {
    this.links.delete(peer);
    link.close().catch((error: unknown) => this.context.logger?.warn({ peer, error: describe(error) }, 'closing peer link failed'));
  }
}

function parsePeerUrl(url: string): URL | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed : undefined;
  } catch {
    return undefined;
  }
}
