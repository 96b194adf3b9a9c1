// The clock tests' box (docs/protocol.md §6, time without an RTC): the real agent process
// under libfaketime (test/helpers/faketime.ts) on the file's Mosquitto, its time service
// systemd-timesyncd's files in a run directory of the test's own ("NTP arrives" = the
// rig creates `synchronized`). Used by clock.test.ts (time services) and
// clock-bound.test.ts (the bound signed documents move). Registers the file's broker.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ROOT, topicsFor, Watcher, type Received } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign, scheduleDoc } from '../helpers/signer.js';
import { spawnAgent, writeConfig, type AgentProcess } from '../helpers/agent-process.js';
import { boxConfig, commandDoc, publishOnce } from '../helpers/box.js';
import { brokerForFile } from '../helpers/file-broker.js';
import { fakeTime, noFaketime, type FakeTime } from '../helpers/faketime.js';

export const key = makeKey('centre-2026');
export const files = brokerForFile();
export const HOUR = 3_600_000;
export const skip = noFaketime ?? false;

export interface Box {
  device: string;
  agent: AgentProcess;
  w: Watcher;
  T: ReturnType<typeof topicsFor>;
  dir: string;
  ft: FakeTime;
  runRoot: string;
  ntpArrives(): void;
  publishDoc(over: Record<string, unknown>): Promise<void>;
  events(type: string, itemId?: string): Record<string, unknown>[];
  heartbeat(pred: (clock: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>>;
  /** Resolves when the scheduler held an occurrence of `itemId` (its log line): it came due on an untrusted clock. */
  held(itemId: string, ms: number): Promise<void>;
  /** Resolves at a heartbeat after `after` (ms since epoch) with no next occurrence, and all before it received. */
  nothingNext(after: number): Promise<void>;
}

/** A box process whose wall clock is `offsetMs` off; `timesyncd`: the service runs, not yet synchronised. */
export async function boot(
  name: string,
  offsetMs: number,
  timesyncd: boolean,
  dir = tempDir(`clock-${name}`),
): Promise<Box> {
  const device = `clock-${name}-01`;
  const T = topicsFor(DEFAULT_ROOT, device, []);
  const runRoot = join(dir, 'run');
  if (timesyncd) mkdirSync(join(runRoot, 'systemd/timesync'), { recursive: true });
  else mkdirSync(runRoot, { recursive: true });
  const ft = fakeTime(dir, offsetMs);
  const cfg = writeConfig(
    dir,
    // Log level info: the scheduler's "occurrence held" line is what held() waits for.
    boxConfig(files.broker, key, device, dir, { clock: { sources: ['timesyncd'], runRoot }, log: { level: 'info' } }),
  );
  const w = await Watcher.connect(files.broker.url, [T.events, T.heartbeat, T.cmdResult, T.status]);
  const agent = spawnAgent(['--config', cfg], ft.env);
  const birth = await w.waitFor((m) => m.topic === T.status && m.json().online === true, 30_000, 'birth');
  const bootId = birth.json().bootId;
  const isEvent = (m: Received, type: string) => m.topic === T.events && m.json().type === type;
  return {
    device,
    agent,
    w,
    T,
    dir,
    ft,
    runRoot,
    ntpArrives() {
      ft.offset(0);
      mkdirSync(join(runRoot, 'systemd/timesync'), { recursive: true });
      writeFileSync(join(runRoot, 'systemd/timesync/synchronized'), '');
    },
    async publishDoc(over) {
      await publishOnce(
        files.broker.url,
        T.deviceSchedule,
        await sign(scheduleDoc({ id: `${name}-day`, target: { devices: [device] }, ...over }), key),
        true,
      );
      await w.waitFor((m) => isEvent(m, 'schedule.accepted'), 10_000, 'schedule.accepted');
    },
    events: (type, itemId) =>
      w.messages
        .filter((m) => isEvent(m, type) && (itemId === undefined || m.json().itemId === itemId))
        .map((m) => m.json()),
    async held(itemId, ms) {
      const line = new RegExp(`^(?=.*"itemId":"${itemId}")(?=.*occurrence held: the clock is not trusted).*$`, 'm');
      await agent.waitForLog(line, ms);
    },
    async nothingNext(after) {
      await w.waitFor(
        (m) => m.topic === T.heartbeat && m.at > after && m.json().bootId === bootId && m.json().next === null,
        15_000,
        'a heartbeat with nothing next',
      );
      await w.sync();
    },
    async heartbeat(pred, what) {
      const m = await w.waitFor(
        (x) => x.topic === T.heartbeat && x.json().bootId === bootId && pred(x.json().clock as Record<string, unknown>),
        30_000,
        what,
      );
      return m.json().clock as Record<string, unknown>;
    },
  };
}

/** SIGTERM, exit 0 within 15 s; a process that does not stop is killed and the test fails with its output. */
export async function shutdown(b: Box): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    b.agent.term(),
    new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), 15_000))),
  ]);
  clearTimeout(timer);
  await b.w.close();
  if (code === 'hung') {
    await b.agent.kill9();
    assert.fail(`the agent did not stop within 15 s of SIGTERM:\n${b.agent.output().slice(-3000)}`);
  }
  assert.equal(code, 0);
}

export const item = (id: string, at: number, durationS = 2) => ({
  id,
  source: { kind: 'line' },
  at: new Date(at).toISOString(),
  durationS,
});

/** Publish a signed command and wait for its `play.started` (ms from publish) and `play.finished`. */
export async function emergency(b: Box, args: Record<string, unknown>, what: string): Promise<number> {
  const cmd = commandDoc(b.device, 'play', { priority: 100, ...args });
  const sentAt = Date.now();
  await publishOnce(files.broker.url, b.T.deviceCmd, await sign(cmd, key, { typ: 'loa-command+json' }));
  const started = await b.w.waitFor(
    (m) => m.topic === b.T.events && m.json().type === 'play.started' && m.json().cmdId === cmd.id,
    30_000,
    `${what} play.started`,
  );
  await b.w.waitFor(
    (m) => m.topic === b.T.events && m.json().type === 'play.finished' && m.json().cmdId === cmd.id,
    15_000,
    `${what} play.finished`,
  );
  return started.at - sentAt;
}
