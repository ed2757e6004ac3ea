// Which node of which cluster a data directory belongs to: <data>/identity.json,
// written once (durably) before the node first bootstraps or joins, and
// checked at every start. A directory started under another node id would let
// one identity vote twice in a term; one from another cluster would mix two
// logs. Either refuses to start, saying which.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { nodeFileIo, replaceFileAtomicallySync } from './io.js';

export const IDENTITY_FILE = 'identity.json';

const identityFileSchema = z.strictObject({
  format: z.literal(1),
  node_id: z.string().min(1),
  cluster_id: z.string().min(1),
});

export interface DataDirIdentity {
  readonly nodeId: string;
  readonly clusterId: string;
}

/** The directory's file cannot be read or is not an identity. */
export class IdentityFileError extends Error {
  override name = 'IdentityFileError';
}

/** The recorded identity, or undefined when none was recorded yet. */
export function readIdentity(dir: string): DataDirIdentity | undefined {
  const file = path.join(dir, IDENTITY_FILE);
  if (!existsSync(file)) return undefined;
  let parsed: z.infer<typeof identityFileSchema>;
  try {
    parsed = identityFileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (error) {
    throw new IdentityFileError(`${file} is not a valid identity file (${(error as Error).message}): restore it from a backup, or move the directory aside`);
  }
  return { nodeId: parsed.node_id, clusterId: parsed.cluster_id };
}

export function writeIdentity(dir: string, identity: DataDirIdentity): void {
  const body = { format: 1, node_id: identity.nodeId, cluster_id: identity.clusterId };
  replaceFileAtomicallySync(nodeFileIo, path.join(dir, IDENTITY_FILE), Buffer.from(`${JSON.stringify(body)}\n`));
}

/**
 * Why a directory recorded as `recorded` must not be used as `wanted`, or
 * undefined when it may. A wanted cluster id that is unknown checks nothing.
 */
export function identityMismatch(dir: string, recorded: DataDirIdentity, wanted: { readonly nodeId: string; readonly clusterId: string | undefined }): string | undefined {
  if (recorded.nodeId !== wanted.nodeId) {
    return `data directory ${dir} belongs to node ${recorded.nodeId}, not ${wanted.nodeId}: ` +
      `start it as --id ${recorded.nodeId}, or give node ${wanted.nodeId} its own --data (one identity must never vote twice in a term)`;
  }
  if (wanted.clusterId !== undefined && recorded.clusterId !== wanted.clusterId) {
    return `data directory ${dir} belongs to cluster ${recorded.clusterId}, not ${wanted.clusterId}: ` +
      `this node was started for another cluster than the one its data comes from; give it an empty --data to join cluster ${wanted.clusterId}`;
  }
  return undefined;
}

/** Whether `dir` holds a node's state from before identities were recorded (anything but the lock). */
export function holdsNodeData(dir: string): boolean {
  if (!existsSync(dir)) return false;
  return readdirSync(dir).some((name) => name === 'raft' || name.startsWith('ledger.db'));
}
