// The receiving side of the peer transport: two routes under a prefix
// (default /raft) that any fastify instance can mount, the node's one port or
// a separate --peer-listen port alike.
//
//   POST {prefix}/v1/messages   a message-batch frame -> handlers.onMessages
//   POST {prefix}/v1/snapshot   a snapshot-chunk frame -> the sink from handlers.onSnapshotStart
//
// Both take only application/octet-stream (the parser is scoped to these
// routes, so the JSON API is untouched), with bounded bodies. Headers are
// authenticated before a body is read; bodies are decoded and checked before
// anything reaches the core: the codec checks the frame, peer-validate.ts
// the bounds of every field (terms and indexes at most 2^48, node ids,
// entries, snapshot metadata). Answers: 204 done, 400 malformed, 401 not
// authenticated, 403 a message whose `from` is not the sender, 409 a
// snapshot chunk out of order, 413 too large, 415 not octet-stream, 421 meant
// for another node, 422 snapshot checksum mismatch, 503 snapshot refused.
//
// Ordering: a sender numbers its message requests; a batch older than one
// already delivered from the same sender incarnation is dropped (and
// answered 204), so delivery never goes backwards even if pipelined requests
// overtake each other. Raft tolerates the loss; it does not tolerate stale
// appends overwriting newer ones on the way in.
//
// A failed assertion while a message is stepped is fatal: the process logs it
// and exits (src/lib/fatal.ts) instead of answering 500 over a half-updated
// core. Refusals of malformed or insane messages are logged at warn.

import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Message, NodeId } from '../raft/types.js';
import type { SnapshotSink, TransportHandlers } from './transport.js';
import { exitOnAssertion, isAssertionFailure, rethrowIfAssertion, type AssertionHandler } from '../lib/fatal.js';
import { PeerAuthenticator, bodyMatchesDigest, secretBytes } from './peer-auth.js';
import type { PeerAuthResult, PeerOperation, PeerSecret } from './peer-auth.js';
import { PeerDecodeError, decodeMessageBatch, decodeSnapshotChunk } from './peer-codec.js';
import type { SnapshotChunk } from './peer-codec.js';
import { peerLimits } from './peer-limits.js';
import type { PeerLimits } from './peer-limits.js';
import { chunkFlaw, messageFlaw } from './peer-validate.js';

export const PEER_ROUTES_PREFIX = '/raft';
export const PEER_ROUTE_PATHS: Readonly<Record<PeerOperation, string>> = Object.freeze({
  messages: '/v1/messages',
  snapshot: '/v1/snapshot',
});
/** Room for a chunk frame's header and its `snap` message beside the data. */
const SNAPSHOT_FRAME_OVERHEAD_BYTES = 256 * 1024;
/** Sender incarnations remembered for ordering; the oldest are forgotten beyond it. */
const MAX_TRACKED_SENDERS = 4096;

export interface PeerRoutesOptions {
  readonly nodeId: NodeId;
  /** Without a secret, peer requests are not authenticated: safe on loopback only. */
  readonly secret?: PeerSecret | undefined;
  readonly handlers: Pick<TransportHandlers, 'onMessages' | 'onSnapshotStart'>;
  readonly limits?: Partial<PeerLimits> | undefined;
  /** The wall clock that signed timestamps are checked against (tests move it). */
  readonly nowMs?: (() => number) | undefined;
  /** What a failed assertion does (default: log and exit the process); tests observe it instead. */
  readonly onAssertionFailure?: AssertionHandler | undefined;
}

export type PeerRouteErrorCode =
  | 'peer_unauthenticated'
  | 'peer_bad_headers'
  | 'peer_wrong_recipient'
  | 'peer_sender_mismatch'
  | 'peer_bad_body'
  | 'peer_body_too_large'
  | 'peer_unsupported_media_type'
  | 'peer_snapshot_refused'
  | 'peer_snapshot_busy'
  | 'peer_snapshot_out_of_order'
  | 'peer_snapshot_checksum_mismatch'
  | 'peer_snapshot_invalid'
  | 'peer_snapshot_failed'
  | 'peer_internal_error';

interface Refusal {
  readonly status: number;
  readonly code: PeerRouteErrorCode;
  readonly message: string;
}

type Authorized = Extract<PeerAuthResult, { ok: true }>;

/** Mounts the peer routes on `app` under `prefix` (default /raft) in their own encapsulated context. */
export function registerPeerRoutes(app: FastifyInstance, options: PeerRoutesOptions, prefix = PEER_ROUTES_PREFIX): void {
  void app.register(peerRoutesPlugin, { ...options, prefix });
}

/** The same as a fastify plugin, for `app.register(peerRoutesPlugin, { prefix, ...options })`. */
export const peerRoutesPlugin: FastifyPluginAsync<PeerRoutesOptions> = async (app, options) => {
  const limits = peerLimits(options.limits);
  const authenticator = new PeerAuthenticator(options.nodeId, secretBytes(options.secret), limits, options.nowMs);
  const ordering = new DeliveryOrder();
  const snapshots = new SnapshotReceiver(options.nodeId, options.handlers, limits);
  const authorized = new WeakMap<FastifyRequest, Authorized>();

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const onAssertionFailure = options.onAssertionFailure ?? exitOnAssertion;
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    if (isAssertionFailure(error)) {
      request.log.fatal({ err: error }, 'assertion failed while handling a peer request');
      onAssertionFailure(error, `peer route ${request.url}`);
    }
    void send(reply, refusalForFrameworkError(error));
  });
  // A peer that sends what this node refuses is broken, misconfigured or hostile: say so where operators look.
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode === 400 || reply.statusCode === 403 || reply.statusCode === 421) {
      request.log.warn({ status: reply.statusCode, from: request.headers['x-raft-from'], body: String(payload).slice(0, 512) }, 'refused a peer request');
    }
    return payload;
  });
  app.addHook('onClose', async () => snapshots.abortAll());

  const authenticate = (operation: PeerOperation) => async (request: FastifyRequest, reply: FastifyReply) => {
    const verdict = authenticator.check(operation, request.headers);
    if (!verdict.ok) return send(reply, verdict);
    if (verdict.replayed) return reply.header('x-raft-dropped', 'replay').code(204).send();
    authorized.set(request, verdict);
    return undefined;
  };

  /** The verified sender and body of a request, or the refusal already sent. */
  const admit = (request: FastifyRequest): { sender: Authorized; body: Buffer } | Refusal => {
    const sender = authorized.get(request);
    if (sender === undefined) return { status: 401, code: 'peer_unauthenticated', message: 'peer request was not authenticated' };
    if (!Buffer.isBuffer(request.body)) return { status: 400, code: 'peer_bad_body', message: 'peer request has no application/octet-stream body' };
    if (!bodyMatchesDigest(request.body, sender.bodySha256)) {
      return { status: 401, code: 'peer_unauthenticated', message: 'peer request body does not match its signed digest' };
    }
    return { sender, body: request.body };
  };

  app.post(PEER_ROUTE_PATHS.messages, { bodyLimit: limits.maxRequestBytes, onRequest: authenticate('messages') }, async (request, reply) => {
    const admitted = admit(request);
    if ('status' in admitted) return send(reply, admitted);
    const decoded = decode(() => decodeMessageBatch(admitted.body, limits));
    if ('status' in decoded) return send(reply, decoded);
    const refusal = checkBatch(decoded.value, admitted.sender.sender, options.nodeId);
    if (refusal !== undefined) return send(reply, refusal);
    if (!ordering.admit(admitted.sender.sender, admitted.sender.epoch, admitted.sender.seq)) {
      return reply.header('x-raft-dropped', 'stale').code(204).send();
    }
    if (decoded.value.length > 0) options.handlers.onMessages(decoded.value);
    return reply.code(204).send();
  });

  app.post(PEER_ROUTE_PATHS.snapshot, {
    bodyLimit: limits.maxSnapshotChunkBytes + SNAPSHOT_FRAME_OVERHEAD_BYTES,
    onRequest: authenticate('snapshot'),
  }, async (request, reply) => {
    const admitted = admit(request);
    if ('status' in admitted) return send(reply, admitted);
    const decoded = decode(() => decodeSnapshotChunk(admitted.body, limits));
    if ('status' in decoded) return send(reply, decoded);
    const outcome = snapshots.receive(admitted.sender.sender, decoded.value);
    if ('status' in outcome) return send(reply, outcome);
    if (outcome.deliver !== undefined) options.handlers.onMessages([outcome.deliver]);
    return reply.code(204).send();
  });
};

function send(reply: FastifyReply, refusal: Refusal): FastifyReply {
  return reply.code(refusal.status).send({ error: { code: refusal.code, message: refusal.message } });
}

function decode<T>(run: () => T): { value: T } | Refusal {
  try {
    return { value: run() };
  } catch (error) {
    if (error instanceof PeerDecodeError) return { status: 400, code: error.code, message: error.message };
    throw error;
  }
}

/** Every message must come from the authenticated sender, be meant for this node, and not need snapshot data. */
function checkBatch(messages: readonly Message[], sender: NodeId, nodeId: NodeId): Refusal | undefined {
  for (const [position, message] of messages.entries()) {
    if (message.from !== sender) {
      return { status: 403, code: 'peer_sender_mismatch', message: `message ${position} claims to be from ${JSON.stringify(message.from)} in a request from ${JSON.stringify(sender)}` };
    }
    if (message.to !== nodeId) {
      return { status: 421, code: 'peer_wrong_recipient', message: `message ${position} is for ${JSON.stringify(message.to)}, this is ${JSON.stringify(nodeId)}` };
    }
    if (message.type === 'snap') {
      return { status: 400, code: 'peer_bad_body', message: `message ${position} is a snap message: it travels with its data on ${PEER_ROUTE_PATHS.snapshot}` };
    }
    const flaw = messageFlaw(message);
    if (flaw !== undefined) return { status: 400, code: 'peer_bad_body', message: `message ${position}: ${flaw}` };
  }
  return undefined;
}

function refusalForFrameworkError(error: { statusCode?: number; code?: string; message: string }): Refusal {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, code: 'peer_body_too_large', message: `${error.message}: raise maxRequestBytes (or maxSnapshotChunkBytes) on the receiver or lower the sender's batch size` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, code: 'peer_unsupported_media_type', message: 'peer requests must be application/octet-stream' };
    default: {
      const status = error.statusCode ?? 500;
      if (status >= 400 && status < 500) return { status, code: 'peer_bad_body', message: error.message };
      return { status: 500, code: 'peer_internal_error', message: error.message };
    }
  }
}

/** The newest delivered batch of each sender incarnation. */
class DeliveryOrder {
  private readonly last = new Map<NodeId, { epoch: string; seq: number }>();

  /** True when this batch is newer than every batch delivered from the sender's current incarnation. */
  admit(sender: NodeId, epoch: string, seq: number): boolean {
    const last = this.last.get(sender);
    if (last !== undefined && last.epoch === epoch) {
      if (seq <= last.seq) return false;
      last.seq = seq;
      return true;
    }
    this.last.delete(sender);
    if (this.last.size >= MAX_TRACKED_SENDERS) {
      const oldest = this.last.keys().next();
      if (oldest.done !== true) this.last.delete(oldest.value);
    }
    this.last.set(sender, { epoch, seq });
    return true;
  }
}

interface IncomingSnapshot {
  readonly streamId: string;
  readonly sink: SnapshotSink;
  readonly message: Message;
  readonly totalBytes: number;
  readonly dataCrc32c: number;
  receivedBytes: number;
  idleTimer: NodeJS.Timeout;
}

/** At most one snapshot stream per sender, each written to its sink in order and committed at the end. */
class SnapshotReceiver {
  private readonly streams = new Map<NodeId, IncomingSnapshot>();

  constructor(
    private readonly nodeId: NodeId,
    private readonly handlers: Pick<TransportHandlers, 'onSnapshotStart'>,
    private readonly limits: PeerLimits,
  ) {}

  /** Takes one chunk; on the last one returns the `snap` message to deliver. */
  receive(sender: NodeId, chunk: SnapshotChunk): { deliver: Message | undefined } | Refusal {
    const flaw = chunkFlaw(chunk);
    if (flaw !== undefined) return { status: 400, code: 'peer_bad_body', message: `snapshot chunk: ${flaw}` };
    const current = this.streams.get(sender);
    if (chunk.abort) {
      if (current?.streamId === chunk.streamId) this.abort(sender, current);
      return { deliver: undefined };
    }
    const stream = chunk.first ? this.start(sender, chunk) : current;
    if (stream === undefined || 'status' in stream) {
      return stream ?? { status: 409, code: 'peer_snapshot_out_of_order', message: `no snapshot stream ${chunk.streamId} from ${JSON.stringify(sender)} is open` };
    }
    if (stream.streamId !== chunk.streamId || chunk.offsetBytes !== stream.receivedBytes ||
      chunk.totalBytes !== stream.totalBytes || chunk.dataCrc32c !== stream.dataCrc32c) {
      this.abort(sender, stream);
      return { status: 409, code: 'peer_snapshot_out_of_order', message: `snapshot chunk at ${chunk.offsetBytes} of stream ${chunk.streamId} does not continue the open stream at ${stream.receivedBytes}` };
    }
    const failure = this.write(sender, stream, chunk);
    if (failure !== undefined) return failure;
    return chunk.last ? this.commit(sender, stream) : { deliver: undefined };
  }

  abortAll(): void {
    for (const [sender, stream] of this.streams) this.abort(sender, stream);
  }

  private start(sender: NodeId, chunk: SnapshotChunk): IncomingSnapshot | Refusal {
    const message = chunk.message;
    const meta = message?.snapshot;
    if (message === undefined || message.type !== 'snap' || meta === undefined || chunk.offsetBytes !== 0) {
      return { status: 400, code: 'peer_bad_body', message: 'the first snapshot chunk must start at 0 and carry a snap message with its metadata' };
    }
    const flaw = messageFlaw(message);
    if (flaw !== undefined) return { status: 400, code: 'peer_bad_body', message: `snap message: ${flaw}` };
    if (message.from !== sender) {
      return { status: 403, code: 'peer_sender_mismatch', message: `snap message claims to be from ${JSON.stringify(message.from)} in a request from ${JSON.stringify(sender)}` };
    }
    if (message.to !== this.nodeId) {
      return { status: 421, code: 'peer_wrong_recipient', message: `snap message is for ${JSON.stringify(message.to)}, this is ${JSON.stringify(this.nodeId)}` };
    }
    const superseded = this.streams.get(sender);
    if (superseded !== undefined) this.abort(sender, superseded);
    if (this.streams.size >= this.limits.maxSnapshotStreams) {
      return { status: 503, code: 'peer_snapshot_busy', message: `already receiving ${this.streams.size} snapshots, the most allowed (maxSnapshotStreams)` };
    }
    let sink: SnapshotSink | undefined;
    try {
      sink = this.handlers.onSnapshotStart(sender, meta);
    } catch (error) {
      rethrowIfAssertion(error);
      return { status: 500, code: 'peer_snapshot_failed', message: `opening a sink for snapshot ${meta.index} failed: ${describe(error)}` };
    }
    if (sink === undefined) return { status: 503, code: 'peer_snapshot_refused', message: `node ${JSON.stringify(this.nodeId)} refused snapshot ${meta.index} (term ${meta.term})` };
    const stream: IncomingSnapshot = {
      streamId: chunk.streamId, sink, message, totalBytes: chunk.totalBytes, dataCrc32c: chunk.dataCrc32c,
      receivedBytes: 0, idleTimer: this.idleTimer(sender),
    };
    this.streams.set(sender, stream);
    return stream;
  }

  private write(sender: NodeId, stream: IncomingSnapshot, chunk: SnapshotChunk): Refusal | undefined {
    try {
      if (chunk.data.byteLength > 0) stream.sink.write(chunk.data);
    } catch (error) {
      rethrowIfAssertion(error);
      this.abort(sender, stream);
      return { status: 500, code: 'peer_snapshot_failed', message: `writing the snapshot failed: ${describe(error)}` };
    }
    stream.receivedBytes += chunk.data.byteLength;
    stream.idleTimer.refresh();
    return undefined;
  }

  private commit(sender: NodeId, stream: IncomingSnapshot): { deliver: Message } | Refusal {
    if (stream.receivedBytes !== stream.totalBytes) {
      this.abort(sender, stream);
      return { status: 400, code: 'peer_bad_body', message: `the last snapshot chunk ends at ${stream.receivedBytes} of ${stream.totalBytes} bytes` };
    }
    this.forget(sender, stream);
    try {
      stream.sink.commit(stream.dataCrc32c);
    } catch (error) {
      rethrowIfAssertion(error);
      stream.sink.abort();
      if ((error as { code?: unknown }).code === 'SNAPSHOT_CHECKSUM_MISMATCH') return { status: 422, code: 'peer_snapshot_checksum_mismatch', message: describe(error) };
      // The ledger refused the image itself (its sha256, or a state that is not what its header says): the sender's fault.
      if ((error as { name?: unknown }).name === 'SnapshotRefusedError') return { status: 422, code: 'peer_snapshot_invalid', message: describe(error) };
      return { status: 500, code: 'peer_snapshot_failed', message: `committing the snapshot failed: ${describe(error)}` };
    }
    return { deliver: stream.message };
  }

  private idleTimer(sender: NodeId): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const stream = this.streams.get(sender);
      if (stream?.idleTimer === timer) this.abort(sender, stream);
    }, this.limits.snapshotIdleTimeoutMs);
    timer.unref();
    return timer;
  }

  private abort(sender: NodeId, stream: IncomingSnapshot): void {
    this.forget(sender, stream);
    stream.sink.abort();
  }

  private forget(sender: NodeId, stream: IncomingSnapshot): void {
    clearTimeout(stream.idleTimer);
    if (this.streams.get(sender) === stream) this.streams.delete(sender);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
