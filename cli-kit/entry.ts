// Shared by the command-line tools (noc, loa-provision): run `main` only when the file is
// the process's entry module (also through an npm bin symlink), then exit once stdout
// has drained, so a piped report is complete and no leftover timer (a closed MQTT client,
// a serial port) keeps the operator waiting.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function isEntry(moduleUrl: string): boolean {
  const argv1 = process.argv[1];
  if (!argv1) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

export function runIfEntry(
  moduleUrl: string,
  tool: string,
  main: (argv: string[]) => Promise<number>,
  failCode = 1,
): void {
  if (!isEntry(moduleUrl)) return;
  main(process.argv.slice(2)).then(
    (code) => process.stdout.write('', () => process.exit(code)),
    (err: unknown) => {
      process.stderr.write(`${tool}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(failCode);
    },
  );
}
