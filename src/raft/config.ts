// The core's configuration, checked once at construction. Ticks are the only
// unit of time the core knows; the driver decides how long a tick is.

import { assert } from '../lib/assert.js';
import type { Prng } from '../lib/prng.js';
import type { NodeId } from './types.js';

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomized up to twice this). */
  readonly electionTicks: number;
  /** Ticks between the leader's heartbeats (and read rounds). */
  readonly heartbeatTicks: number;
  /** The state machine's applied index at start-up. */
  readonly applied: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Serve lease reads without a round trip while the lease is provably valid. Requires checkQuorum. */
  readonly leaseReads: boolean;
  /** The most two nodes' tick rates may differ, as a ratio (0.05 = 5%). Shortens the lease. */
  readonly maxClockDriftRatio: number;
  /** Upper bound on the data in one append message. */
  readonly maxAppendBytes: number;
  /** Appends in flight to one follower in replicate state (the pipeline window). */
  readonly maxInflightAppends: number;
  /** Proposals are refused while this many bytes are appended but not committed. */
  readonly maxUncommittedBytes: number;
  /** Upper bound on the committed entries handed out in one Ready. */
  readonly maxCommittedBytesPerReady: number;
  /** Reads waiting for a ReadIndex round, locally and from followers. */
  readonly maxPendingReads: number;
  readonly random: Prng;
  /**
   * Storage recovery cut a damaged tail: entries this node acknowledged may be
   * gone. It neither votes nor campaigns until a leader's commit of its own
   * term shows it holds every committed entry again.
   */
  readonly abstainUntilCaughtUp?: boolean;
}

export const DEFAULT_RAFT_CONFIG = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  leaseReads: true,
  maxClockDriftRatio: 0.1,
  maxAppendBytes: 1 << 20,
  maxInflightAppends: 64,
  maxUncommittedBytes: 64 << 20,
  maxCommittedBytesPerReady: 8 << 20,
  maxPendingReads: 100_000,
} as const;

export function validateRaftConfig(config: RaftConfig): void {
  assert(config.id.length > 0, 'raft config: id must not be empty');
  assert(Number.isInteger(config.heartbeatTicks) && config.heartbeatTicks >= 1, 'raft config: heartbeatTicks >= 1');
  assert(
    Number.isInteger(config.electionTicks) && config.electionTicks > config.heartbeatTicks * 2,
    'raft config: electionTicks must exceed twice heartbeatTicks',
  );
  assert(!config.leaseReads || config.checkQuorum, 'raft config: lease reads need checkQuorum');
  assert(config.maxClockDriftRatio >= 0 && config.maxClockDriftRatio < 0.5, 'raft config: maxClockDriftRatio in [0, 0.5)');
  const leaseProblem = leaseTooShort(config);
  assert(!config.leaseReads || leaseProblem === undefined, `raft config: ${leaseProblem ?? ''}`);
  assert(config.maxInflightAppends >= 1, 'raft config: maxInflightAppends >= 1');
  assert(config.maxAppendBytes >= 1, 'raft config: maxAppendBytes >= 1');
  assert(config.maxPendingReads >= 1, 'raft config: maxPendingReads >= 1');
}

/**
 * Ticks after a heartbeat round was sent during which the leader may assume
 * no other leader exists, given that followers ignore (pre)votes for
 * electionTicks of their own ticks after hearing from it. One tick is lost to
 * granularity at each end, and clocks may run (1 ± drift) apart.
 */
export function leaseTicks(config: Pick<RaftConfig, 'electionTicks' | 'maxClockDriftRatio'>): number {
  const drift = config.maxClockDriftRatio;
  return Math.floor(((config.electionTicks - 1) * (1 - drift)) / (1 + drift)) - 1;
}

/**
 * Why lease reads cannot work with these settings (a lease under one tick,
 * e.g. electionTicks 3 with drift 0.49 gives -1), or undefined if they can.
 * Lease reads are refused then rather than silently never served.
 */
export function leaseTooShort(config: Pick<RaftConfig, 'electionTicks' | 'maxClockDriftRatio'>): string | undefined {
  const ticks = leaseTicks(config);
  if (ticks >= 1) return undefined;
  return (
    `electionTicks ${config.electionTicks} with maxClockDriftRatio ${config.maxClockDriftRatio} leaves a lease of ${ticks} ticks; ` +
    'lease reads need at least 1: raise electionTicks or lower the drift'
  );
}
