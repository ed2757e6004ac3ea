// `make bench-json`: what the exact body parser (src/http/json.ts) costs next
// to JSON.parse, on a body of 1 transfer and one of 1000 transfers (with
// metadata), measured side by side in one run. Each phase runs for a bounded
// time; the ratio column is exact / JSON.parse time per body. The whole bench
// takes about 10 seconds.

import { parseExactJson } from '../src/http/json.js';

const PHASE_MS = Number(process.env['JSON_BENCH_PHASE_MS'] ?? 1200);
const MAX_ITERATIONS = 2_000_000;

function transfer(i: number): Record<string, unknown> {
  return {
    id: `transfer-${i}`, debit_account_id: `acct-${i % 97}`, credit_account_id: `acct-${(i + 1) % 97}`,
    amount: 1000 + i, ledger: 'USD', code: 7, metadata: { order: `o-${i}`, note: 'ref "A/B" caf\u00e9', lines: [1, 2, 3] },
  };
}

/** Microseconds per call of `parse` on `text`, after a warm-up. */
function microsecondsPerParse(parse: (text: string) => unknown, text: string): number {
  for (let i = 0; i < 200; i++) parse(text);
  let iterations = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(PHASE_MS) * 1_000_000n;
  let now = start;
  while (now < deadline && iterations < MAX_ITERATIONS) {
    parse(text);
    iterations++;
    if ((iterations & 15) === 0) now = process.hrtime.bigint();
  }
  now = process.hrtime.bigint();
  return Number(now - start) / 1000 / iterations;
}

const exact = (text: string): unknown => {
  const parsed = parseExactJson(text);
  if (!parsed.ok) throw new Error('the bench body must parse');
  return parsed.value;
};

console.log('body                 bytes   JSON.parse us   exact us   ratio');
for (const count of [1, 1000]) {
  const text = JSON.stringify(count === 1 ? transfer(0) : { transfers: Array.from({ length: count }, (_, i) => transfer(i)) });
  const reference = microsecondsPerParse(JSON.parse, text);
  const ours = microsecondsPerParse(exact, text);
  const name = `${count} transfer${count === 1 ? '' : 's'}`;
  console.log(`${name.padEnd(18)} ${String(text.length).padStart(8)} ${reference.toFixed(1).padStart(15)} ${ours.toFixed(1).padStart(10)} ${(ours / reference).toFixed(2).padStart(7)}`);
}
