// A LedgerService for the HTTP tests: one node that is its own leader, over a
// REAL LedgerStateMachine, applying each write as the next log index
// (encodeEntry + applyEntry), with knobs that make it answer each NodeError
// the way the real node would. It keeps to the interface so that the same
// route tests can later run against real node processes.

import { encodeEntry, LedgerStateMachine, type Command, type LedgerQueries } from '../../src/ledger/index.js';
import type {
  ClusterStatus,
  LedgerService,
  MemberStatus,
  NodeError,
  Outcome,
  RaftHeaderValues,
  ReadOptions,
  ReadResult,
  Readiness,
  WriteResult,
} from '../../src/node/service.js';

export interface LocalServiceOptions {
  readonly nodeId?: string;
  readonly path?: string;
  /** Entry time for every write (the ledger keeps time monotonic itself). */
  readonly clock?: () => number;
}

export interface StaleKnobs {
  /** The staleness this node can prove for stale reads (undefined: nothing proven). */
  stalenessMs: number | undefined;
  lagEntries: number;
}

export class LocalService implements LedgerService {
  readonly nodeId: string;
  readonly machine: LedgerStateMachine;
  term = 3;
  leaderId: string;
  /** Answered by every write (not_leader makes this a follower). */
  writeError: NodeError | undefined;
  /** Answered by every read before the consistency checks. */
  readError: NodeError | undefined;
  /** Answered by every membership, leadership and snapshot call. */
  adminError: NodeError | undefined;
  stale: StaleKnobs = { stalenessMs: 5, lagEntries: 0 };
  ready: Readiness = { ready: true, reason: 'leader' };
  readonly peers = new Map<string, string>();
  readonly members: MemberStatus[];
  /** Every call the HTTP layer made, to check what reached the node. */
  readonly calls: { method: string; argument: unknown }[] = [];
  private readonly clock: () => number;

  constructor(options: LocalServiceOptions = {}) {
    this.nodeId = options.nodeId ?? 'n1';
    this.leaderId = this.nodeId;
    this.machine = LedgerStateMachine.open(options.path ?? ':memory:');
    this.clock = options.clock ?? (() => 1_000_000);
    this.members = [{ id: this.nodeId, url: 'http://127.0.0.1:7001', voter: true, matchIndex: 0, lagEntries: 0, lastContactMs: 0, lagMs: 0 }];
  }

  /** Makes this node a follower of `leaderId`, reachable at `leaderUrl`. */
  follow(leaderId: string, leaderUrl: string | undefined): void {
    this.leaderId = leaderId;
    if (leaderUrl !== undefined) this.peers.set(leaderId, leaderUrl);
    this.writeError = { code: 'not_leader', leaderId, leaderUrl };
    this.adminError = this.writeError;
  }

  async write(command: Command, timeoutMs: number): Promise<Outcome<WriteResult>> {
    this.calls.push({ method: 'write', argument: { command, timeoutMs } });
    if (this.writeError !== undefined) return { ok: false, error: this.writeError };
    const index = this.machine.appliedIndex() + 1;
    const applied = this.machine.applyEntry(index, encodeEntry({ timeMs: this.clock(), command }));
    return { ok: true, value: { index, result: applied.result } };
  }

  async read<T>(options: ReadOptions, query: (queries: LedgerQueries) => T): Promise<Outcome<ReadResult<T>>> {
    this.calls.push({ method: 'read', argument: options });
    if (this.readError !== undefined) return { ok: false, error: this.readError };
    const appliedIndex = this.machine.appliedIndex();
    if (options.minIndex !== undefined && options.minIndex > appliedIndex) {
      return { ok: false, error: { code: 'index_not_reached', minIndex: options.minIndex, appliedIndex, retryAfterMs: 500 } };
    }
    if (options.level !== 'stale') return { ok: true, value: { value: query(this.machine.queries), appliedIndex } };
    const proven = this.stale.stalenessMs;
    if (options.maxStalenessMs !== undefined && (proven === undefined || proven > options.maxStalenessMs)) {
      return { ok: false, error: { code: 'staleness_bound_exceeded', retryAfterMs: 200, provenStalenessMs: proven } };
    }
    return {
      ok: true,
      value: { value: query(this.machine.queries), appliedIndex, lagEntries: this.stale.lagEntries, ...(proven === undefined ? {} : { stalenessMs: proven }) },
    };
  }

  raftHeaders(): RaftHeaderValues {
    return { term: this.term, appliedIndex: this.machine.appliedIndex(), leaderId: this.leaderId, servedBy: this.nodeId };
  }

  clusterStatus(): ClusterStatus {
    const appliedIndex = this.machine.appliedIndex();
    return {
      id: this.nodeId,
      role: this.leaderId === this.nodeId ? 'leader' : 'follower',
      term: this.term,
      leader: this.leaderId,
      commitIndex: appliedIndex,
      appliedIndex,
      lastLogIndex: appliedIndex,
      snapshotIndex: 0,
      members: this.members,
      leaderChanges: [{ leader: this.leaderId, term: this.term, atWallMs: this.clock() }],
    };
  }

  readiness(): Readiness {
    return this.ready;
  }

  peerUrl(id: string): string | undefined {
    return this.peers.get(id);
  }

  async addMember(id: string, url: string, voter: boolean, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    this.calls.push({ method: 'addMember', argument: { id, url, voter, timeoutMs } });
    if (this.adminError !== undefined) return { ok: false, error: this.adminError };
    if (this.members.some((member) => member.id === id)) return refused(`${id} is already a member`);
    this.members.push({ id, url, voter, matchIndex: 0, lagEntries: 0, lastContactMs: undefined, lagMs: undefined });
    return { ok: true, value: { index: this.skipEntry() } };
  }

  async removeMember(id: string, timeoutMs: number): Promise<Outcome<{ readonly index: number }>> {
    this.calls.push({ method: 'removeMember', argument: { id, timeoutMs } });
    if (this.adminError !== undefined) return { ok: false, error: this.adminError };
    const position = this.members.findIndex((member) => member.id === id);
    if (position < 0) return refused(`${id} is not a member`);
    this.members.splice(position, 1);
    return { ok: true, value: { index: this.skipEntry() } };
  }

  async transferLeadership(to: string | undefined, timeoutMs: number): Promise<Outcome<{ readonly leader: string }>> {
    this.calls.push({ method: 'transferLeadership', argument: { to, timeoutMs } });
    if (this.adminError !== undefined) return { ok: false, error: this.adminError };
    const target = to ?? this.members.find((member) => member.id !== this.nodeId && member.voter)?.id;
    if (target === undefined || !this.members.some((member) => member.id === target)) return refused('no voter to hand leadership to');
    this.leaderId = target;
    return { ok: true, value: { leader: target } };
  }

  async takeSnapshot(): Promise<Outcome<{ readonly index: number }>> {
    this.calls.push({ method: 'takeSnapshot', argument: undefined });
    if (this.adminError !== undefined) return { ok: false, error: this.adminError };
    return { ok: true, value: { index: this.machine.appliedIndex() } };
  }

  close(): void {
    this.machine.close();
  }

  /** A membership entry takes a log index without a ledger command. */
  private skipEntry(): number {
    return this.machine.skip(this.machine.appliedIndex() + 1).index;
  }
}

function refused(message: string): { ok: false; error: NodeError } {
  return { ok: false, error: { code: 'cluster_change_refused', message } };
}
