// Wait for a pattern in the output a child process (or a supervised group) accumulates:
// what agent-process.ts and supervisor.ts both need. `listeners` are called on each chunk.

/** Resolves with the first match of `re` in `read()`, checked now and after each chunk; rejects after `ms`. */
export function waitForOutput(
  read: () => string,
  listeners: Set<() => void>,
  re: RegExp,
  ms: number,
  what: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(read());
      if (m) {
        listeners.delete(check);
        clearTimeout(t);
        resolve(m[0]);
      }
    };
    const t = setTimeout(() => {
      listeners.delete(check);
      reject(new Error(`timed out after ${ms} ms waiting for ${re} in ${what}:\n${read().slice(-4000)}`));
    }, ms);
    listeners.add(check);
    check();
  });
}
