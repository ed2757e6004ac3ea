// The checks must catch the classic Raft bugs: each is patched into a copy of
// the TypeScript source of the core, compiled, and has to fail within 300
// seeds of the core simulator on 3 and on 5 nodes, or (timing and
// interleaving bugs) fail the scripted tests; the mutants that name a driver
// budget must also fail the driver simulation (the real LedgerNode over
// SQLite) within it. A patch that no longer applies fails its test.

import t from 'tap';
import { applyPatch, checkMutant, MUTANTS, type Mutant } from './mutants.js';

const CORE = { firstSeed: 1, maxSeeds: 300, steps: 3000 };

for (const nodes of [3, 5]) {
  for (const mutant of MUTANTS) {
    if (mutant.caughtBy === 'driver simulation' || (mutant.caughtBy === 'scripted tests' && nodes === 5)) continue;
    t.test(`${mutant.caughtBy === 'simulator' ? `${nodes} nodes` : 'scripted tests'} catch: ${mutant.name}`, async (t) => {
      const outcome = await checkMutant(mutant, { ...CORE, nodes });
      t.ok(outcome.caughtBySeed !== undefined, `caught within ${outcome.seedsRun} seeds`, { error: outcome.error });
      t.comment(mutant.caughtBy === 'simulator' ? `caught by seed ${outcome.caughtBySeed}: ${outcome.error}` : `caught: ${outcome.error}`);
    });
  }
}

for (const mutant of MUTANTS) {
  if (mutant.driverSeeds === undefined) continue;
  t.test(`driver simulation catches: ${mutant.name}`, async (t) => {
    const outcome = await checkMutant(mutant, { ...CORE, nodes: 3, driver: true });
    t.ok(outcome.caughtBySeed !== undefined, `caught within ${outcome.seedsRun} driver seeds`, { error: outcome.error });
    t.comment(`caught by driver seed ${outcome.caughtBySeed}: ${outcome.error}`);
  });
}

t.test('a mutant whose patch no longer applies fails instead of passing unmutated', async (t) => {
  const moved: Mutant = { name: 'moved code', caughtBy: 'simulator', patches: [{ file: 'raft/raft.ts', from: 'this.votesGrantedTwice();', to: '' }] };
  await t.rejects(checkMutant(moved, { ...CORE, maxSeeds: 1, nodes: 3 }), /patch target not found in src\/raft\/raft\.ts/);
  const ambiguous: Mutant = { name: 'ambiguous', caughtBy: 'simulator', patches: [{ file: 'raft/raft.ts', from: 'return;', to: '' }] };
  await t.rejects(checkMutant(ambiguous, { ...CORE, maxSeeds: 1, nodes: 3 }), /occurs twice/);
  t.throws(() => applyPatch('broken', 'a b a', { file: 'x.ts', from: 'a', to: 'c' }), /occurs twice in src\/x\.ts/);
  t.equal(applyPatch('fine', 'a b c', { file: 'x.ts', from: 'b', to: 'B' }), 'a B c');
});
