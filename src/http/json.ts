// An exact JSON parser for request bodies. JSON.parse rounds every number to
// a double before validation can see the text: `"amount": 2.9999999999999999`
// arrived as 3 and was stored (issue 13.4). This parser reads the grammar of
// RFC 8259 itself and keeps what the contract needs:
// - a number is accepted only as a plain integer literal (no fraction, no
//   exponent) whose value is a safe integer (|n| <= 2^53-1); any other number
//   is an issue naming its path, so nothing inexact is ever rounded into a
//   value (amounts beyond 2^53-1 travel as decimal digit strings);
// - a key given twice in one object is an issue naming its path (JSON.parse
//   keeps the last one silently, so two readers could see two requests);
// - `__proto__` and `constructor` are ordinary keys: an own property is
//   defined, the prototype of the object is never touched;
// - nesting is bounded (MAX_JSON_DEPTH), and the parser never recurses deeper
//   than that, so no body can exhaust the stack.
// Strings are sliced from the text; those with escapes are decoded by
// JSON.parse of the string literal alone, which is exact.

/** Arrays and objects nested deeper than this are refused (metadata allows 32 levels below a batch of 2). */
export const MAX_JSON_DEPTH = 64;

export type JsonIssueCode = 'not_an_integer' | 'unsafe_integer' | 'duplicate_key' | 'too_deep';

export interface JsonIssue {
  /** Dot-joined, like the schema issues: `transfers.3.amount`. */
  readonly path: string;
  readonly code: JsonIssueCode;
  readonly message: string;
}

export type ExactJson =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly kind: 'malformed'; readonly position: number; readonly reason: string }
  | { readonly ok: false; readonly kind: 'invalid'; readonly issues: readonly JsonIssue[] };

class Malformed extends Error {
  constructor(readonly position: number, readonly reason: string) {
    super(reason);
  }
}

/** Nesting beyond MAX_JSON_DEPTH: parsing stops at once (the rest could be arbitrarily deep). */
class TooDeep extends Error {}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

class Parser {
  private position = 0;
  private depth = 0;
  readonly issues: JsonIssue[] = [];
  private readonly path: (string | number)[] = [];

  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    this.skipWhitespace();
    const value = this.value();
    this.skipWhitespace();
    if (this.position < this.text.length) this.fail('unexpected text after the JSON value');
    return value;
  }

  private fail(reason: string): never {
    throw new Malformed(this.position, reason);
  }

  private issue(code: JsonIssueCode, message: string, key?: string): void {
    const path = key === undefined ? this.path : [...this.path, key];
    this.issues.push({ path: path.join('.'), code, message });
  }

  private skipWhitespace(): void {
    const text = this.text;
    let at = this.position;
    for (;;) {
      const code = text.charCodeAt(at);
      if (code !== 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09) break;
      at++;
    }
    this.position = at;
  }

  private value(): unknown {
    const code = this.text.charCodeAt(this.position);
    if (code === QUOTE) return this.string();
    if (code === 0x7b) return this.object();
    if (code === 0x5b) return this.array();
    if (code === MINUS || isDigit(code)) return this.number();
    if (this.text.startsWith('true', this.position)) return this.literal(4, true);
    if (this.text.startsWith('false', this.position)) return this.literal(5, false);
    if (this.text.startsWith('null', this.position)) return this.literal(4, null);
    return this.fail(this.position >= this.text.length ? 'unexpected end of the body' : 'expected a JSON value');
  }

  private literal<T>(length: number, value: T): T {
    this.position += length;
    return value;
  }

  private enter(): void {
    this.depth++;
    if (this.depth > MAX_JSON_DEPTH) {
      this.issue('too_deep', `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
      throw new TooDeep();
    }
  }

  /** Reads the items of an array or object up to `close`; the opening character is at the current position. */
  private container(close: number, what: string, item: () => void): void {
    this.enter();
    this.position++;
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) === close) {
      this.position++;
      this.depth--;
      return;
    }
    for (;;) {
      item();
      this.skipWhitespace();
      const next = this.text.charCodeAt(this.position++);
      if (next === close) break;
      if (next !== 0x2c) {
        this.position--;
        this.fail(`expected "," or "${String.fromCharCode(close)}" in ${what}`);
      }
      this.skipWhitespace();
    }
    this.depth--;
  }

  private object(): Record<string, unknown> {
    const object: Record<string, unknown> = {};
    this.container(0x7d, 'an object', () => this.member(object));
    return object;
  }

  private member(object: Record<string, unknown>): void {
    if (this.text.charCodeAt(this.position) !== QUOTE) this.fail('expected a string key');
    const key = this.string();
    this.skipWhitespace();
    if (this.text.charCodeAt(this.position) !== 0x3a) this.fail('expected ":" after a key');
    this.position++;
    this.skipWhitespace();
    this.path.push(key);
    const value = this.value();
    this.path.pop();
    if (Object.hasOwn(object, key)) {
      this.issue('duplicate_key', `the key "${key}" appears more than once in this object: give it once`, key);
    } else if (key === '__proto__') {
      // An assignment would set the prototype; JSON means an own property.
      Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
    } else {
      object[key] = value;
    }
  }

  private array(): unknown[] {
    const array: unknown[] = [];
    this.container(0x5d, 'an array', () => {
      this.path.push(array.length);
      array.push(this.value());
      this.path.pop();
    });
    return array;
  }

  private string(): string {
    const text = this.text;
    const start = this.position;
    let at = start + 1;
    let escaped = false;
    for (;;) {
      const code = text.charCodeAt(at);
      if (code === QUOTE) break;
      if (Number.isNaN(code)) {
        this.position = at;
        this.fail('unterminated string');
      }
      if (code < 0x20) {
        this.position = at;
        this.fail('a control character must be escaped inside a string');
      }
      if (code === BACKSLASH) {
        escaped = true;
        at++;
      }
      at++;
    }
    this.position = at + 1;
    if (!escaped) return text.slice(start + 1, at);
    try {
      return JSON.parse(text.slice(start, at + 1)) as string;
    } catch {
      this.position = start;
      return this.fail('invalid escape in a string');
    }
  }

  private digits(): number {
    const start = this.position;
    while (isDigit(this.text.charCodeAt(this.position))) this.position++;
    return this.position - start;
  }

  /** The JSON number grammar exactly; only a plain integer literal of a safe value becomes a number. */
  private number(): number {
    const text = this.text;
    const start = this.position;
    if (text.charCodeAt(this.position) === MINUS) this.position++;
    const leadsWithZero = text.charCodeAt(this.position) === ZERO;
    const integerDigits = this.digits();
    if (integerDigits === 0) this.fail('a number needs digits');
    if (leadsWithZero && integerDigits > 1) {
      this.position = start;
      this.fail('a number must not have leading zeros');
    }
    let exact = true;
    if (text.charCodeAt(this.position) === 0x2e) {
      this.position++;
      if (this.digits() === 0) this.fail('a fraction needs digits');
      exact = false;
    }
    const e = text.charCodeAt(this.position);
    if (e === 0x65 || e === 0x45) {
      this.position++;
      const sign = text.charCodeAt(this.position);
      if (sign === 0x2b || sign === MINUS) this.position++;
      if (this.digits() === 0) this.fail('an exponent needs digits');
      exact = false;
    }
    const literal = text.slice(start, this.position);
    if (!exact) {
      this.issue('not_an_integer', `${shorten(literal)} is not an integer: numbers are exact integers (minor units); a fraction or exponent would be rounded, so it is refused`);
      return 0;
    }
    const value = Number(literal);
    // Every integer beyond 2^53-1 rounds to at least 2^53, so this check is exact.
    if (!Number.isSafeInteger(value)) {
      this.issue('unsafe_integer', `${shorten(literal)} is beyond 2^53-1 as a JSON number and would be rounded: send it as a decimal digit string`);
      return 0;
    }
    return value === 0 ? 0 : value; // -0 is 0
  }
}

function shorten(literal: string): string {
  return literal.length <= 40 ? literal : `${literal.slice(0, 37)}...`;
}

/** Parses `text` (one JSON value, a leading byte-order mark allowed) exactly, or says why not. */
export function parseExactJson(text: string): ExactJson {
  const parser = new Parser(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  try {
    const value = parser.parseDocument();
    return parser.issues.length === 0 ? { ok: true, value } : { ok: false, kind: 'invalid', issues: parser.issues };
  } catch (error) {
    if (error instanceof TooDeep) return { ok: false, kind: 'invalid', issues: parser.issues };
    if (error instanceof Malformed) return { ok: false, kind: 'malformed', position: error.position, reason: error.reason };
    throw error;
  }
}
