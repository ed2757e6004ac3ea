// The import rules of docs/architecture.md and each src/ folder's README.md:
// data flows one way (cli -> http -> node -> storage -> raft/ledger -> lib),
// no import runs back up, the Raft core imports no package and no Node
// built-in (it does no I/O), the HTTP layer reaches the node only through
// LedgerService and the metrics registry, and storage knows only the core's
// types and storage interface.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const srcRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** The folders (or root files) of src/ each folder may import, besides itself. */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  lib: [],
  raft: ['lib'],
  storage: ['lib', 'raft'],
  ledger: ['lib'],
  node: ['lib', 'raft', 'storage', 'ledger'],
  http: ['lib', 'ledger', 'node'],
  cli: ['lib', 'raft', 'storage', 'ledger', 'node', 'http', 'config.ts'],
  'config.ts': ['lib', 'raft'],
};

/** Where a folder may reach into another only through some of its files. */
const ONLY_THROUGH: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  http: { node: ['node/service.ts', 'node/metrics.ts'] },
  storage: { raft: ['raft/types.ts', 'raft/storage.ts'] },
};

/** Folders that may import no package and no Node built-in. */
const NO_PACKAGES = new Set(['raft']);

/** The module specifiers a TypeScript source imports or re-exports. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier !== undefined) found.push(specifier);
  }
  return found;
}

/** The folder of src/ a path (relative to src/, with slashes) is in: its first segment, or the file itself at the root. */
function folderOf(relative: string): string {
  return relative.split('/')[0] ?? relative;
}

/** The broken rules of one file (path relative to src/) with these imports. */
export function violations(file: string, imported: readonly string[]): string[] {
  const from = folderOf(file);
  const broken: string[] = [];
  for (const specifier of imported) {
    if (!specifier.startsWith('.')) {
      if (NO_PACKAGES.has(from)) broken.push(`${file} imports the package ${specifier}`);
      continue;
    }
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier)).replace(/\.js$/, '.ts');
    const to = folderOf(target);
    if (to === from) continue;
    if (!(MAY_IMPORT[from] ?? []).includes(to)) broken.push(`${file} imports ${target}: ${from} may not import ${to}`);
    else {
      const through = ONLY_THROUGH[from]?.[to];
      if (through && !through.includes(target)) broken.push(`${file} imports ${target}: ${from} reaches ${to} only through ${through.join(', ')}`);
    }
  }
  return broken;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

t.test('the rules catch an import that runs back up, a package in the core and a reach past the service', (t) => {
  t.same(violations('raft/raft.ts', ['../lib/assert.js', './log.js', 'node:fs', '../storage/wal.js']), [
    'raft/raft.ts imports the package node:fs',
    'raft/raft.ts imports storage/wal.ts: raft may not import storage',
  ]);
  t.same(violations('http/routes/ledger.ts', ['../../node/service.js', '../../node/node.js', 'fastify']), [
    'http/routes/ledger.ts imports node/node.ts: http reaches node only through node/service.ts, node/metrics.ts',
  ]);
  t.same(violations('ledger/index.ts', ['./entry.js', '../raft/types.js']), ['ledger/index.ts imports raft/types.ts: ledger may not import raft']);
  t.same(specifiers("import a from 'x';\nimport type { B } from './b.js';\nexport { c } from '../c.js';\nimport './side.js';\nconst d = await import('./d.js');"), [
    'x', './b.js', '../c.js', './side.js', './d.js',
  ]);
  t.end();
});

t.test('every file under src/ keeps the import rules', (t) => {
  const files = sourceFiles(srcRoot);
  t.ok(files.length > 50, `${files.length} files checked`);
  const relative = files.map((file) => path.relative(srcRoot, file).split(path.sep).join('/'));
  t.same(relative.filter((file) => !(folderOf(file) in MAY_IMPORT)), [], 'every file is in a folder with rules');
  const broken = relative.flatMap((file) => violations(file, specifiers(readFileSync(path.join(srcRoot, file), 'utf8'))));
  t.same(broken, [], 'imports run one way (docs/architecture.md)');
  t.end();
});
