// The term of every entry in the log, kept as runs: a run starts at the first
// index of each new term, so memory grows with elections, not with entries.
//
// Owns: the term runs of the entries the WAL holds (below the snapshot they
// are dropped). Must not touch: files, offsets, the entry cache; it does not
// know the log's bounds (the Wal checks an index lies in the log before it
// asks).

export class TermIndex {
  /** runStarts[i] is the first index with term runTerms[i]; both grow together. */
  private readonly runStarts: number[] = [];
  private readonly runTerms: number[] = [];

  /** The term of `index`, which must lie at or after the first run's start; undefined when there are no runs. */
  termAt(index: number): number | undefined {
    let lo = 0;
    let hi = this.runStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((this.runStarts[mid] as number) <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.runTerms[lo];
  }

  /** Records that entry `index` (the next after the last noted) has `term`. */
  note(index: number, term: number): void {
    if (this.runTerms[this.runTerms.length - 1] !== term) {
      this.runStarts.push(index);
      this.runTerms.push(term);
    }
  }

  /** Drops the runs wholly below `index`; the run holding `index` stays. */
  dropBelow(index: number): void {
    let drop = 0;
    while (drop + 1 < this.runStarts.length && (this.runStarts[drop + 1] as number) <= index) drop++;
    this.runStarts.splice(0, drop);
    this.runTerms.splice(0, drop);
  }

  /** Drops the runs that start at or after `index` (a conflicting suffix was cut). */
  truncateFrom(index: number): void {
    while (this.runStarts.length > 0 && (this.runStarts[this.runStarts.length - 1] as number) >= index) {
      this.runStarts.pop();
      this.runTerms.pop();
    }
  }

  clear(): void {
    this.runStarts.length = 0;
    this.runTerms.length = 0;
  }
}
