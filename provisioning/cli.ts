#!/usr/bin/env node
// `loa-provision`: the field technician's tool, from a blank box to a registered,
// tested speaker. One subcommand per file; this file only dispatches and turns errors
// into one message, the lines under it, and an exit code (cli-kit/errors.ts EXIT).
import { CliError, errorMessage, EXIT, runIfEntry } from '../cli-kit/index.js';
import type { CheckDeps } from './check.js';
import type { InitDeps } from './init.js';
import { makeUi, processIo, type CliIo, type Ui } from './io.js';
import type { LogsDeps } from './logs.js';
import { PromptAborted } from './prompt.js';
import type { RegisterDeps } from './register.js';
import type { ShowDeps } from './show.js';

/** Test seams (the clock-sync files, the agent user, timers, systemctl, journalctl); the CLI itself passes none. */
export type Deps = InitDeps & CheckDeps & RegisterDeps & ShowDeps & LogsDeps;

type Sub = (argv: string[], ui: Ui, deps: Deps) => Promise<number>;

// Each subcommand is loaded when run: `init` on a Pi does not pay for mqtt.js and
// serialport, and `--help` answers at once over a slow link.
const SUBCOMMANDS: Record<string, { run: Sub; summary: string }> = {
  init: {
    run: async (a, ui, d) => (await import('./init.js')).initCommand(a, ui, d),
    summary: 'ask (or take flags for) identity, site, broker, keys, hardware; write the config, key and CSR',
  },
  check: {
    run: async (a, ui, d) => (await import('./check.js')).checkCommand(a, ui, d),
    summary: 'self-test checklist: config, trusted keys, clock, disk, DNS, broker, IO board, FM, tone, cache',
  },
  register: {
    run: async (a, ui, d) => (await import('./register.js')).registerCommand(a, ui, d),
    summary: "publish the box's identity to the centre; confirm the running agent uses this configuration",
  },
  show: {
    run: async (a, ui, d) => (await import('./show.js')).showCommand(a, ui, d),
    summary: "identity, key fingerprint, config summary, the agent's live state and its last refusals",
  },
  logs: {
    run: async (a, ui, d) => (await import('./logs.js')).logsCommand(a, ui, d),
    summary: "the agent's journal, one readable line per event (-n 50, -f to follow)",
  },
  'page-password': {
    run: async (a, ui) => (await import('./page-password.js')).pagePasswordCommand(a, ui),
    summary: "set the password of the box's page for the technician's phone (and turn it on)",
  },
};

export const USAGE = `loa-provision <command> [options]   (loa-provision <command> --help)

${Object.entries(SUBCOMMANDS)
  .map(([name, s]) => `  ${name.padEnd(9)} ${s.summary}`)
  .join('\n')}

Order on a box: init, check (agent stopped), start the agent, register.
Exit codes: 0 ok, 1 a check or step failed, 64 bad command line, 78 invalid configuration.`;

export async function main(argv: string[], io: CliIo = processIo(), deps: Deps = {}): Promise<number> {
  const [name, ...rest] = argv;
  const ui = makeUi(io, { ascii: rest.includes('--ascii') });
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? ui.err : ui.out)(USAGE);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (!sub) {
    ui.err(`loa-provision: unknown command "${name}" (one of ${Object.keys(SUBCOMMANDS).join(', ')})`);
    return EXIT.USAGE;
  }
  try {
    return await sub.run(rest, ui, deps);
  } catch (err) {
    if (err instanceof PromptAborted) {
      ui.err(`\nloa-provision ${name}: ${err.message}`);
      return err.why === 'interrupted' ? EXIT.ABORTED : EXIT.FAIL;
    }
    if (err instanceof CliError) {
      ui.err(`loa-provision ${name}: ${err.message}`);
      for (const l of err.lines) ui.err(l);
      return err.exitCode;
    }
    ui.err(`loa-provision ${name}: unexpected error: ${errorMessage(err)}`);
    if (process.env.LOA_DEBUG) ui.err((err as Error).stack ?? '');
    return EXIT.FAIL;
  }
}

runIfEntry(import.meta.url, 'loa-provision', (argv) => main(argv), EXIT.FAIL);
