// The network the nodes of a run talk over, and the one place partitions cut
// it. Two mechanisms (`--net`):
// - proxy: every node listens on a free loopback port and reaches each peer
//   through a TCP proxy of its own per directed link (proxy.ts); runs anywhere.
// - netns: every node runs in its own network namespace with its own address,
//   and cuts are iptables DROP rules (netns.ts); needs root on Linux.
// Either way a cut names directed links between nodes (from -> to: what
// `from` sends no longer reaches `to`); clients are never cut off.

import { freePort } from '../cluster/harness.js';
import { ProxyMesh } from './proxy.js';

export type NetKind = 'proxy' | 'netns';
export const NET_KINDS: readonly NetKind[] = ['proxy', 'netns'];

/** A directed link: what `from` sends to `to`. */
export type DirectedLink = readonly [from: string, to: string];

export interface NodeAddress {
  /** ledgerd --listen (host:port). */
  readonly listen: string;
  /** Where clients (this process) reach the node. */
  readonly url: string;
}

export interface PeerNetwork {
  readonly kind: NetKind;
  /** Prepares the network for these nodes (before any starts); answers where each listens. */
  open(ids: readonly string[]): Promise<ReadonlyMap<string, NodeAddress>>;
  /** The URL at which `from` reaches `to`. */
  peerUrl(from: string, to: string): string;
  /** The program and arguments that run `argv` (a node's command line) as node `id`. */
  command(id: string, argv: readonly string[]): { file: string; args: string[] };
  /** Drops these links (in addition to those already dropped). */
  drop(links: readonly DirectedLink[]): Promise<void>;
  /** Opens every link. */
  healAll(): Promise<void>;
  /** The links dropped now, as "a->b:drop". */
  blocked(): string[];
  /** Undoes everything `open` set up; call once the nodes have exited. */
  close(): Promise<void>;
}

/** Both directions of every link between a node of `a` and a node of `b`. */
export function bothWays(a: readonly string[], b: readonly string[]): DirectedLink[] {
  const links: DirectedLink[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x === y) continue;
      links.push([x, y], [y, x]);
    }
  }
  return links;
}

/** Free loopback ports, a proxy per directed link (docs/jepsen.md, Nemeses). */
export class ProxyNetwork implements PeerNetwork {
  readonly kind = 'proxy';
  readonly mesh = new ProxyMesh();
  private readonly addresses = new Map<string, NodeAddress>();

  async open(ids: readonly string[]): Promise<ReadonlyMap<string, NodeAddress>> {
    const ports = new Map<string, number>();
    for (const id of ids) {
      const port = await freePort();
      ports.set(id, port);
      this.addresses.set(id, { listen: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}` });
    }
    for (const a of ids) for (const b of ids) if (a !== b) await this.mesh.add(a, b, ports.get(b) as number);
    return this.addresses;
  }

  peerUrl(from: string, to: string): string {
    if (from === to) return this.address(to).url;
    return `http://127.0.0.1:${this.mesh.link(from, to).port}`;
  }

  private address(id: string): NodeAddress {
    const address = this.addresses.get(id);
    if (!address) throw new Error(`no node ${id} in the network`);
    return address;
  }

  command(_id: string, argv: readonly string[]): { file: string; args: string[] } {
    return { file: process.execPath, args: [...argv] };
  }

  async drop(links: readonly DirectedLink[]): Promise<void> {
    for (const [from, to] of links) if (this.mesh.has(from, to)) this.mesh.set(from, to, 'drop');
  }

  async healAll(): Promise<void> {
    this.mesh.healAll();
  }

  blocked(): string[] {
    return this.mesh.blocked();
  }

  async close(): Promise<void> {
    await this.mesh.close();
  }
}
