// The real node driver under the simulator: fixed seeds on 3 and 5 nodes must
// lose no acknowledged transfer, serve no stale linearizable or lease read,
// and converge; the same seed replays the same run.

import t from 'tap';
import { runDriverSeed } from './driver-simulation.js';

for (const [nodes, seeds] of [
  [3, 30],
  [5, 10],
] as const) {
  t.test(`driver simulation: ${nodes} nodes, seeds 1..${seeds}`, async (t) => {
    let passed = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const result = await runDriverSeed({ seed, nodes, durationMs: 3000 });
      if (result.ok) passed++;
      else t.fail(`seed ${seed}: ${result.error}`, { trace: result.trace.slice(-40).join('\n') });
    }
    t.equal(passed, seeds, `sim: ${passed} passed, ${seeds - passed} failed`);
  });
}

t.test('a seed replays exactly', async (t) => {
  const first = await runDriverSeed({ seed: 7, nodes: 3, durationMs: 2000 });
  const second = await runDriverSeed({ seed: 7, nodes: 3, durationMs: 2000 });
  t.equal(first.acknowledged, second.acknowledged);
  t.same(first.trace, second.trace);
  t.ok(first.acknowledged > 0 && first.readsChecked > 0, `${first.acknowledged} writes acknowledged, ${first.readsChecked} reads checked`);
});
