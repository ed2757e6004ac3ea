// Shared by the storage tests: temporary directories, entries whose data is
// derived from (index, term) so any entry read back can be checked on its
// own, and a seed that every test prints when it fails.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Entry } from '../../src/raft/types.js';

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `raft-ledger-${prefix}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A temporary directory removed when the test `t` ends. */
export function withDir(t: { teardown(run: () => void): void }, prefix: string): string {
  const dir = makeTempDir(prefix);
  t.teardown(() => removeDir(dir));
  return dir;
}

/** The seed for a randomised test: SEED from the environment replays a failure. */
export function testSeed(): number {
  const fromEnv = process.env['SEED'];
  return fromEnv !== undefined ? Number(fromEnv) : (Date.now() ^ (process.pid << 8)) >>> 0;
}

/** Deterministic data for (index, term): its length varies, its bytes are checkable. */
export function entryData(index: number, term: number, lengthBytes?: number): Uint8Array {
  const length = lengthBytes ?? 8 + ((index * 7 + term * 13) % 120);
  const data = new Uint8Array(length);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

export function makeEntry(index: number, term: number, lengthBytes?: number): Entry {
  return { index, term, type: index % 17 === 0 ? 'conf' : 'normal', data: entryData(index, term, lengthBytes) };
}

export function makeEntries(from: number, to: number, term: number, lengthBytes?: number): Entry[] {
  const entries: Entry[] = [];
  for (let index = from; index <= to; index++) entries.push(makeEntry(index, term, lengthBytes));
  return entries;
}

/** True when `entry` carries exactly the data makeEntry gives its index and term. */
export function entryIsGenuine(entry: Entry): boolean {
  const expected = makeEntry(entry.index, entry.term, entry.data.length);
  return entry.type === expected.type && Buffer.from(entry.data).equals(Buffer.from(expected.data));
}

export function segmentFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith('.wal')).sort().map((name) => path.join(dir, name));
}
