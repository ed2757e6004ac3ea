// `make bench-wal`: what group commit buys. Measures, in one run on one disk
// (os.tmpdir() unless WAL_BENCH_DIR is set), the raw fdatasync rate (write a
// small record, fdatasync, repeat) and then RaftStorage appends of 128-byte
// entries with one sync per batch at batch sizes 1, 16, 256 and 4096. Each
// phase runs for a bounded time, so the whole bench takes about 15 seconds.
// The ratio column is entries/s over raw fdatasyncs/s: the group-commit gain.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Entry } from '../src/raft/types.js';
import { RaftStorage } from '../src/storage/raft-storage.js';

const PHASE_MS = Number(process.env['WAL_BENCH_PHASE_MS'] ?? 2500);
const ENTRY_DATA_BYTES = 128;
const BATCH_SIZES = [1, 16, 256, 4096] as const;
const MAX_SYNCS_PER_PHASE = 100_000;

function rawFdatasyncPerSecond(dir: string): number {
  const file = path.join(dir, 'raw.bin');
  const fd = fs.openSync(file, 'w');
  const record = Buffer.alloc(ENTRY_DATA_BYTES + 26, 7);
  let count = 0;
  let position = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(PHASE_MS) * 1_000_000n;
  while (process.hrtime.bigint() < deadline && count < MAX_SYNCS_PER_PHASE) {
    fs.writeSync(fd, record, 0, record.length, position);
    position += record.length;
    fs.fdatasyncSync(fd);
    count++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  fs.closeSync(fd);
  fs.unlinkSync(file);
  return count / seconds;
}

interface WalResult {
  readonly batchSize: number;
  readonly entriesPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly syncsPerSecond: number;
}

async function walPhase(dir: string, batchSize: number): Promise<WalResult> {
  const storageDir = path.join(dir, `wal-${batchSize}`);
  const storage = RaftStorage.open(storageDir);
  const data = new Uint8Array(ENTRY_DATA_BYTES).fill(42);
  let next = 1;
  let syncs = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(PHASE_MS) * 1_000_000n;
  while (process.hrtime.bigint() < deadline && syncs < MAX_SYNCS_PER_PHASE) {
    const batch: Entry[] = [];
    for (let i = 0; i < batchSize; i++) batch.push({ index: next + i, term: 1, type: 'normal', data });
    storage.append(batch);
    await storage.sync();
    next += batchSize;
    syncs++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await storage.close();
  fs.rmSync(storageDir, { recursive: true, force: true });
  const entries = next - 1;
  return {
    batchSize,
    entriesPerSecond: entries / seconds,
    megabytesPerSecond: (entries * ENTRY_DATA_BYTES) / seconds / 1e6,
    syncsPerSecond: syncs / seconds,
  };
}

function format(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const base = process.env['WAL_BENCH_DIR'] ?? os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'raft-ledger-bench-wal-'));
  try {
    const raw = rawFdatasyncPerSecond(dir);
    const results: WalResult[] = [];
    for (const batchSize of BATCH_SIZES) results.push(await walPhase(dir, batchSize));
    console.log(`WAL group commit, ${ENTRY_DATA_BYTES}-byte entries, ${PHASE_MS} ms per phase, dir ${base}`);
    console.log(`raw write+fdatasync: ${format(raw)} /s`);
    console.log('| batch | entries/s | MB/s (data) | syncs/s | entries/s ÷ raw fdatasync/s |');
    console.log('|------:|----------:|------------:|--------:|-----------------------------:|');
    for (const r of results) {
      console.log(`| ${r.batchSize} | ${format(r.entriesPerSecond)} | ${format(r.megabytesPerSecond, 2)} | ${format(r.syncsPerSecond)} | ${format(r.entriesPerSecond / raw, 2)} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
