// JSON rendering for responses: the contract sends every amount as a decimal
// digit string, never a JSON number.

export function renderAmount(amount: bigint): string {
  return amount.toString(10);
}

/** Deep copy of a view (or result) with every bigint rendered as a decimal string. */
export function renderJson<T>(value: T): RenderedJson<T> {
  return JSON.parse(JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? renderAmount(inner) : inner))) as RenderedJson<T>;
}

export type RenderedJson<T> = T extends bigint
  ? string
  : T extends (infer Element)[]
    ? RenderedJson<Element>[]
    : T extends object
      ? { [Key in keyof T]: RenderedJson<T[Key]> }
      : T;
