// JSON rendering for responses: the contract sends every amount as a decimal
// digit string, never a JSON number.

export function renderAmount(amount: bigint): string {
  return amount.toString(10);
}

const bigintAsDecimal = (_key: string, inner: unknown): unknown => (typeof inner === 'bigint' ? renderAmount(inner) : inner);

/**
 * The JSON text of a view (or result) with every bigint written as a decimal
 * string: the one serialization of an answer body, done once per request.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, bigintAsDecimal);
}
