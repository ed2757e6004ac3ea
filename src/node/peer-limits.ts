// The bounds of the peer transport, shared by the sending side
// (peer-transport.ts) and the receiving routes (peer-routes.ts): batch and
// body sizes, queue lengths, requests in flight, snapshot chunks, timeouts,
// backoff and the authentication window. Every queue and buffer in the
// transport has one of these as its maximum.

import { z } from 'zod';

const positiveInt = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const MiB = 1024 * 1024;

export const peerLimitsSchema = z
  .object({
    /** Messages one request carries at most (the wire format allows 65535). */
    maxBatchMessages: positiveInt.max(65_535),
    /** The sender closes a batch once it holds this many bytes (a single larger message still goes alone). */
    maxBatchBytes: positiveInt,
    /** The largest message-batch body a receiver accepts (413 beyond). */
    maxRequestBytes: positiveInt,
    /** Entries one message may carry. */
    maxEntriesPerMessage: positiveInt,
    /** Messages waiting for one peer; the oldest are dropped beyond it (Raft retransmits). */
    maxQueuedMessages: positiveInt,
    /** Bytes waiting for one peer; the oldest messages are dropped beyond it. */
    maxQueuedBytes: positiveInt,
    /** Message requests pipelined on one peer's connection. */
    maxInFlightRequests: positiveInt.max(64),
    /** A message request that has not been answered by then fails and the peer backs off. */
    requestTimeoutMs: positiveInt,
    /** How long connecting to a peer may take. */
    connectTimeoutMs: positiveInt,
    /** Idle keep-alive connections are closed after this. */
    keepAliveTimeoutMs: positiveInt,
    /** Snapshot data per request on the sending side. */
    snapshotChunkBytes: positiveInt,
    /** The largest snapshot chunk a receiver accepts. */
    maxSnapshotChunkBytes: positiveInt,
    /** A snapshot chunk request that has not been answered by then fails the whole stream. */
    snapshotChunkTimeoutMs: positiveInt,
    /** A receiver aborts a snapshot stream that sent nothing for this long. */
    snapshotIdleTimeoutMs: positiveInt,
    /** Snapshot streams a receiver accepts at once (from different peers). */
    maxSnapshotStreams: positiveInt,
    /** The first retry after a failure waits about this long; each failure doubles it. */
    backoffBaseMs: positiveInt,
    backoffMaxMs: positiveInt,
    /** How far a signed request's timestamp may be from the receiver's clock. */
    maxClockSkewMs: positiveInt,
    /** Request nonces remembered against replay (the oldest are forgotten beyond it). */
    maxRememberedNonces: positiveInt,
  })
  .strict()
  .refine((limits) => limits.maxBatchBytes <= limits.maxRequestBytes, {
    message: 'maxBatchBytes must not exceed maxRequestBytes',
    path: ['maxBatchBytes'],
  })
  .refine((limits) => limits.snapshotChunkBytes <= limits.maxSnapshotChunkBytes, {
    message: 'snapshotChunkBytes must not exceed maxSnapshotChunkBytes',
    path: ['snapshotChunkBytes'],
  })
  .refine((limits) => limits.backoffBaseMs <= limits.backoffMaxMs, {
    message: 'backoffBaseMs must not exceed backoffMaxMs',
    path: ['backoffBaseMs'],
  });

export type PeerLimits = z.infer<typeof peerLimitsSchema>;

export const DEFAULT_PEER_LIMITS: PeerLimits = Object.freeze({
  maxBatchMessages: 4096,
  maxBatchBytes: 4 * MiB,
  maxRequestBytes: 16 * MiB,
  maxEntriesPerMessage: 65_536,
  maxQueuedMessages: 8192,
  maxQueuedBytes: 64 * MiB,
  maxInFlightRequests: 4,
  requestTimeoutMs: 5000,
  connectTimeoutMs: 2000,
  keepAliveTimeoutMs: 60_000,
  snapshotChunkBytes: 1 * MiB,
  maxSnapshotChunkBytes: 8 * MiB,
  snapshotChunkTimeoutMs: 30_000,
  snapshotIdleTimeoutMs: 60_000,
  maxSnapshotStreams: 8,
  backoffBaseMs: 50,
  backoffMaxMs: 5000,
  maxClockSkewMs: 60_000,
  maxRememberedNonces: 65_536,
});

/** The defaults with `overrides` applied; throws a ZodError naming the field when a value is out of range. */
export function peerLimits(overrides: Partial<PeerLimits> = {}): PeerLimits {
  return Object.freeze(peerLimitsSchema.parse({ ...DEFAULT_PEER_LIMITS, ...overrides }));
}
