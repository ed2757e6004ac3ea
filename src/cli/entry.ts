// Whether a CLI module is the program being run rather than imported (by a
// test). Through `npx ledgerctl` or an npm bin link, argv[1] is a symlink in
// node_modules/.bin while import.meta.url is the real file: compare real paths.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function runAsProgram(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}
