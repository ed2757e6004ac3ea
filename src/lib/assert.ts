// Assertions for programmer errors. An assertion failure means the code is
// wrong, not the input: it throws AssertionFailure and the process is expected
// to crash rather than continue with broken invariants. Errors that a user or
// operator can cause are typed results, never assertions.

export class AssertionFailure extends Error {
  override name = 'AssertionFailure';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}

/** Marks a branch that the type system proves impossible; throws if reached. */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionFailure(`unreachable ${what}: ${JSON.stringify(value)}`);
}
