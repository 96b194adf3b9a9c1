#!/usr/bin/env node
// loa-agent: read the command line and the config, then run the agent (run.ts: the
// composed Agent with signals, lifecycle commands and systemd's notify and watchdog).
// Exit codes follow sysexits.h: 78 for a bad config, 70 for a crash. The local demo
// (`npm start`, demo/main.ts) runs the same runAgent without this command line.
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH, loadConfig, ConfigError, type Config } from './config.js';
import { EXIT } from './errors.js';
import { createLogger } from './log.js';
import { AGENT_VERSION } from '../contract/version.js';
import { exitWhenDone, runAgent } from './run.js';

const USAGE = `usage: loa-agent [--config PATH] [--check-config] [--version]

  --config PATH    agent configuration (default ${DEFAULT_CONFIG_PATH})
  --check-config   validate the configuration, print the result and exit

The local demo (embedded broker, simulated board) is \`npm start\` (demo/main.ts).
`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 64; // EX_USAGE
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (args.version) {
    process.stdout.write(`${AGENT_VERSION}\n`);
    return EXIT.OK;
  }

  let config: Config;
  try {
    config = loadConfig(args.config ?? DEFAULT_CONFIG_PATH);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`loa-agent: configuration error (${err.code}) in ${args.config ?? DEFAULT_CONFIG_PATH}:\n`);
      for (const p of err.problems) process.stderr.write(`  ${p}\n`);
      return EXIT.CONFIG;
    }
    throw err;
  }
  if (args['check-config']) {
    // Also what an update asks of a new release before switching to it (docs/ota.md): that
    // its native module loads on this machine (a release built for another architecture fails here).
    try {
      const { default: Database } = await import('better-sqlite3');
      new Database(':memory:').prepare('SELECT 1').get();
    } catch (err) {
      process.stderr.write(
        `loa-agent: the SQLite native module does not load on this machine: ${(err as Error).message}\n`,
      );
      return EXIT.SOFTWARE;
    }
    process.stdout.write(`configuration OK: device ${config.deviceId}, broker ${config.mqtt.url}\n`);
    // It runs (the demo does), but refuses whatever no trusted key may sign; loa-provision check fails on it.
    const { DEFAULT_KEY_ROLES } = await import('../contract/verify.js');
    const can = (role: 'schedule' | 'command') =>
      config.trustedKeys.some((k) => (k.roles ?? DEFAULT_KEY_ROLES).includes(role));
    const gaps = [can('schedule') ? '' : 'schedules', can('command') ? '' : 'commands'].filter(Boolean);
    if (gaps.length > 0)
      process.stderr.write(
        `loa-agent: warning: no trusted key may sign ${gaps.join(' or ')}: every one will be refused (trustedKeys; loa-provision init --trusted-key)\n`,
      );
    return EXIT.OK;
  }
  return runAgent({
    config,
    log: createLogger({ level: config.log.level }),
    configPath: args.config ?? DEFAULT_CONFIG_PATH,
  });
}

// The process's entry, also when a release's main.js wraps this module and imports it.
exitWhenDone(main(process.argv.slice(2)), 'loa-agent');
