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

  /** Leader completeness: a new leader's log holds every committed entry. */
  onLeaderLog(node: string, term: number, termAt: (index: number) => number | undefined, firstIndex: number): void {
    const c = this.maxCommitSeen;
    if (c === 0 || c < firstIndex - 1) return; // covered by the leader's snapshot
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
  onCommit(node: string, previous: number, commit: number, termAt: (index: number) => number | undefined): void {
    if (commit < previous) this.fail(`commit index of ${node} moved back from ${previous} to ${commit}`);
    for (let i = previous + 1; i <= commit; i++) {
      const term = termAt(i);
      if (term === undefined) continue; // compacted: its state is checked through snapshots
      const known = this.committedTermAt.get(i);
      if (known === undefined) this.committedTermAt.set(i, term);
      else if (known !== term) this.fail(`committed entry changed: ${node} commits term ${term} at ${i}, earlier term ${known}`);
    }
    if (commit > this.maxCommitSeen) this.maxCommitSeen = commit;
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
