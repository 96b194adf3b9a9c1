#!/usr/bin/env node
// `npm start`: the agent on its embedded default, with no setup (demo/demo.ts): an
// in-process broker, the simulated board, and a centre that prints what the box sends.
// The agent itself runs exactly as loa-agent runs it (agent/main.ts runAgent).
import { isEntry } from '../cli-kit/entry.js';
import { exitWhenDone, runAgent } from '../agent/run.js';
import { createTerminal } from './terminal.js';
import { startDemo } from './demo.js';

async function main(): Promise<number> {
  // The log and the demo's blocks on one channel, in the order they happen (agent/log.ts).
  const { log, text } = createTerminal();
  const demo = await startDemo(log, { out: text });
  return runAgent({ config: demo.config, log, afterStop: () => demo.stop() });
}

if (isEntry(import.meta.url)) exitWhenDone(main(), 'loa-demo');
