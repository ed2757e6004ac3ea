// The simulator in CI: a fixed set of seeds on 3 and 5 nodes must pass every
// safety check and reach liveness after healing. A failing seed prints its
// trace tail and the command that replays it.

import t from 'tap';
import { runSeed } from './simulation.js';

function sweep(nodes: number, from: number, to: number, steps: number): void {
  t.test(`${nodes} nodes, seeds ${from}..${to}, ${steps} ms of faults each`, async (t) => {
    let passed = 0;
    for (let seed = from; seed <= to; seed++) {
      const result = runSeed({ seed, steps, nodes });
      if (result.ok) {
        passed++;
        continue;
      }
      t.fail(`seed ${seed}: ${result.error}`, {
        replay: `npm run sim -- --seeds ${seed} --steps ${steps} --nodes ${nodes} --trace`,
        trace: result.trace.slice(-40).join('\n'),
      });
    }
    t.equal(passed, to - from + 1, `sim: ${passed} passed, ${to - from + 1 - passed} failed`);
  });
}

sweep(3, 1, 250, 3000);
sweep(5, 1, 150, 3000);
