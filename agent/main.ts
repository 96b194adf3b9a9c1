#!/usr/bin/env node
// Composition root: read the command line and config, build the logger and the agent,
// handle signals. Exit codes follow sysexits.h: 78 for a bad config, 70 for a crash.
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH, loadConfig, ConfigError, type Config } from './config.js';
import { EXIT, errorCode } from './errors.js';
import { createLogger } from './log.js';
import { Agent } from './runtime/agent.js';
import { AGENT_VERSION } from './version.js';
import type { Demo } from './demo.js';

const USAGE = `usage: loa-agent [--config PATH] [--check-config] [--demo] [--version]

  --config PATH    agent configuration (default ${DEFAULT_CONFIG_PATH})
  --check-config   validate the configuration, print the result and exit
  --demo           run against an embedded broker with the simulated board (npm start)
`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'boolean' },
        demo: { type: 'boolean' },
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

  let log = createLogger();
  let demo: Demo | undefined;
  let config: Config;
  try {
    if (args.demo && !args.config) {
      // Loaded only for the demo: a box never carries the embedded broker in memory.
      const { startDemo } = await import('./demo.js');
      demo = await startDemo(log);
      config = demo.config;
    } else {
      config = loadConfig(args.config ?? DEFAULT_CONFIG_PATH);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`loa-agent: configuration error (${err.code}) in ${args.config ?? DEFAULT_CONFIG_PATH}:\n`);
      for (const p of err.problems) process.stderr.write(`  ${p}\n`);
      return EXIT.CONFIG;
    }
    throw err;
  }
  if (args['check-config']) {
    process.stdout.write(`configuration OK: device ${config.deviceId}, broker ${config.mqtt.url}\n`);
    await demo?.stop();
    return EXIT.OK;
  }
  if (config.log.level !== 'info') log = createLogger({ level: config.log.level });

  const crash = (err: unknown) => {
    log.fatal({ code: errorCode(err), err }, 'uncaught error; exiting so systemd restarts the agent');
    process.exit(EXIT.SOFTWARE);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  const agent = new Agent({ config, log });
  await agent.start();
  return await new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      agent
        .stop()
        .then(() => demo?.stop())
        .then(
          () => resolve(EXIT.OK),
          (err: unknown) => {
            log.error({ code: errorCode(err), err }, 'error while stopping');
            resolve(EXIT.SOFTWARE);
          },
        );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // pino may still flush; let the event loop drain instead of process.exit().
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`loa-agent: fatal (${errorCode(err)}): ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(EXIT.SOFTWARE);
  },
);
