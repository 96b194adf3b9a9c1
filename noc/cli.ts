#!/usr/bin/env node
// `noc`: the centre's command-line tool for the loa boxes (docs/protocol.md: keys and
// signed documents, publishing, commands, the fleet table, the event archive and proof
// of play, and a fleet simulator). One subcommand per file; this file only dispatches
// and turns errors into one line and an exit code (cli-kit/errors.ts). A subcommand's
// module is loaded when it runs: `noc send` does not parse the CAP reader, the exporter
// and the simulator (measured: `noc --help` 0.55 CPU-s with every module loaded at start).
import { CliError, errorMessage, EXIT, runIfEntry } from '../cli-kit/index.js';
import { processIo, type Io } from './io.js';

type Sub = (argv: string[], io: Io) => Promise<number>;

const SUBCOMMANDS: Record<string, { run: Sub; summary: string }> = {
  keys: {
    run: async (a, io) => (await import('./keys.js')).keysCommand(a, io),
    summary: 'generate an Ed25519 signing key; print its trustedKeys entry',
  },
  sign: {
    run: async (a, io) => (await import('./sign.js')).signCommand(a, io),
    summary: 'validate a schedule or command and sign it (JWS)',
  },
  publish: {
    run: async (a, io) => (await import('./publish.js')).publishCommand(a, io),
    summary: 'publish a signed schedule (retained) or command to a box or group',
  },
  send: {
    run: async (a, io) => (await import('./send.js')).sendCommand(a, io),
    summary: 'send a command and wait for its result(s)',
  },
  watch: {
    run: async (a, io) => (await import('./watch.js')).watchCommand(a, io),
    summary: 'live table of the fleet: online, heartbeat, state, faults',
  },
  events: {
    run: async (a, io) => (await import('./events.js')).eventsCommand(a, io),
    summary:
      'archive events in SQLite or PostgreSQL; "events export" writes proof of play CSV, "events retention" drops old months',
  },
  exporter: {
    run: async (a, io) => (await import('./exporter.js')).exporterCommand(a, io),
    summary: 'serve the fleet as Prometheus metrics on /metrics',
  },
  release: {
    run: async (a, io) => (await import('./release.js')).releaseCommand(a, io),
    summary: 'sign a release manifest for npm run release tarballs (and deltas)',
  },
  rollout: {
    run: async (a, io) => (await import('./rollout.js')).rolloutCommand(a, io),
    summary: 'update a group to a signed release, in stages; stops when a stage fails',
  },
  simulate: {
    run: async (a, io) => (await import('./simulate.js')).simulateCommand(a, io),
    summary: 'run N simulated boxes',
  },
  cap: {
    run: async (a, io) => (await import('./cap/command.js')).capCommand(a, io),
    summary: 'CAP 1.2 alerts (file, URL, Atom/RSS feed) -> signed play/cancel commands',
  },
  live: {
    run: async (a, io) => (await import('./live.js')).liveCommand(a, io),
    summary: 'speak to a device or groups now: signed Opus chunks, recorded',
  },
  studio: {
    run: async (a, io) => (await import('./studio.js')).studioCommand(a, io),
    summary: 'the live-broadcast page for phones (HTTPS, operators with passwords)',
  },
  tts: {
    run: async (a, io) => (await import('./cap/tts-command.js')).ttsCommand(a, io),
    summary: 'text -> MP3 with the configured engine, issue time first',
  },
};

export const USAGE = `noc <command> [options]   (noc <command> --help for its options)

${Object.entries(SUBCOMMANDS)
  .map(([name, s]) => `  ${name.padEnd(9)} ${s.summary}`)
  .join('\n')}

Exit codes: 0 success, 1 failure, 3 timeout (no answer), 64 usage error.`;

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    (name === undefined ? io.err : io.out)(USAGE);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  const sub = Object.hasOwn(SUBCOMMANDS, name) ? SUBCOMMANDS[name] : undefined;
  if (!sub) {
    io.err(`noc: unknown command "${name}" (one of ${Object.keys(SUBCOMMANDS).join(', ')}; see noc --help)`);
    return EXIT.USAGE;
  }
  try {
    return await sub.run(rest, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`noc ${name}: ${err.message}`);
      for (const l of err.lines) io.err(l);
      return err.exitCode;
    }
    io.err(`noc ${name}: unexpected error: ${errorMessage(err)}`);
    if (process.env.NOC_DEBUG) io.err((err as Error).stack ?? '');
    return 1;
  }
}

runIfEntry(import.meta.url, 'noc', (argv) => main(argv), 1);
