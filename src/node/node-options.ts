// What a LedgerNode is built from, the defaults that ledgerd, the tests and the
// simulator share, and the driver's named time and size constants. Every part
// of the driver (write path, read path, lag, cluster operations, expiry)
// imports from here, never from node.ts, so imports run one way.

import type { LedgerStateMachine } from '../ledger/index.js';
import type { RaftConfig } from '../raft/config.js';
import type { NodeId } from '../raft/types.js';
import type { DriverStorage, Scheduler } from './driver-io.js';
import type { Transport, TransportHandlers } from './transport.js';

export interface Clock {
  /** Monotonic milliseconds (never jumps back): ticks, leases, staleness. */
  monotonicMs(): number;
  /** Wall-clock milliseconds: only to stamp entries (the ledger keeps time monotonic itself). */
  wallMs(): number;
}

export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};

/** The one logger shape of the driver and the peer transport; pino's logger fits it. */
export interface NodeLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface LedgerNodeOptions {
  readonly id: NodeId;
  readonly dataDir: string;
  /** Initial voters and how this node reaches each (its own entry is its advertised URL). */
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly transport: (handlers: TransportHandlers) => Transport;
  readonly logger: NodeLogger;
  /** Start without bootstrapping: the node waits to be added by a member. Default false. */
  readonly join?: boolean;
  /** Default DEFAULT_NODE_TIMING.tickMs, and so on for the timing fields. */
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly maxClockDriftRatio?: number;
  /** Take a snapshot once this many entries were applied since the last one. */
  readonly snapshotEveryEntries?: number;
  /** Entries kept in the log below a snapshot, so a follower briefly behind catches up without one. */
  readonly snapshotRetainEntries?: number;
  /** Client writes waiting to be proposed or committed before the node answers overloaded. */
  readonly maxPendingWrites?: number;
  /** Default: the system's clock. */
  readonly clock?: Clock;
  /** Timers; the simulator passes a virtual one. Default: Node's. */
  readonly scheduler?: Scheduler;
  /** The Raft log's storage; default: the WAL under dataDir/raft. */
  readonly storage?: DriverStorage;
  /** The state machine; default: SQLite at dataDir/ledger.db. */
  readonly ledger?: LedgerStateMachine;
  readonly raftOverrides?: Partial<RaftConfig>;
}

/** The defaults ledgerd documents in --help; tests and the simulator override what they study. */
export const NODE_DEFAULTS = {
  join: false,
  tickMs: 50,
  electionTicks: 20,
  heartbeatTicks: 2,
  maxClockDriftRatio: 0.1,
  snapshotEveryEntries: 20_000,
  snapshotRetainEntries: 5_000,
  maxPendingWrites: 50_000,
} as const;

export type ResolvedNodeOptions = Required<Omit<LedgerNodeOptions, 'storage' | 'ledger' | 'raftOverrides' | 'scheduler'>> &
  Pick<LedgerNodeOptions, 'storage' | 'ledger' | 'raftOverrides' | 'scheduler'>;

export function resolveNodeOptions(options: LedgerNodeOptions): ResolvedNodeOptions {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...NODE_DEFAULTS, clock: systemClock, ...defined } as ResolvedNodeOptions;
}

/** Retry-After for refusals that clear up within about a second (no leader, a read not confirmed in time). */
export const RETRY_AFTER_MS = 1000;
/** Retry-After when the node has too many writes in flight. */
export const OVERLOADED_RETRY_AFTER_MS = 100;
/** Retry-After while leadership is moving or an entry of ours lost its index to another leader. */
export const LEADERSHIP_MOVING_RETRY_AFTER_MS = 200;
/** One expiry entry in flight at a time; a lost one is proposed again after this long. */
export const EXPIRY_RETRY_MS = 1000;
/** How long the leader waits for its own expiry entry to commit. */
export const EXPIRY_WRITE_TIMEOUT_MS = 5000;
/** A learner within this many entries of the leader's last index is caught up and promoted. */
export const PROMOTION_CATCH_UP_ENTRIES = 100;
/** Bytes of log read per batch when scanning it for membership entries at start-up. */
export const LOG_SCAN_BATCH_BYTES = 8 << 20;
/** Appends remembered per peer for the append-latency histogram. */
export const MAX_TIMED_APPENDS = 1024;
/** Client writes proposed as one batch of entries at most. */
export const MAX_PROPOSAL_BATCH = 4096;
/** How often a stopping node looks whether the Ready loop has finished. */
export const STOP_POLL_MS = 5;
