// One bounded wait for the command-line tools: a promise, or an error that says what
// did not answer in time (with a `code` the caller can explain, e.g. EAI_AGAIN for DNS).
export function withTimeout<T>(p: Promise<T>, ms: number, code = 'ETIMEDOUT', what = 'no answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`${what} within ${ms} ms`), { code })), ms);
    }),
  ]);
}
