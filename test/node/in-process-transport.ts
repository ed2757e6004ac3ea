// Connects LedgerNodes in one process for driver tests: messages are passed
// on the next turn of the event loop (asynchronously, as over a socket), and
// snapshots are streamed through the receiver's sink in chunks. Links can be
// cut to make partitions. The real transport is src/node/peer-transport.ts.

import type { Message, NodeId } from '../../src/raft/types.js';
import type { SnapshotSource, Transport, TransportHandlers } from '../../src/node/transport.js';

export class InProcessNetwork {
  private readonly handlers = new Map<NodeId, TransportHandlers>();
  readonly cut = new Set<string>();
  /** Snapshots streamed so far, by receiver. */
  readonly snapshotsTo = new Map<NodeId, number>();

  transportFor(id: NodeId): (handlers: TransportHandlers) => Transport {
    return (handlers) => {
      this.handlers.set(id, handlers);
      return new InProcessTransport(id, this);
    };
  }

  linked(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}>${to}`) && this.handlers.has(to);
  }

  isolate(id: NodeId): void {
    for (const other of this.handlers.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  detach(id: NodeId): void {
    this.handlers.delete(id);
  }

  deliver(from: NodeId, messages: readonly Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) byPeer.set(m.to, [...(byPeer.get(m.to) ?? []), m]);
    for (const [to, batch] of byPeer) {
      setImmediate(() => {
        if (this.linked(from, to)) this.handlers.get(to)?.onMessages(batch);
      });
    }
  }

  stream(from: NodeId, message: Message, source: SnapshotSource): void {
    setImmediate(() => {
      const sender = this.handlers.get(from);
      const receiver = this.handlers.get(message.to);
      const meta = message.snapshot;
      let ok = false;
      try {
        if (!receiver || !meta || !this.linked(from, message.to)) return;
        const sink = receiver.onSnapshotStart(from, meta);
        if (!sink) return;
        for (let offset = 0; offset < source.dataBytes; offset += 64 * 1024) sink.write(source.read(offset, 64 * 1024));
        sink.commit(source.dataCrc32c);
        receiver.onMessages([message]);
        ok = true;
      } finally {
        source.close();
        sender?.onSnapshotSent(message.to, ok);
      }
    });
  }
}

class InProcessTransport implements Transport {
  constructor(
    private readonly id: NodeId,
    private readonly network: InProcessNetwork,
  ) {}
  setPeers(): void {}
  send(messages: readonly Message[]): void {
    if (messages.length > 0) this.network.deliver(this.id, messages);
  }
  sendSnapshot(message: Message, source: SnapshotSource): void {
    this.network.snapshotsTo.set(message.to, (this.network.snapshotsTo.get(message.to) ?? 0) + 1);
    this.network.stream(this.id, message, source);
  }
  async close(): Promise<void> {
    this.network.detach(this.id);
  }
}
