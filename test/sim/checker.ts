// The simulator's safety checks, fed by the cluster as things happen (Raft
// §5.2 figure 3): election safety, log matching, leader completeness, state
// machine safety, a commit index that never moves back, and reads that never
// return a state older than one committed when the read began.

export class SafetyViolation extends Error {
  override name = 'SafetyViolation';
}

export class Checker {
  private readonly leaderOfTerm = new Map<number, string>();
  /** `${index}:${term}` -> hash of the whole log up to that entry, from whichever node wrote it first. */
  private readonly chainAt = new Map<string, string>();
  /** index -> term of the entry that some node considered committed there. */
  private readonly committedTermAt = new Map<number, number>();
  /** index -> state-machine hash after applying that index. */
  private readonly stateAt = new Map<number, string>();
  /** The highest commit index any node has reported so far. */
  maxCommitSeen = 0;
  readsChecked = 0;

  private fail(message: string): never {
    throw new SafetyViolation(message);
  }

  /** Election safety: at most one leader per term. */
  onLeader(node: string, term: number): void {
    const existing = this.leaderOfTerm.get(term);
    if (existing !== undefined && existing !== node) {
      this.fail(`election safety: ${existing} and ${node} both leaders of term ${term}`);
    }
    this.leaderOfTerm.set(term, node);
  }

  /**
   * (commit index, term bound) checkpoints: when commit index c was first seen,
   * no node had a term above the bound, so the leader that committed it had a
   * term <= bound, and every leader of a later term must hold it.
   */
  private readonly commitCheckpoints: { index: number; termBound: number }[] = [];

  /** Leader completeness: a new leader's log holds every entry committed in an earlier term. */
  onLeaderLog(node: string, term: number, termAt: (index: number) => number | undefined, firstIndex: number): void {
    let c = 0;
    for (let i = this.commitCheckpoints.length - 1; i >= 0; i--) {
      const checkpoint = this.commitCheckpoints[i] as { index: number; termBound: number };
      if (checkpoint.termBound < term) {
        c = checkpoint.index;
        break;
      }
    }
    if (c === 0 || c < firstIndex - 1) return; // nothing to check, or covered by the leader's snapshot
    const want = this.committedTermAt.get(c);
    const have = termAt(c);
    if (want !== undefined && have !== want) {
      this.fail(`leader completeness: ${node} leads term ${term} with term ${have} at committed index ${c} (committed term ${want})`);
    }
  }

  /** Log matching: the same index and term always carries the same history. */
  onPersisted(node: string, index: number, term: number, chain: string): void {
    const key = `${index}:${term}`;
    const existing = this.chainAt.get(key);
    if (existing === undefined) this.chainAt.set(key, chain);
    else if (existing !== chain) this.fail(`log matching: ${node} holds a different history at index ${index} term ${term}`);
  }

  /** The chain hash any node recorded for (index, term), to seed a snapshot's chain. */
  chainFor(index: number, term: number): string | undefined {
    return this.chainAt.get(`${index}:${term}`);
  }

  /** Commit index monotonic per node, and one committed term per index across nodes. */
  onCommit(node: string, previous: number, commit: number, termAt: (index: number) => number | undefined, maxTerm: number): void {
    if (commit < previous) this.fail(`commit index of ${node} moved back from ${previous} to ${commit}`);
    for (let i = previous + 1; i <= commit; i++) {
      const term = termAt(i);
      if (term === undefined) continue; // compacted: its state is checked through snapshots
      const known = this.committedTermAt.get(i);
      if (known === undefined) this.committedTermAt.set(i, term);
      else if (known !== term) this.fail(`committed entry changed: ${node} commits term ${term} at ${i}, earlier term ${known}`);
    }
    if (commit > this.maxCommitSeen) {
      this.maxCommitSeen = commit;
      this.commitCheckpoints.push({ index: commit, termBound: maxTerm });
    }
  }

  /**
   * The commit rule (§5.4.2): a leader moves its commit index only by counting
   * replicas of an entry from its own term. Catches the first half of Figure 8
   * long before a later leader overwrites the entry.
   */
  onLeaderCommit(node: string, term: number, commit: number, termAtCommit: number | undefined): void {
    if (termAtCommit !== term) {
      this.fail(`commit rule: leader ${node} of term ${term} committed index ${commit} holding an entry of term ${termAtCommit}`);
    }
  }

  /**
   * Persist before send: a granted vote may leave a node only once it is
   * durable (§5.1, figure 2 "before responding to RPCs"). `persisted` is what a
   * crash at this instant keeps. Acknowledged appends are checked where they
   * arrive (the simulation compares the follower's durable log with the leader's).
   */
  onVoteSent(node: string, to: string, term: number, reject: boolean, persisted: { term: number; vote: string }): void {
    // Superseded: the node durably moved to a later term before this left.
    if (reject || persisted.term > term) return;
    if (persisted.term !== term || persisted.vote !== to) {
      this.fail(`vote durability: ${node} granted its term-${term} vote to ${to} before persisting it (durable: term ${persisted.term}, vote '${persisted.vote}')`);
    }
  }

  /** State machine safety: every node reaches the same state at the same index. */
  onApplied(node: string, index: number, stateHash: string): void {
    const known = this.stateAt.get(index);
    if (known === undefined) this.stateAt.set(index, stateHash);
    else if (known !== stateHash) this.fail(`state machine safety: ${node} applied a different entry at ${index}`);
  }

  /** A read answered at readIndex must reflect everything committed when it began. */
  onRead(node: string, id: string, readIndex: number, committedAtBegin: number, mode: string): void {
    this.readsChecked++;
    if (readIndex < committedAtBegin) {
      this.fail(`stale ${mode} read ${id} on ${node}: read index ${readIndex} < ${committedAtBegin} committed when it began`);
    }
  }
}
