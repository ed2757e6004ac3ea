// A TCP proxy per directed peer link (node A reaches node B only through the
// link A->B), so the suite can cut links without root or iptables. Each link
// switches at once between three states:
// - open: bytes flow both ways;
// - drop: like an iptables DROP, nothing flows on the link's connections (old
//   and new) until it opens again: the bytes wait, the way TCP retransmits, so
//   the sender sees a silent peer and times out;
// - reset: like a REJECT, every connection on the link is reset and new ones
//   are closed as soon as they are accepted.
// A "one-way" cut blocks A->B and leaves B->A open: A's requests to B no
// longer arrive, B's requests to A and their answers still do. (With TCP,
// where every connection needs packets both ways, this is also what an
// iptables rule on one direction amounts to.)

import { createServer, connect, type Server, type Socket } from 'node:net';

export type LinkState = 'open' | 'drop' | 'reset';

/** Most bytes held for one connection while its link drops; beyond that it is reset. */
const MAX_HELD_BYTES = 8 * 1024 * 1024;

interface Half {
  readonly socket: Socket;
  held: Buffer[];
  heldBytes: number;
  ended: boolean;
}

class ProxiedConnection {
  readonly client: Half;
  upstream: Half | undefined;

  constructor(
    socket: Socket,
    private readonly link: Link,
  ) {
    this.client = { socket, held: [], heldBytes: 0, ended: false };
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
  }

  /** Connects upstream (only while the link is open: a dropped SYN never arrives). */
  connectUpstream(): void {
    if (this.upstream || this.client.socket.destroyed) return;
    const socket = connect(this.link.targetPort, '127.0.0.1');
    socket.setNoDelay(true);
    const upstream: Half = { socket, held: [], heldBytes: 0, ended: false };
    this.upstream = upstream;
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    this.forward(this.client, upstream);
    this.forward(upstream, this.client);
  }

  private forward(from: Half, to: Half): void {
    from.socket.on('data', (chunk: Buffer) => {
      if (this.link.state !== 'open') {
        from.held.push(chunk);
        from.heldBytes += chunk.length;
        if (from.heldBytes > MAX_HELD_BYTES) this.destroy();
        return;
      }
      if (!to.socket.write(chunk)) {
        from.socket.pause();
        to.socket.once('drain', () => {
          if (this.link.state === 'open') from.socket.resume();
        });
      }
    });
    from.socket.on('end', () => {
      from.ended = true;
      if (this.link.state === 'open') to.socket.end();
    });
  }

  /** The link opened: deliver what waited, then flow again. */
  flush(): void {
    if (!this.upstream) {
      this.connectUpstream();
      return;
    }
    for (const [from, to] of [
      [this.client, this.upstream],
      [this.upstream, this.client],
    ] as const) {
      for (const chunk of from.held) to.socket.write(chunk);
      from.held = [];
      from.heldBytes = 0;
      if (from.ended) to.socket.end();
      from.socket.resume();
    }
  }

  /** The link drops: stop reading so nothing more is accepted from either side. */
  hold(): void {
    this.client.socket.pause();
    this.upstream?.socket.pause();
  }

  destroy(): void {
    this.client.socket.destroy();
    this.upstream?.socket.destroy();
    this.link.forget(this);
  }
}

export class Link {
  state: LinkState = 'open';
  private readonly connections = new Set<ProxiedConnection>();
  private server: Server | undefined;
  port = 0;

  constructor(
    readonly from: string,
    readonly to: string,
    public targetPort: number,
  ) {}

  async listen(): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this.port;
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    if (this.state === 'reset') {
      socket.resetAndDestroy();
      return;
    }
    const connection = new ProxiedConnection(socket, this);
    this.connections.add(connection);
    if (this.state === 'open') connection.connectUpstream();
  }

  set(state: LinkState): void {
    if (state === this.state) return;
    this.state = state;
    for (const connection of [...this.connections]) {
      if (state === 'open') connection.flush();
      else if (state === 'drop') connection.hold();
      else {
        connection.client.socket.resetAndDestroy();
        connection.destroy();
      }
    }
  }

  forget(connection: ProxiedConnection): void {
    this.connections.delete(connection);
  }

  async close(): Promise<void> {
    for (const connection of [...this.connections]) connection.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Every directed link between a set of nodes, by "from->to". */
export class ProxyMesh {
  private readonly links = new Map<string, Link>();

  /** Adds the link from -> to (forwarding to the port `to` listens on) and answers its port. */
  async add(from: string, to: string, targetPort: number): Promise<number> {
    const existing = this.links.get(key(from, to));
    if (existing) {
      existing.targetPort = targetPort;
      return existing.port;
    }
    const link = new Link(from, to, targetPort);
    this.links.set(key(from, to), link);
    return link.listen();
  }

  link(from: string, to: string): Link {
    const link = this.links.get(key(from, to));
    if (!link) throw new Error(`no proxy link ${from}->${to}`);
    return link;
  }

  has(from: string, to: string): boolean {
    return this.links.has(key(from, to));
  }

  set(from: string, to: string, state: LinkState): void {
    this.link(from, to).set(state);
  }

  /** Cuts both directions between every node of `a` and every node of `b`. */
  cut(a: readonly string[], b: readonly string[], state: LinkState = 'drop'): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        if (this.has(x, y)) this.set(x, y, state);
        if (this.has(y, x)) this.set(y, x, state);
      }
    }
  }

  /** Opens every link. */
  healAll(): void {
    for (const link of this.links.values()) link.set('open');
  }

  /** The links that are not open, as "a->b:state". */
  blocked(): string[] {
    return [...this.links.values()].filter((l) => l.state !== 'open').map((l) => `${l.from}->${l.to}:${l.state}`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.close()));
  }
}

function key(from: string, to: string): string {
  return `${from}->${to}`;
}
