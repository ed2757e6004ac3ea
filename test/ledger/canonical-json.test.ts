// canonicalJson feeds every request digest and so every stored chain: its
// output must never change, or ledgers written before would stop verifying.
// It is checked against known bytes and, over generated values, against the
// first (allocation-heavy but obviously right) implementation.

import fc from 'fast-check';
import t from 'tap';
import { canonicalJson, requestDigest } from '../../src/ledger/chain.js';

function reference(value: unknown): string {
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const entries = Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${reference((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}

t.test('known bytes', (t) => {
  t.equal(canonicalJson({ b: 1n, a: [true, null, 'x"y'], c: undefined, d: { z: -2n, y: 1.5 } }), '{"a":[true,null,"x\\"y"],"b":"1","d":{"y":1.5,"z":"-2"}}');
  t.equal(canonicalJson([]), '[]');
  t.equal(canonicalJson({}), '{}');
  t.equal(canonicalJson({ u: undefined }), '{}');
  t.equal(
    requestDigest({ id: 't1', debit_account_id: 'a', amount: 10n, linked: false }),
    requestDigest({ linked: false, amount: 10n, debit_account_id: 'a', id: 't1' }),
    'key order does not matter',
  );
  t.end();
});

t.test('the same bytes as the reference implementation for any JSON-like value', (t) => {
  const leaf = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.bigInt(), fc.constant(undefined));
  const value = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node')), fc.dictionary(fc.string(), tie('node'))),
  })).node;
  fc.assert(fc.property(value, (v) => canonicalJson(v) === reference(v)), { numRuns: 5000, seed: 7 });
  t.end();
});
