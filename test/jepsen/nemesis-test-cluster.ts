// A 3-node cluster of real ledgerd processes for a nemesis's process test,
// with its history file, torn down (processes killed, folder removed) when
// the test ends.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Cluster, type ClusterOptions } from './cluster.js';
import { HistoryWriter } from './history-writer.js';

export async function startNemesisCluster(
  t: { teardown(run: () => Promise<void>): void },
  prefix: string,
  options: Partial<Omit<ClusterOptions, 'root'>>,
): Promise<{ cluster: Cluster; history: HistoryWriter }> {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  const cluster = new Cluster({
    root, nodeCount: 3, spareCount: 0, faketimeLibrary: undefined, tmpfsNodes: new Map(), tickMs: 50, electionTicks: 20, ...options,
  });
  const history = new HistoryWriter(path.join(root, 'history.jsonl'));
  t.teardown(async () => {
    await cluster.close();
    await history.close();
    rmSync(root, { recursive: true, force: true });
  });
  await cluster.start();
  return { cluster, history };
}
