// `loa-provision page-password`: sets the password of the technician's page on the box
// (agent/runtime/page.ts) and turns the page on. The password is stored only as an scrypt
// hash in the configuration (`page.passwordHash`); the agent reads it at start, so restart
// it after. `--disable` turns the page off and forgets the hash.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../agent/config.js';
import { hashPassword } from '../contract/web-auth.js';
import { CliError, EXIT, parseArgs, positionals, UsageError } from '../cli-kit/index.js';
import { agentAccount } from './files.js';
import { commitConfig } from './init.js';
import type { Ui } from './io.js';
import { Prompter } from './prompt.js';

export const PAGE_PASSWORD_HELP = `loa-provision page-password [--config ${DEFAULT_CONFIG_PATH}] [--password-stdin] [--port 8080] [--interfaces eth0,wlan0] [--disable]

Sets the password of the page the box serves for the technician's phone, and turns the
page on (page.enabled). Asked twice on a terminal; --password-stdin reads one line (for
scripts). At least 8 characters. Only its scrypt hash is written to the configuration.
The page listens on --interfaces only (default eth0, end0, wlan0: never the 4G bearer).
Restart the agent after: sudo systemctl restart loa-agent.
--disable turns the page off and removes the hash.
--lang vi|en: the language of the prompts and lines (default: from LANG / LC_ALL, else
English).`;

const OPTIONS = {
  config: { kind: 'string' },
  'password-stdin': { kind: 'boolean' },
  port: { kind: 'string' },
  interfaces: { kind: 'string' },
  disable: { kind: 'boolean' },
  ascii: { kind: 'boolean' },
} as const;

export const MIN_PASSWORD = 8;

export async function pagePasswordCommand(argv: string[], ui: Ui, deps: { now?: () => Date } = {}): Promise<number> {
  const { opts: f, positional, help } = parseArgs(argv, OPTIONS, 'loa-provision page-password', { repeated: 'last' });
  positionals(positional, [], 'loa-provision page-password');
  if (help) {
    ui.out(PAGE_PASSWORD_HELP);
    return EXIT.OK;
  }
  const configPath = resolve(f.config ?? DEFAULT_CONFIG_PATH);
  let draft: Record<string, unknown>;
  try {
    draft = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`${configPath}: ${(err as Error).message}`, EXIT.CONFIG, [ui.t('pw.initFirst')]);
  }
  const page = { ...((draft.page as Record<string, unknown> | undefined) ?? {}) };
  if (f.disable) {
    delete page.passwordHash;
    page.enabled = false;
  } else {
    const password = await readPassword(ui, f['password-stdin'] === true);
    page.enabled = true;
    page.passwordHash = hashPassword(password);
    if (f.port !== undefined) {
      const port = Number(f.port);
      if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new UsageError(ui.t('pw.port', { port: f.port }));
      page.port = port;
    }
    if (f.interfaces !== undefined)
      page.interfaces = f.interfaces
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  }
  const now = (deps.now ?? (() => new Date()))();
  const backup = commitConfig(configPath, { ...draft, page }, now, agentAccount(), ui.lang);
  ui.out(
    f.disable
      ? ui.t('pw.off', { path: configPath })
      : ui.t('pw.set', {
          path: configPath,
          interfaces: ((page.interfaces as string[] | undefined) ?? ['eth0', 'end0', 'wlan0']).join(', '),
          port: String(page.port ?? 8080),
        }),
  );
  if (backup) ui.out(ui.t('pw.backup', { path: backup }));
  ui.out(ui.t('pw.restart'));
  return EXIT.OK;
}

async function readPassword(ui: Ui, fromStdin: boolean): Promise<string> {
  const p = new Prompter(ui);
  try {
    const first = fromStdin ? await p.ask('') : await p.ask(ui.t('pw.ask'), { secret: true });
    if (first.length < MIN_PASSWORD) throw new CliError(ui.t('pw.short', { n: MIN_PASSWORD }), EXIT.FAIL);
    if (!fromStdin && (await p.ask(ui.t('pw.again'), { secret: true })) !== first)
      throw new CliError(ui.t('pw.differ'), EXIT.FAIL);
    return first;
  } finally {
    p.close();
  }
}
