#!/usr/bin/env node
// `loa-provision`: the field technician's tool, from a blank box to a registered,
// tested speaker. One subcommand per file; this file only dispatches, picks the language
// every subcommand speaks (`--lang vi|en` anywhere on the line, else LANG / LC_ALL, else
// English), and turns errors into one message, the lines under it, and an exit code
// (cli-kit/errors.ts EXIT).
import { pickLang, type Lang, type MessageKey } from '../contract/messages.js';
import { CliError, errorMessage, EXIT, runIfEntry } from '../cli-kit/index.js';
import type { CheckDeps } from './check.js';
import type { InitDeps } from './init.js';
import { makeUi, processIo, type CliIo, type Ui } from './io.js';
import type { LogsDeps } from './logs.js';
import { PromptAborted } from './prompt.js';
import { msg } from './text.js';
import type { RegisterDeps } from './register.js';
import type { ShowDeps } from './show.js';

/** Test seams (the clock-sync files, the agent user, timers, systemctl, journalctl); the CLI itself passes none. */
export type Deps = InitDeps & CheckDeps & RegisterDeps & ShowDeps & LogsDeps;

type Sub = (argv: string[], ui: Ui, deps: Deps) => Promise<number>;

// Each subcommand is loaded when run: `init` on a Pi does not pay for mqtt.js and
// serialport, and `--help` answers at once over a slow link.
const SUBCOMMANDS: Record<string, { run: Sub; summary: MessageKey }> = {
  init: { run: async (a, ui, d) => (await import('./init.js')).initCommand(a, ui, d), summary: 'cli.sum.init' },
  check: { run: async (a, ui, d) => (await import('./check.js')).checkCommand(a, ui, d), summary: 'cli.sum.check' },
  register: {
    run: async (a, ui, d) => (await import('./register.js')).registerCommand(a, ui, d),
    summary: 'cli.sum.register',
  },
  show: { run: async (a, ui, d) => (await import('./show.js')).showCommand(a, ui, d), summary: 'cli.sum.show' },
  logs: { run: async (a, ui, d) => (await import('./logs.js')).logsCommand(a, ui, d), summary: 'cli.sum.logs' },
  'page-password': {
    run: async (a, ui) => (await import('./page-password.js')).pagePasswordCommand(a, ui),
    summary: 'cli.sum.pagePassword',
  },
};

/** The top-level usage in `lang`. */
export function usage(lang: Lang = 'en'): string {
  const t = (k: MessageKey) => msg(k)(lang);
  return `loa-provision <command> [options]   (loa-provision <command> --help)

${Object.entries(SUBCOMMANDS)
  .map(([name, s]) => `  ${name.padEnd(9)} ${t(s.summary)}`)
  .join('\n')}

${t('cli.usage.lang')}
${t('cli.usage.order')}
${t('cli.usage.exit')}`;
}

export const USAGE = usage('en');

/**
 * `--lang X` / `--lang=X` taken out of the command line (before a `--`), so that every
 * subcommand takes it; undefined when not given, '' when given without a value.
 */
export function takeLang(argv: readonly string[]): { lang: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let lang: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--lang') {
      const v = argv[i + 1];
      const given = v !== undefined && !v.startsWith('-');
      lang = given ? v : '';
      if (given) i++;
    } else if (a.startsWith('--lang=')) lang = a.slice('--lang='.length);
    else rest.push(a);
  }
  return { lang, rest };
}

export async function main(argv: string[], io: CliIo = processIo(), deps: Deps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const taken = takeLang(argv);
  if (taken.lang !== undefined && taken.lang !== 'vi' && taken.lang !== 'en') {
    // Said in the language the environment asks for: the one given is not one.
    const said = makeUi(io, { lang: pickLang(undefined, env, 'en') });
    said.err(taken.lang === '' ? said.t('cli.lang.missing') : said.t('cli.lang.bad', { lang: taken.lang }));
    return EXIT.USAGE;
  }
  const lang = pickLang(taken.lang, env, 'en');
  const [name, ...rest] = taken.rest;
  const ui = makeUi(io, { ascii: rest.includes('--ascii'), lang });
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? ui.err : ui.out)(usage(lang));
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (!sub) {
    ui.err(ui.t('cli.unknown', { name, names: Object.keys(SUBCOMMANDS).join(', ') }));
    return EXIT.USAGE;
  }
  try {
    return await sub.run(rest, ui, deps);
  } catch (err) {
    if (err instanceof PromptAborted) {
      ui.err(`\nloa-provision ${name}: ${ui.t(err.why === 'interrupted' ? 'cli.interrupted' : 'cli.inputEnded')}`);
      return err.why === 'interrupted' ? EXIT.ABORTED : EXIT.FAIL;
    }
    if (err instanceof CliError) {
      ui.err(`loa-provision ${name}: ${err.message}`);
      for (const l of err.lines) ui.err(l);
      return err.exitCode;
    }
    ui.err(`loa-provision ${name}: ${ui.t('cli.unexpected', { error: errorMessage(err) })}`);
    if (process.env.LOA_DEBUG) ui.err((err as Error).stack ?? '');
    return EXIT.FAIL;
  }
}

runIfEntry(import.meta.url, 'loa-provision', (argv) => main(argv), EXIT.FAIL);
