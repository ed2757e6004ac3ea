// A full disk on one node: its data directory is a small tmpfs (mounted when
// the cluster starts, so this needs root), and the fault fills it with a file
// until the kernel answers ENOSPC; healing deletes the file and restarts the
// node if it stopped, or if it runs with its storage failed: such a node
// stops its Raft protocol and waits for an operator to free space and
// restart it (docs/node.md), so without the restart it stayed frozen, with
// whatever leader it last knew, through the final phase. Without root the
// nemesis is skipped with the reason.

import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Nemesis } from './nemesis.js';

/** Size of the tmpfs data directory, MiB: room for a long run's WAL and SQLite files. */
export const DISK_TMPFS_MIB = 256;
const CHUNK = Buffer.alloc(1024 * 1024, 0x5a);

export function diskUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'a tmpfs data directory needs Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs data directory needs root';
  return undefined;
}

/** Writes until the file system is full; answers the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (;;) written += writeSync(fd, CHUNK);
  } catch {
    // ENOSPC: full
  } finally {
    closeSync(fd);
  }
  return written;
}

export const diskFull: Nemesis = {
  name: 'disk',
  startF: 'disk-full',
  stopF: 'disk-free',
  unavailable: diskUnavailable,
  start: async (context) => {
    const node = context.cluster.members().find((n) => n.tmpfs) ?? [...context.cluster.nodes.values()].find((n) => n.tmpfs);
    if (!node) throw new Error('no node has a tmpfs data directory');
    const filler = path.join(node.dataDir, 'jepsen-disk-filler');
    const bytes = fill(filler);
    return {
      details: { node: node.id, filled_bytes: bytes },
      stop: async () => {
        rmSync(filler, { force: true });
        const storageFailed = node.child !== undefined && (await context.cluster.storageFailed(node.id));
        if (storageFailed) {
          context.cluster.kill(node.id);
          await context.cluster.waitExited(node.id);
        }
        const restarted = node.member && !node.child;
        if (restarted) await context.cluster.restart(node.id);
        return { node: node.id, restarted, storage_failed: storageFailed };
      },
    };
  },
};
