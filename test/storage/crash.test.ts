// Kill -9 at random moments: a child process appends, truncates, votes and
// snapshots, reporting only what it has made durable; the parent SIGKILLs it
// at a random time, recovers the directory and checks that every reported
// entry, vote and snapshot is there. STORAGE_CRASH_ITERATIONS sets the number
// of kills (default 60 in `make test`, each run with a new seed; `make
// sim-long` runs 1000). SEED replays a run.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Prng } from '../../src/lib/prng.js';
import { RaftStorage } from '../../src/storage/raft-storage.js';
import { CHILD_STORAGE_OPTIONS } from './fixtures/storage-child.js';
import { entryData, entryIsGenuine, snapshotData, testSeed } from './fixtures/helpers.js';
import { temporaryDirectory } from '../support/helpers.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'storage-child.js');
const ITERATIONS = Number(process.env['STORAGE_CRASH_ITERATIONS'] ?? 60);

/** What the children have reported durable, replayed in order. */
interface Acknowledged {
  /** terms[i] is the acknowledged term of entry i (index 0 unused); length-1 is the acknowledged last index. */
  terms: number[];
  term: number;
  vote: string;
  snapshotIndex: number;
}

function applyReport(line: string, acked: Acknowledged): void {
  const [kind, a, b, c] = line.split(' ');
  const n = Number(a);
  switch (kind) {
    case 'T':
      acked.terms.length = Math.min(acked.terms.length, n);
      break;
    case 'A':
      acked.terms.length = Math.min(acked.terms.length, n);
      while (acked.terms.length < n) acked.terms.push(-1);
      for (let index = n; index <= Number(b); index++) acked.terms.push(Number(c));
      break;
    case 'H':
      acked.term = n;
      acked.vote = b ?? '';
      break;
    case 'P':
      acked.snapshotIndex = Math.max(acked.snapshotIndex, n);
      break;
    default:
      break;
  }
}

/**
 * Runs one child and SIGKILLs it `killAfterMs` after it reported ready, or,
 * with `duringRecovery`, that long after it started (often mid-recovery).
 */
function runChildUntilKilled(dir: string, seed: number, killAfterMs: number, duringRecovery: boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, 'crash', dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer = duringRecovery ? setTimeout(() => child.kill('SIGKILL'), killAfterMs) : undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (timer === undefined && out.startsWith('ready')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child ended by itself (code ${code}): ${err}`));
      else resolve(out.split('\n').filter((line) => line.length > 0));
    });
  });
}

/** Checks the recovered directory against what was acknowledged; returns problems found. */
async function verify(dir: string, acked: Acknowledged): Promise<string[]> {
  const problems: string[] = [];
  const storage = RaftStorage.open(dir, CHILD_STORAGE_OPTIONS);
  try {
    const { hardState } = storage.initialState();
    if (hardState.term < acked.term) problems.push(`term ${hardState.term} < acknowledged ${acked.term}`);
    if (hardState.term === acked.term && hardState.vote !== acked.vote) problems.push(`vote ${hardState.vote} != acknowledged ${acked.vote}`);
    const snapshot = storage.snapshotMeta();
    if (snapshot.index < acked.snapshotIndex) problems.push(`snapshot ${snapshot.index} < acknowledged ${acked.snapshotIndex}`);
    if (hardState.commit > storage.lastIndex() || hardState.commit < snapshot.index) problems.push(`commit ${hardState.commit} outside [${snapshot.index}, ${storage.lastIndex()}]`);
    if (snapshot.index > 0 && !snapshotData(storage.openSnapshotReader()).equals(Buffer.from(entryData(snapshot.index, snapshot.term, 256)))) {
      problems.push(`snapshot ${snapshot.index} data wrong`);
    }
    const ackedLast = acked.terms.length - 1;
    if (storage.lastIndex() < ackedLast) problems.push(`last index ${storage.lastIndex()} < acknowledged ${ackedLast}`);
    const first = storage.firstIndex();
    const entries = first <= storage.lastIndex() ? storage.entries(first, storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER) : [];
    for (const entry of entries) {
      const ackedTerm = acked.terms[entry.index];
      if (ackedTerm !== undefined && ackedTerm !== -1 && ackedTerm !== entry.term) {
        problems.push(`entry ${entry.index} has term ${entry.term}, acknowledged ${ackedTerm}`);
      }
      if (!entryIsGenuine(entry)) problems.push(`entry ${entry.index} data damaged`);
    }
    // What survived is the log now; the next child continues from it.
    acked.terms.length = Math.min(acked.terms.length, first);
    while (acked.terms.length < first) acked.terms.push(-1);
    for (const entry of entries) acked.terms.push(entry.term);
    acked.terms.length = storage.lastIndex() + 1;
  } finally {
    await storage.close();
  }
  return problems;
}

t.test(`every acknowledged write survives ${ITERATIONS} SIGKILLs`, async (t) => {
  const seed = testSeed();
  const prng = new Prng(seed);
  const dir = temporaryDirectory(t, 'crash');
  const acked: Acknowledged = { terms: [0], term: 0, vote: '', snapshotIndex: 0 };
  const reportKinds = new Map<string, number>();
  // How much a child does before its SIGKILL depends on the machine's load:
  // past ITERATIONS, go on (up to four times as many) until truncations,
  // snapshots and votes have each been exercised and the log has grown, so
  // the coverage checks below hold on a busy machine too.
  const covered = (): boolean =>
    ['T', 'P', 'H'].every((kind) => (reportKinds.get(kind) ?? 0) > 0) && acked.terms.length > 1000 && (reportKinds.get('A') ?? 0) > ITERATIONS;
  for (let iteration = 0; iteration < ITERATIONS || (!covered() && iteration < 4 * ITERATIONS); iteration++) {
    const duringRecovery = prng.chance(0.15);
    const lines = await runChildUntilKilled(dir, prng.nextUint32(), duringRecovery ? prng.int(30, 150) : prng.int(0, 40), duringRecovery);
    for (const line of lines) applyReport(line, acked);
    for (const line of lines) reportKinds.set(line[0] as string, (reportKinds.get(line[0] as string) ?? 0) + 1);
    const problems = await verify(dir, acked);
    if (problems.length > 0) {
      t.fail(`seed=${seed} iteration=${iteration}: ${problems.slice(0, 5).join('; ')}`);
      return;
    }
  }
  const kinds = JSON.stringify(Object.fromEntries(reportKinds));
  t.ok((reportKinds.get('A') ?? 0) > ITERATIONS, `seed=${seed}: the children reported durable writes ${kinds}`);
  t.ok((reportKinds.get('T') ?? 0) > 0 && (reportKinds.get('P') ?? 0) > 0 && (reportKinds.get('H') ?? 0) > 0,
    `seed=${seed}: truncations, snapshots and votes were exercised ${kinds}`);
  t.ok(acked.terms.length > 1000, `seed=${seed}: the log grew to ${acked.terms.length - 1} entries`);
});
