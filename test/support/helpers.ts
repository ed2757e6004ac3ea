// The furniture every test room shares: temporary directories that go away
// with the test, sleeping, and waiting for a condition with a deadline that
// names what was awaited (and the last error) when it passes.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A new empty directory under the system's temporary directory, named `raft-ledger-<prefix>-...`. */
export function makeTempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `raft-ledger-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A temporary directory removed when the test `t` ends, pass or fail. */
export function temporaryDirectory(t: { teardown(run: () => void): void }, prefix: string): string {
  const dir = makeTempDir(prefix);
  t.teardown(() => removeDir(dir));
  return dir;
}

/** What a probe answers while the awaited thing has not happened yet. */
type NotYet = undefined | false;

/**
 * Polls `probe` every `intervalMs` until it answers something other than
 * undefined or false, and answers that. A probe that throws counts as "not
 * yet" (a process still starting); after `timeoutMs` it throws, naming
 * `what` and the last error.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | NotYet | Promise<T | NotYet>,
  timeoutMs = 10_000,
  intervalMs = 5,
): Promise<Exclude<T, NotYet>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as Exclude<T, NotYet>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) break;
    await sleep(intervalMs);
  }
  const cause = lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
}
