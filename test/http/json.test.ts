// The exact JSON parser against JSON.parse: the same value for every JSON
// text whose numbers are safe integers and whose keys are unique; refusal
// (with the path) of every other number and of duplicate keys; malformed
// exactly when JSON.parse says so; `__proto__` as data; bounded depth.

import t from 'tap';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, parseExactJson, type ExactJson } from '../../src/http/json.js';

const RUNS = Number(process.env['JSON_FUZZ_RUNS'] ?? 3000);

const exactValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.constantFrom(0, -1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'prototype')), tie('value'), { maxKeys: 5 }),
  ),
})).value;

function issuesOf(result: ExactJson): { path: string; code: string }[] {
  return !result.ok && result.kind === 'invalid' ? result.issues.map(({ path, code }) => ({ path, code })) : [];
}

t.test('same value as JSON.parse for exact JSON, with any whitespace', (t) => {
  fc.assert(
    fc.property(exactValue, fc.constantFrom(undefined, 1, '\t', ' \r\n '), (value, space) => {
      const text = JSON.stringify(value, null, space);
      const parsed = parseExactJson(text);
      if (!parsed.ok) return false;
      // Compare through JSON.stringify: it sees own "__proto__" keys, which t.same-style walks may not.
      return JSON.stringify(parsed.value) === JSON.stringify(JSON.parse(text));
    }),
    { numRuns: RUNS },
  );
  t.end();
});

t.test('malformed exactly when JSON.parse refuses, on random and damaged texts', (t) => {
  const damaged = fc.tuple(exactValue, fc.nat(), fc.string({ unit: 'binary', maxLength: 3 }), fc.nat(3)).map(([value, at, insert, drop]) => {
    const text = JSON.stringify(value);
    const cut = at % (text.length + 1);
    return text.slice(0, cut) + insert + text.slice(cut + drop);
  });
  fc.assert(
    fc.property(fc.oneof(damaged, fc.string({ unit: 'binary', maxLength: 30 }), fc.json()), (text) => {
      let reference: unknown;
      try {
        reference = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
      } catch {
        const result = parseExactJson(text);
        return !result.ok && result.kind === 'malformed';
      }
      const result = parseExactJson(text);
      if (result.ok) return JSON.stringify(result.value) === JSON.stringify(reference);
      // Valid JSON that is refused must be refused for a reason with a path, never as malformed.
      return result.kind === 'invalid' && result.issues.length > 0;
    }),
    { numRuns: RUNS },
  );
  t.end();
});

t.test('inexact and unsafe numbers are refused with their path; safe integers pass', (t) => {
  const amount = (literal: string) => parseExactJson(`{"transfers":[{"amount":1},{"amount":${literal}}]}`);
  for (const literal of ['2.9999999999999999', '1.0000000000000001', '1.0', '1e3', '1E+2', '0.5', '-0.0', '1e400', '5e-324']) {
    t.same(issuesOf(amount(literal)), [{ path: 'transfers.1.amount', code: 'not_an_integer' }], `${literal} is not an integer`);
  }
  for (const literal of ['9007199254740992', '9007199254740993', '-9007199254740992', '123456789012345678901234567890']) {
    t.same(issuesOf(amount(literal)), [{ path: 'transfers.1.amount', code: 'unsafe_integer' }], `${literal} is unsafe`);
  }
  for (const [literal, value] of [['9007199254740991', 9007199254740991], ['-9007199254740991', -9007199254740991], ['0', 0], ['-0', 0], ['42', 42]] as const) {
    const result = amount(literal);
    t.ok(result.ok && Object.is((result.value as { transfers: { amount: number }[] }).transfers[1]?.amount, value), `${literal} is ${value}`);
  }
  const message = !amount('2.9999999999999999').ok ? JSON.stringify(amount('2.9999999999999999')) : '';
  t.match(message, /2\.9999999999999999 is not an integer/, 'the message quotes the literal as sent');
  t.same(issuesOf(parseExactJson('[1.5, {"a": [2.5]}, 3e1]')), [
    { path: '0', code: 'not_an_integer' }, { path: '1.a.0', code: 'not_an_integer' }, { path: '2', code: 'not_an_integer' },
  ], 'every bad number is listed');
  t.end();
});

t.test('duplicate keys are refused with the path of the repeated key', (t) => {
  t.same(issuesOf(parseExactJson('{"transfers":[{"id":"t","amount":5,"amount":500}]}')), [{ path: 'transfers.0.amount', code: 'duplicate_key' }]);
  t.same(issuesOf(parseExactJson('{"a":1,"a":1}')), [{ path: 'a', code: 'duplicate_key' }], 'even with the same value');
  t.same(issuesOf(parseExactJson('{"__proto__":1,"__proto__":2}')), [{ path: '__proto__', code: 'duplicate_key' }]);
  t.ok(parseExactJson('[{"a":1},{"a":2}]').ok, 'the same key in two objects is fine');
  t.end();
});

t.test('__proto__ and constructor are own data keys; no prototype changes', (t) => {
  const result = parseExactJson('{"metadata":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}');
  t.ok(result.ok);
  const metadata = (result.ok ? result.value : {}) as { metadata: Record<string, unknown> };
  t.same(Object.keys(metadata.metadata), ['__proto__', 'constructor'], 'both are own keys, in order');
  t.equal(Object.getPrototypeOf(metadata.metadata), Object.prototype, 'the prototype is untouched');
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype is untouched');
  t.equal(JSON.stringify(metadata), '{"metadata":{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}}');
  t.end();
});

t.test('depth is bounded without recursion beyond the bound', (t) => {
  t.ok(parseExactJson(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`).ok, `${MAX_JSON_DEPTH} levels`);
  const deep = parseExactJson(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
  t.same(issuesOf(deep)[0]?.code, 'too_deep', '100,000 levels: refused, no stack overflow');
  t.match(issuesOf(deep)[0]?.path, /^a(\.0)+$/, 'the path leads to where it got too deep');
  t.end();
});

t.test('malformed texts say where', (t) => {
  for (const [text, at] of [['{"a":', 5], ['{"a" 1}', 5], ['[1,]', 3], ['"\u0001"', 1], ['01', 0], ['{"a":1}x', 7], ['"\\x"', 0], ['', 0]] as const) {
    const result = parseExactJson(text);
    t.ok(!result.ok && result.kind === 'malformed' && result.position === at, `${JSON.stringify(text)}: malformed at ${at} (${JSON.stringify(result)})`);
  }
  t.ok(parseExactJson('\ufeff{"a":1}').ok, 'a leading byte-order mark is allowed, as before');
  t.end();
});
