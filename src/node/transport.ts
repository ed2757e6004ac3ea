// The peer transport as the node driver sees it: send Raft messages to peers,
// stream snapshots, and receive both. The undici implementation lives in
// src/node/peer-transport.ts; the simulator provides its own.

import type { Message, NodeId, SnapshotMeta } from '../raft/types.js';

/** Reads a snapshot's data in chunks (the storage layer's SnapshotReader fits). */
export interface SnapshotSource {
  readonly meta: SnapshotMeta;
  readonly dataBytes: number;
  /** CRC32C of the whole data, checked by the receiver before install. */
  readonly dataCrc32c: number;
  /** Reads up to `length` bytes at `offset` of the data. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/** Where a receiver writes an incoming snapshot's chunks; commit verifies and keeps it staged. */
export interface SnapshotSink {
  write(chunk: Uint8Array): void;
  commit(expectedDataCrc32c: number): void;
  abort(): void;
}

export interface TransportHandlers {
  /** Messages from peers, in the order each peer sent them. */
  onMessages(messages: readonly Message[]): void;
  /**
   * A peer starts streaming a snapshot: return where to write it, or undefined to refuse.
   * After `commit`, the transport delivers the `snap` message through onMessages.
   */
  onSnapshotStart(from: NodeId, meta: SnapshotMeta): SnapshotSink | undefined;
  /** A peer could not be reached (the core probes it again). */
  onUnreachable(peer: NodeId): void;
  /** The outcome of a snapshot this node streamed to a peer. */
  onSnapshotSent(peer: NodeId, ok: boolean): void;
}

/** Counters of what this node sent to one peer (PeerLinkStats of peer-transport.ts fits). */
export interface PeerSendStats {
  readonly peer: NodeId;
  readonly queuedMessages: number;
  readonly sentRequests: number;
  readonly sentMessages: number;
  readonly droppedMessages: number;
  readonly failedRequests: number;
}

export interface Transport {
  /** Sets how this node reaches its peers (its own list, from --peers and the membership log). */
  setPeers(urls: ReadonlyMap<NodeId, string>): void;
  /** Queues messages; each peer receives its messages in order, batched. Never blocks. */
  send(messages: readonly Message[]): void;
  /** Streams a snapshot to a peer, then sends `message` (the core's `snap`). */
  sendSnapshot(message: Message, source: SnapshotSource): void;
  close(): Promise<void>;
  /** Per-peer send counters, for metrics (a transport without them gives none). */
  stats?(): { readonly peers: readonly PeerSendStats[] };
}
