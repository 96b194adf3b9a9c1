// The small pieces the composition graph is made of (agent/compose/):
// - Step: one thing the agent starts and, in reverse order, stops (services.ts lists them);
// - late(): a holder for a real cycle between services (A calls B and B calls A): one side
//   is built first and reaches the other through the holder, set once the other exists.
//   Reading it before then throws, where a closure over a variable declared further down
//   would have read `undefined` (or worked by luck of the order);
// - once(): the agent's stop, run a single time however often it is asked for.

/** One thing the agent starts (in the graph's order) and stops (in reverse). */
export interface Step {
  name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** The half of a step that has nothing to do (a port is built ready; a log line needs no undoing). */
export const none = (): void => undefined;

export interface Late<T> {
  set(value: T): void;
  get(): T;
}

/** A value that exists later than its first users are built; `get()` before `set()` throws. */
export function late<T>(name: string): Late<T> {
  let box: { value: T } | null = null;
  return {
    set(value) {
      if (box) throw new Error(`${name}: set twice`);
      box = { value };
    },
    get() {
      if (!box) throw new Error(name);
      return box.value;
    },
  };
}

/** `fn` on the first call; every later call returns the first call's result. */
export function once<T>(fn: () => T): () => T {
  let box: { value: T } | null = null;
  return () => (box ??= { value: fn() }).value;
}
