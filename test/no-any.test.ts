// No `any` in the TypeScript of this repository (src, test, bench): an
// explicit `any` or an `as any` switches the type checker off where a test or
// the service reads data, so a wrong field name compiles and a test passes
// without checking anything. Use a proper type, or `unknown` with narrowing
// (test/support/api-json.ts types the HTTP answers). The files are parsed with
// the TypeScript compiler, so comments and strings that say "any" do not count.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCANNED = ['src', 'test', 'bench'];

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : typeScriptFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every `any` keyword in the source text, as "file:line: the line". */
export function anyKeywords(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.AnyKeyword) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      found.push(`${fileName}:${line + 1}: ${text.split('\n')[line]?.trim()}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

t.test('the scanner finds an explicit any and an `as any`, and ignores comments and strings', (t) => {
  const sample = [
    'let loose: any;',
    'const forced = value as any;',
    'function f(list: Array<any>): void {}',
    '// any in a comment',
    "const text = 'any in a string';",
  ].join('\n');
  t.same(anyKeywords('sample.ts', sample), [
    'sample.ts:1: let loose: any;',
    'sample.ts:2: const forced = value as any;',
    'sample.ts:3: function f(list: Array<any>): void {}',
  ]);
  t.end();
});

t.test('no TypeScript file in src, test or bench uses any', (t) => {
  const files = SCANNED.flatMap((dir) => typeScriptFiles(path.join(repoRoot, dir)));
  t.ok(files.length > 100, `${files.length} files scanned`);
  const found = files.flatMap((file) => anyKeywords(path.relative(repoRoot, file), readFileSync(file, 'utf8')));
  t.same(found, [], 'use a proper type, or unknown with narrowing');
  t.end();
});
