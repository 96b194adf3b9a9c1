import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];

/** A fresh directory under the system temp dir, removed when the test process exits. */
export function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `loa-test-${tag}-`));
  made.push(d);
  return d;
}

process.on('exit', () => {
  if (process.env.LOA_KEEP_TMP) return;
  for (const d of made) {
    try {
      rmSync(d, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      // A leftover temporary directory is not a failed test: say so and go on.
      process.stderr.write(`tmp: ${d} not removed: ${(err as Error).message}\n`);
    }
  }
});
