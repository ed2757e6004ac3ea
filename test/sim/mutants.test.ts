// The checks must catch the classic Raft bugs: each is patched into a copy of
// the compiled core and has to fail within 300 seeds of the simulator on 3 and
// on 5 nodes, or (timing and interleaving bugs) fail the scripted tests.

import t from 'tap';
import { checkMutant, MUTANTS } from './mutants.js';

for (const nodes of [3, 5]) {
  for (const mutant of MUTANTS) {
    if (mutant.caughtBy === 'scripted tests' && nodes === 5) continue;
    t.test(`${mutant.caughtBy === 'simulator' ? `${nodes} nodes` : 'scripted tests'} catch: ${mutant.name}`, async (t) => {
      const outcome = await checkMutant(mutant, { firstSeed: 1, maxSeeds: 300, steps: 3000, nodes });
      t.ok(outcome.caughtBySeed !== undefined, `caught within ${outcome.seedsRun} seeds`, { error: outcome.error });
      t.comment(mutant.caughtBy === 'simulator' ? `caught by seed ${outcome.caughtBySeed}: ${outcome.error}` : `caught: ${outcome.error}`);
    });
  }
}
