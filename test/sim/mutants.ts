// Mutation checks for the simulators: each classic Raft bug is patched into a
// copy of the TypeScript source (src/raft/*.ts for the core, src/node/*.ts
// for the driver), that copy is compiled with the build's own compiler
// options into a copy of dist/, and the checks must catch it: the core
// simulator within a bounded number of seeds, the driver simulation (the real
// LedgerNode over SQLite) within a few seeds for the mutants that name it, or
// the scripted tests of test/raft. A patch whose text is no longer in the
// source (the code moved) or is there twice fails the check, so the mutants
// cannot silently rot.

import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export interface Patch {
  /** The TypeScript file to patch, under src/: the core (raft/...) or the driver (node/...). */
  readonly file: string;
  /** Text that must occur exactly once in that file. */
  readonly from: string;
  readonly to: string;
}

export interface Mutant {
  readonly name: string;
  readonly patches: readonly Patch[];
  /**
   * What must catch it: the core simulator within a few hundred seeds, or (for
   * timing and interleaving bugs that random schedules reach too rarely) the
   * scripted tests of test/raft, which replay those schedules deterministically;
   * a bug in the driver (src/node) only the driver simulation can see.
   */
  readonly caughtBy: 'simulator' | 'scripted tests' | 'driver simulation';
  /** The scripted test that must catch it (a pattern of its name); only that one runs. Default: all of them. */
  readonly scriptedTest?: string;
  /**
   * The driver simulation on 3 nodes must catch it (too), within this many
   * seeds from seed 1: the bug reaches the driver that ships, not only the
   * core simulator's own Ready processing. Required for a driver mutant.
   */
  readonly driverSeeds?: number;
}

const patch = (file: string, from: string, to: string): Patch => ({ file, from, to });

/** The classic bugs the issue names: each must be caught within a few hundred seeds. */
export const MUTANTS: readonly Mutant[] = [
  {
    name: 'commit by counting replicas of an older-term entry',
    caughtBy: 'simulator',
    patches: [patch('raft/log.ts', 'if (maxIndex > this.committed && this.term(maxIndex) === term) {', 'if (maxIndex > this.committed) {')],
  },
  {
    name: 'grant a vote before it is persisted',
    caughtBy: 'simulator',
    patches: [
      patch('raft/raft.ts', 'if (SEND_BEFORE_PERSIST.has(m.type))', "if (SEND_BEFORE_PERSIST.has(m.type) || m.type === 'voteResp')"),
      patch('raft/raw-node.ts', 'const early = termOrVoteChanged ? [] : r.msgs;', 'const early = r.msgs;'),
      patch('raft/raw-node.ts', 'const late = termOrVoteChanged ? [...r.msgs, ...r.msgsAfterPersist] : r.msgsAfterPersist;', 'const late = r.msgsAfterPersist;'),
    ],
  },
  {
    name: 'grant a vote without recording it in the hard state',
    caughtBy: 'simulator',
    patches: [patch('raft/raft.ts', 'this.vote = m.from;', '')],
  },
  {
    name: 'accept appends without the previous-entry check',
    caughtBy: 'simulator',
    driverSeeds: 3,
    patches: [patch('raft/log.ts', 'if (!this.matchTerm(prevIndex, prevTerm)) return undefined;', '')],
  },
  {
    name: 'accept appends whose previous entry has another term',
    caughtBy: 'simulator',
    patches: [patch('raft/log.ts', 'if (!this.matchTerm(prevIndex, prevTerm))', 'if (prevIndex > this.lastIndex())')],
  },
  {
    name: 'serve a lease read without a valid lease',
    caughtBy: 'simulator',
    patches: [patch('raft/read-only.ts', 'return host.tickCountNow() - this.leaseAnchorTick < leaseTicks(host.config);', 'return true;')],
  },
  {
    name: 'mark entries stable without checking they are the ones persisted',
    caughtBy: 'scripted tests',
    patches: [
      patch('raft/unstable.ts', 'if (t === term && index >= this.offset) {', 'if (index >= this.offset) {'),
      patch('raft/raw-node.ts', 'if (r.log.term(entry.index) === entry.term) durable = i;', 'durable = i;'),
    ],
  },
  {
    name: 'followers do not refuse votes while honouring a lease',
    caughtBy: 'simulator',
    patches: [
      patch('raft/raft.ts', "if ((m.type === 'vote' || m.type === 'preVote') && !m.force && this.inLease()) {", 'if (false) {'),
      patch('raft/raft.ts', 'const leaseAllows = m.force || this.vote === m.from || !this.inLease();', 'const leaseAllows = true;'),
    ],
  },
  {
    name: 'a lease anchored when the acknowledgement arrives, not when the round was sent',
    caughtBy: 'scripted tests',
    patches: [patch('raft/read-only.ts', 'this.leaseAnchorTick = sentTick;', 'this.leaseAnchorTick = host.tickCountNow();')],
  },
  {
    name: 'a lease that ignores clock drift',
    caughtBy: 'scripted tests',
    patches: [patch('raft/config.ts', 'return Math.floor(((config.electionTicks - 1) * (1 - drift)) / (1 + drift)) - 1;', 'return config.electionTicks - 1;')],
  },
  {
    name: 'a read joins a round sent before it arrived',
    caughtBy: 'scripted tests',
    patches: [patch('raft/read-only.ts', 'read.round = round;', 'read.round = round - 1;')],
  },
  {
    name: 'a membership change before committing an entry of the leader\'s term',
    caughtBy: 'scripted tests',
    patches: [patch('raft/raft.ts', 'if (this.log.term(this.log.committed) !== this.term) {\n      return { ok: false, error: \'confChangePending\'', 'if (false) {\n      return { ok: false, error: \'confChangePending\'')],
  },
  {
    name: 'a truncated suffix keeps its configurations',
    caughtBy: 'scripted tests',
    patches: [patch('raft/raft.ts', 'this.truncateConfLog(conflict);', 'void conflict;')],
  },
  {
    // The round counter restarts at 0 after a crash: an answer from before it can confirm a new round without a quorum.
    name: 'a leader accepts an old-term heartbeatResp as confirmation of a read round',
    caughtBy: 'scripted tests',
    scriptedTest: 'an answer to a read round from before a restart',
    patches: [patch('raft/raft.ts', 'else if (m.term < this.term) {', "else if (m.term < this.term && m.type !== 'heartbeatResp') {")],
  },
  {
    name: 'a granted voteResp from an earlier term is counted',
    caughtBy: 'scripted tests',
    scriptedTest: 'a vote granted in an earlier term',
    patches: [patch('raft/raft.ts', 'else if (m.term < this.term) {', "else if (m.term < this.term && m.type !== 'voteResp') {")],
  },
  {
    name: 'a pre-vote that also records a vote',
    caughtBy: 'scripted tests',
    scriptedTest: 'granting a pre-vote records no vote',
    patches: [patch('raft/raft.ts', 'if (!isPreVote) {\n        this.electionElapsed = 0;', 'if (true) {\n        this.electionElapsed = 0;')],
  },
  {
    name: 'TimeoutNow does not revoke the lease',
    caughtBy: 'scripted tests',
    scriptedTest: 'holds no lease for the rest of its term',
    patches: [patch('raft/raft.ts', 'this.reads.revokeLease();', '')],
  },
  {
    // No safety check can see these two: only the liveness check after healing (it must stay honest).
    name: 'a follower whose append was lost is never sent it again',
    caughtBy: 'simulator',
    patches: [patch('raft/raft.ts', 'if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);', '')],
  },
  {
    name: 'followers never campaign once their leader is gone',
    caughtBy: 'simulator',
    driverSeeds: 3,
    patches: [patch('raft/raft.ts', 'this.electionElapsed = 0;\n      this.hup(false);', 'this.electionElapsed = 0;')],
  },
  // Bugs in the driver that ships: the core simulator runs its own Ready loop and cannot see them.
  {
    name: 'the driver sends acknowledgements and votes before its fsync',
    caughtBy: 'driver simulation',
    driverSeeds: 3,
    patches: [
      patch('node/node.ts', 'this.sendMessages(rd.messages);', 'this.sendMessages([...rd.messages, ...rd.messagesAfterPersist]);'),
      patch('node/node.ts', 'this.sendMessages(rd.messagesAfterPersist);', ''),
    ],
  },
  {
    name: 'the driver serves a read before its read index is applied',
    caughtBy: 'driver simulation',
    driverSeeds: 3,
    patches: [patch('node/read-path.ts', 'if (this.options.ledger().appliedIndex() >= index) return Promise.resolve(true);', 'return Promise.resolve(true);')],
  },
];

/**
 * Further plausible bugs, measured by `node dist/test/sim/mutants.js 1 300 extra`
 * but not required in CI: the simulator's catch rate for the old-term
 * messages, which the scripted tests above catch deterministically (the
 * held-message fault lets the simulator reach them too; docs/raft.md lists
 * the rates). Counting the leader's own entries before they are durable is
 * absent on purpose: with one Ready at a time, no commit computed that way can
 * leave the node before the entries are durable, so the mutant is equivalent.
 */
export const EXTRA_MUTANTS: readonly Mutant[] = [
  { name: 'a leader accepts an old-term heartbeatResp (simulator)', caughtBy: 'simulator', patches: [patch('raft/raft.ts', 'else if (m.term < this.term) {', "else if (m.term < this.term && m.type !== 'heartbeatResp') {")] },
  { name: 'a granted voteResp from an earlier term is counted (simulator)', caughtBy: 'simulator', patches: [patch('raft/raft.ts', 'else if (m.term < this.term) {', "else if (m.term < this.term && m.type !== 'voteResp') {")] },
  { name: 'a pre-vote that also records a vote (simulator)', caughtBy: 'simulator', patches: [patch('raft/raft.ts', 'if (!isPreVote) {\n        this.electionElapsed = 0;', 'if (true) {\n        this.electionElapsed = 0;')] },
  { name: 'TimeoutNow does not revoke the lease (simulator)', caughtBy: 'simulator', patches: [patch('raft/raft.ts', 'this.reads.revokeLease();', '')] },
];

export interface MutantOutcome {
  readonly mutant: Mutant;
  /** The first seed whose run failed (0 for the scripted tests), or undefined if none did. */
  readonly caughtBySeed: number | undefined;
  readonly error: string | undefined;
  readonly seedsRun: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** dist/ of this build: this file is dist/test/sim/mutants.js. */
const distRoot = resolve(here, '..', '..');
/** The checkout that dist/ was built from: its src/ is what the mutants patch. */
const sourceRoot = resolve(distRoot, '..');

let cachedOptions: ts.CompilerOptions | undefined;

/**
 * The build's compiler options (tsconfig.json), emitting ES modules for one
 * file at a time: transpileModule cannot tell NodeNext files are ESM (it sees
 * no package.json), and for ESM the output is the same.
 */
function compilerOptions(): ts.CompilerOptions {
  if (cachedOptions) return cachedOptions;
  const configFile = join(sourceRoot, 'tsconfig.json');
  const read = ts.readConfigFile(configFile, (path) => ts.sys.readFile(path));
  if (read.error) throw new Error(`cannot read ${configFile}: ${ts.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, sourceRoot);
  const options: ts.CompilerOptions = {
    ...parsed.options,
    module: ts.ModuleKind.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    sourceMap: false,
    incremental: false,
  };
  delete options.tsBuildInfoFile;
  cachedOptions = options;
  return options;
}

function compile(file: string, source: string): string {
  const out = ts.transpileModule(source, { compilerOptions: compilerOptions(), fileName: file, reportDiagnostics: true });
  const errors = out.diagnostics ?? [];
  if (errors.length > 0) {
    throw new Error(`${file} does not compile: ${errors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join('; ')}`);
  }
  return out.outputText;
}

/** Applies one patch to the source text; the target must be there exactly once. */
export function applyPatch(mutantName: string, source: string, { file, from, to }: Patch): string {
  const at = source.indexOf(from);
  if (at < 0) throw new Error(`mutant "${mutantName}": patch target not found in src/${file}: ${JSON.stringify(from)}`);
  if (source.indexOf(from, at + 1) >= 0) throw new Error(`mutant "${mutantName}": patch target occurs twice in src/${file}: ${JSON.stringify(from)}`);
  return source.slice(0, at) + to + source.slice(at + from.length);
}

/**
 * Copies dist/src and dist/test into a directory under dist/ (so node_modules
 * resolves), patches the TypeScript of the mutated files and compiles them
 * over their JavaScript in the copy. The unpatched source must compile to the
 * JavaScript in dist/, or dist/ is stale and the copy would mix two versions.
 */
function mutatedCopy(mutant: Mutant): string {
  const patchesByFile = new Map<string, Patch[]>();
  for (const p of mutant.patches) patchesByFile.set(p.file, [...(patchesByFile.get(p.file) ?? []), p]);
  const compiled = new Map<string, string>();
  for (const [file, patches] of patchesByFile) {
    const sourcePath = join(sourceRoot, 'src', file);
    const original = readFileSync(sourcePath, 'utf8');
    const builtPath = join(distRoot, 'src', file.replace(/\.ts$/, '.js'));
    const built = readFileSync(builtPath, 'utf8').replace(/\/\/# sourceMappingURL=\S+\s*$/, '');
    if (compile(sourcePath, original) !== built) throw new Error(`${builtPath} is not the build of ${sourcePath}: run tsc first`);
    const mutated = patches.reduce((text, p) => applyPatch(mutant.name, text, p), original);
    compiled.set(file, compile(sourcePath, mutated));
  }
  const copy = mkdtempSync(join(distRoot, '.mutant-'));
  try {
    cpSync(join(distRoot, 'src'), join(copy, 'src'), { recursive: true });
    cpSync(join(distRoot, 'test'), join(copy, 'test'), { recursive: true });
    for (const [file, js] of compiled) writeFileSync(join(copy, 'src', file.replace(/\.ts$/, '.js')), js);
  } catch (error) {
    rmSync(copy, { recursive: true, force: true });
    throw error;
  }
  return copy;
}

export interface CheckOptions {
  readonly firstSeed: number;
  readonly maxSeeds: number;
  readonly steps: number;
  readonly nodes: number;
}

/**
 * Runs the check the mutant names against a mutated copy: core simulator
 * seeds firstSeed.. until one fails or maxSeeds ran, or
 * test/raft/raw-node.test.js (caughtBySeed is then 0 when it failed). With
 * `driver`, runs the driver simulation instead, for mutant.driverSeeds seeds.
 */
export async function checkMutant(mutant: Mutant, options: CheckOptions & { readonly driver?: boolean }): Promise<MutantOutcome> {
  const copy = mutatedCopy(mutant);
  try {
    if (options.driver === true || mutant.caughtBy === 'driver simulation') return await runDriverSeeds(copy, mutant, options.firstSeed, mutant.driverSeeds ?? 0);
    if (mutant.caughtBy === 'scripted tests') return runScripted(copy, mutant);
    const sim = (await import(pathToFileURL(join(copy, 'test', 'sim', 'simulation.js')).href)) as typeof import('./simulation.js');
    return await firstFailingSeed(mutant, options.firstSeed, options.maxSeeds, async (seed) => {
      const result = sim.runSeed({ seed, steps: options.steps, nodes: options.nodes });
      return result.ok ? undefined : result.error;
    });
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

function runScripted(copy: string, mutant: Mutant): MutantOutcome {
  const env = mutant.scriptedTest === undefined ? process.env : { ...process.env, TAP_GREP: mutant.scriptedTest };
  const run = spawnSync(process.execPath, [join(copy, 'test', 'raft', 'raw-node.test.js')], { encoding: 'utf8', timeout: 120_000, env });
  const failed = run.status !== 0;
  const firstFailure = /not ok \d+ - (.*)/.exec(run.stdout ?? '')?.[1];
  return { mutant, caughtBySeed: failed ? 0 : undefined, error: failed ? `scripted test failed: ${firstFailure ?? run.stderr}` : undefined, seedsRun: 0 };
}

/** Seeds of the driver simulation (3 nodes, 3000 ms of faults each: the CI run's shape). */
async function runDriverSeeds(copy: string, mutant: Mutant, firstSeed: number, seeds: number): Promise<MutantOutcome> {
  const sim = (await import(pathToFileURL(join(copy, 'test', 'sim', 'driver-simulation.js')).href)) as typeof import('./driver-simulation.js');
  return firstFailingSeed(mutant, firstSeed, seeds, async (seed) => {
    const result = await sim.runDriverSeed({ seed, nodes: 3, durationMs: 3000 });
    return result.ok ? undefined : result.error;
  });
}

/** Runs seeds until one reports an error (a crash counts); a mutated core may well throw. */
async function firstFailingSeed(
  mutant: Mutant,
  firstSeed: number,
  maxSeeds: number,
  run: (seed: number) => Promise<string | undefined>,
): Promise<MutantOutcome> {
  for (let i = 0; i < maxSeeds; i++) {
    const seed = firstSeed + i;
    let error: string | undefined;
    try {
      error = await run(seed);
    } catch (e) {
      error = `crashed: ${(e as Error).message}`;
    }
    if (error !== undefined) return { mutant, caughtBySeed: seed, error, seedsRun: i + 1 };
  }
  return { mutant, caughtBySeed: undefined, error: undefined, seedsRun: maxSeeds };
}

function describe(outcome: MutantOutcome, seeds: number): string {
  return outcome.caughtBySeed === undefined
    ? `NOT caught in ${seeds} seeds`
    : `caught by seed ${outcome.caughtBySeed} (${outcome.seedsRun} seeds): ${outcome.error}`;
}

/**
 * node dist/test/sim/mutants.js [firstSeed] [maxSeeds] [extra|all|driver]:
 * the core simulator on 3 and 5 nodes for each mutant (extra: the further
 * ones, all: both); `driver` runs every mutant against the driver simulation
 * for maxSeeds seeds instead, to measure which ones it catches and how soon.
 */
async function main(): Promise<void> {
  const firstSeed = Number(process.argv[2] ?? 1);
  const maxSeeds = Number(process.argv[3] ?? 300);
  const mode = process.argv[4];
  let missed = 0;
  if (mode === 'driver') {
    for (const mutant of [...MUTANTS, ...EXTRA_MUTANTS]) {
      const started = Date.now();
      const outcome = await checkMutant({ ...mutant, driverSeeds: maxSeeds }, { firstSeed, maxSeeds, steps: 3000, nodes: 3, driver: true });
      if (outcome.caughtBySeed === undefined) missed++;
      console.log(`driver, ${mutant.name}: ${describe(outcome, maxSeeds)} [${Date.now() - started} ms]`);
    }
    process.exitCode = missed > 0 ? 1 : 0;
    return;
  }
  const which = mode === 'extra' ? EXTRA_MUTANTS : mode === 'all' ? [...MUTANTS, ...EXTRA_MUTANTS] : MUTANTS;
  for (const nodes of [3, 5]) {
    for (const mutant of which) {
      if (mutant.caughtBy === 'driver simulation') continue;
      const outcome = await checkMutant(mutant, { firstSeed, maxSeeds, steps: 3000, nodes });
      if (outcome.caughtBySeed === undefined) missed++;
      console.log(`${nodes} nodes, ${mutant.name}: ${describe(outcome, maxSeeds)}`);
    }
  }
  process.exitCode = missed > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
