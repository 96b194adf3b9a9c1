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
  for (const d of made) rmSync(d, { recursive: true, force: true });
});
