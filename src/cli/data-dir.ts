// What ledgerd settles about its data directory before the node opens
// anything in it: this process owns it (an exclusive lock for the process
// lifetime), and it belongs to this node of this cluster (identity.json).
//
// The cluster id, in order: --cluster-id when given; for a node that joins,
// the id the member it joins through reports; for a founding node, a hash of
// the founding voters' ids and the cluster secret, which every founder
// computes alike (etcd derives its cluster id from the initial members the
// same way). `make run` gives a random id per data root. A restart compares
// the recorded id with --cluster-id or with the member's; with neither (a
// founder restarted by hand without --cluster-id) only the node id is checked.

import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import { DataDirInUseError, DataDirLock } from '../storage/data-dir-lock.js';
import { holdsNodeData, identityMismatch, IdentityFileError, readIdentity, writeIdentity, type DataDirIdentity } from '../storage/identity.js';

/** A reason not to start that the operator can fix: printed as one line, without a stack trace. */
export class StartupError extends Error {
  override name = 'StartupError';
}

export interface OwnedDataDir {
  readonly lock: DataDirLock;
  readonly identity: DataDirIdentity;
  /** What happened, for the start-up log. */
  readonly note: 'recorded' | 'adopted' | 'checked';
}

/** The cluster id founders derive when no --cluster-id is given. */
export function derivedClusterId(founders: Iterable<string>, clusterSecret: string | undefined): string {
  const hash = createHash('sha256').update('raft-ledger cluster id\n').update([...founders].sort().join(',')).update('\n').update(clusterSecret ?? '');
  return `c-${hash.digest('hex').slice(0, 16)}`;
}

/**
 * Locks `dir` and checks or records its identity. `memberClusterId` is the id
 * of the cluster a --join member belongs to.
 */
export function takeDataDir(dir: string, config: Config, memberClusterId: string | undefined): OwnedDataDir {
  if (config.clusterId !== undefined && memberClusterId !== undefined && config.clusterId !== memberClusterId) {
    throw new StartupError(`--cluster-id ${config.clusterId} but ${config.join ?? 'the member'} belongs to cluster ${memberClusterId}: join a member of your cluster, or fix --cluster-id`);
  }
  let lock: DataDirLock;
  try {
    lock = DataDirLock.acquire(dir);
  } catch (error) {
    if (error instanceof DataDirInUseError) throw new StartupError(error.message);
    throw error;
  }
  try {
    const wanted = { nodeId: config.id, clusterId: config.clusterId ?? memberClusterId };
    const recorded = readIdentity(dir);
    if (recorded !== undefined) {
      const mismatch = identityMismatch(dir, recorded, wanted);
      if (mismatch !== undefined) throw new StartupError(mismatch);
      return { lock, identity: recorded, note: 'checked' };
    }
    const identity = { nodeId: config.id, clusterId: wanted.clusterId ?? derivedClusterId(config.peers.keys(), config.clusterSecret) };
    const note = holdsNodeData(dir) ? 'adopted' : 'recorded';
    writeIdentity(dir, identity);
    return { lock, identity, note };
  } catch (error) {
    lock.release();
    if (error instanceof IdentityFileError) throw new StartupError(error.message);
    throw error;
  }
}
