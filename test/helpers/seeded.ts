// A seeded generator (a 32-bit linear congruential one) for tests whose randomness must
// replay: a failure names its seed and reruns the same way.
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}
