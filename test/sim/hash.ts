// Cheap, deterministic 64-bit-ish hashing for the simulator's chains of log
// entries and state-machine states (two FNV-1a lanes). Not cryptographic: it
// only has to tell different histories apart in a simulation.

export function hashBytes(prev: string, term: number, data: Uint8Array): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ term;
  const mix = (byte: number): void => {
    a = Math.imul(a ^ byte, 0x01000193) >>> 0;
    b = Math.imul(b ^ byte, 0x5bd1e995) >>> 0;
  };
  for (let i = 0; i < prev.length; i++) mix(prev.charCodeAt(i) & 0xff);
  mix(term & 0xff);
  mix((term >>> 8) & 0xff);
  mix((term >>> 16) & 0xff);
  for (let i = 0; i < data.length; i++) mix(data[i] as number);
  mix(data.length & 0xff);
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}
