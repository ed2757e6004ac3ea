// Mutation checks for the simulator: each classic Raft bug is patched into a
// copy of the compiled core, and the simulator must catch it within a bounded
// number of seeds. If a patch no longer applies (the code moved), that is a
// failure too, so the checks cannot silently rot.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Mutant {
  readonly name: string;
  /** Path under dist/src/raft/ of the compiled file to patch. */
  readonly file: string;
  readonly from: string;
  readonly to: string;
}

export const MUTANTS: readonly Mutant[] = [
  {
    name: 'commit by counting replicas of an older-term entry',
    file: 'log.js',
    from: 'if (maxIndex > this.committed && this.term(maxIndex) === term) {',
    to: 'if (maxIndex > this.committed) {',
  },
  {
    name: 'grant a vote before it is persisted',
    file: 'raft.js',
    from: 'if (SEND_BEFORE_PERSIST.has(m.type))',
    to: "if (SEND_BEFORE_PERSIST.has(m.type) || m.type === 'voteResp')",
  },
  {
    name: 'accept appends without the previous-entry check',
    file: 'log.js',
    from: 'if (!this.matchTerm(prevIndex, prevTerm))\n            return undefined;',
    to: '',
  },
  {
    name: 'accept appends whose previous entry has another term',
    file: 'log.js',
    from: 'if (!this.matchTerm(prevIndex, prevTerm))',
    to: 'if (prevIndex > this.lastIndex())',
  },
  {
    name: 'serve a lease read without a valid lease',
    file: 'raft.js',
    from: 'return this.tickCount - this.leaseAnchorTick < leaseTicks(this.config);',
    to: 'return true;',
  },
];

export interface MutantOutcome {
  readonly mutant: Mutant;
  /** The first seed whose run failed, or undefined if none did. */
  readonly caughtBySeed: number | undefined;
  readonly error: string | undefined;
  readonly seedsRun: number;
}

const here = dirname(fileURLToPath(import.meta.url));
/** dist/ of this build: this file is dist/test/sim/mutants.js. */
const distRoot = resolve(here, '..', '..');

/** Runs seeds firstSeed.. until the mutant is caught or maxSeeds ran. */
export async function checkMutant(
  mutant: Mutant,
  options: { firstSeed: number; maxSeeds: number; steps: number; nodes: number },
): Promise<MutantOutcome> {
  const copy = mkdtempSync(join(tmpdir(), 'raft-mutant-'));
  try {
    cpSync(join(distRoot, 'src'), join(copy, 'src'), { recursive: true });
    cpSync(join(distRoot, 'test', 'sim'), join(copy, 'test', 'sim'), { recursive: true });
    writeFileSync(join(copy, 'package.json'), '{"type":"module"}');
    const target = join(copy, 'src', 'raft', mutant.file);
    const source = readFileSync(target, 'utf8');
    if (!source.includes(mutant.from)) throw new Error(`mutant "${mutant.name}": patch target not found in ${mutant.file}`);
    writeFileSync(target, source.replace(mutant.from, mutant.to));
    const sim = (await import(pathToFileURL(join(copy, 'test', 'sim', 'simulation.js')).href)) as typeof import('./simulation.js');
    for (let i = 0; i < options.maxSeeds; i++) {
      const seed = options.firstSeed + i;
      let error: string | undefined;
      try {
        const result = sim.runSeed({ seed, steps: options.steps, nodes: options.nodes });
        error = result.ok ? undefined : result.error;
      } catch (e) {
        error = `crashed: ${(e as Error).message}`;
      }
      if (error !== undefined) return { mutant, caughtBySeed: seed, error, seedsRun: i + 1 };
    }
    return { mutant, caughtBySeed: undefined, error: undefined, seedsRun: options.maxSeeds };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const firstSeed = Number(process.argv[2] ?? 1);
  const maxSeeds = Number(process.argv[3] ?? 300);
  let missed = 0;
  for (const nodes of [3, 5]) {
    for (const mutant of MUTANTS) {
      const outcome = await checkMutant(mutant, { firstSeed, maxSeeds, steps: 3000, nodes });
      if (outcome.caughtBySeed === undefined) missed++;
      console.log(
        `${nodes} nodes, ${mutant.name}: ` +
          (outcome.caughtBySeed === undefined
            ? `NOT caught in ${maxSeeds} seeds`
            : `caught by seed ${outcome.caughtBySeed} (${outcome.seedsRun} seeds): ${outcome.error}`),
      );
    }
  }
  process.exitCode = missed > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
