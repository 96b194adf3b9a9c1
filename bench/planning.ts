// `npm run bench -- planning`: the largest legal plan (contract v1.1 §3: 1,440
// occurrences a day per document) on the device topic and both group topics of the
// built agent, against a real Mosquitto. Measured from outside the agent:
// - accepting one such document (publish -> the agent's schedule.accepted `ts`);
// - start-up to birth with the three documents in the box's state (retained on the
//   broker too, as in the field), against the same start with no documents;
// - the event-loop delay (perf_hooks histogram, 5 ms resolution, preloaded with
//   NODE_OPTIONS=--require bench/loop-delay.cjs) while the agent plans, on both starts.
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startBroker } from '../test/helpers/broker.js';
import { Watcher } from '../test/helpers/watcher.js';
import { tempDir } from '../test/helpers/tmp.js';
import { makeKey, sign, scheduleDoc } from '../test/helpers/signer.js';
import { writeConfig } from '../test/helpers/agent-process.js';
import {
  type Add,
  type DistAgent,
  LOOP_DELAY_PRELOAD,
  spawnDist,
  waitBirth,
  median,
  sleep,
  cpuTicks,
} from './agent-proc.js';
import { DEFAULT_ROOT, deviceTopic, fleetFilter, groupTopic } from '../contract/topics.js';
import { size } from './smoke.js';

const RUNS = size(5, 1, 'BENCH_PLAN_RUNS');
const ACCEPTS = size(5, 1, 'BENCH_PLAN_ACCEPTS');
/** After each publish: the window whose stalls and CPU are the plan's (it is built meanwhile). */
const AFTER_PUBLISH_MS = size(2000, 300);
/** After each birth: the window of the retained documents and the rest of the plan. */
const AFTER_BIRTH_MS = size(3000, 500);
const FULL = 'bench-plan';
const EMPTY = 'bench-plan-anchor';

interface LoopLine {
  origin: number;
  t: number;
  winMaxMs: number;
  maxMs: number;
  p99Ms: number;
  stalls: [number, number][];
}

/** The preload's lines: every stall (>= 10 ms in a 50 ms window) on the wall clock, and the final totals. */
function loopDelay(a: DistAgent): { stalls: { at: number; ms: number }[]; maxMs: number; p99Ms: number } {
  const lines = a
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('LOOPDELAY '))
    .map((l) => JSON.parse(l.slice(10)) as LoopLine);
  const last = lines.at(-1);
  if (!last) throw new Error(`no LOOPDELAY line from the agent; stderr: ${a.stderr().slice(-2000)}`);
  return {
    stalls: lines.flatMap((l) => l.stalls.map(([t, ms]) => ({ at: l.origin + t, ms }))),
    maxMs: last.maxMs,
    p99Ms: last.p99Ms,
  };
}

/** 24 items `0-59 H * * *`: once a minute all day, 1,440 occurrences, the cap. */
function fullDay(id: string, target: Record<string, unknown>, version: number) {
  const items = Array.from({ length: 24 }, (_, h) => ({
    id: `every-minute-h${h}`,
    source: { kind: 'line' },
    cron: `0-59 ${h} * * *`,
    durationS: 1,
    priority: 10,
  }));
  return scheduleDoc({ id, version, target, items });
}

export async function benchPlanning(add: Add): Promise<void> {
  const broker = await startBroker();
  const key = makeKey('bench-centre');
  const w = await Watcher.connect(broker.url, [
    fleetFilter(DEFAULT_ROOT, 'status'),
    fleetFilter(DEFAULT_ROOT, 'events'),
  ]);
  const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const env = { NODE_OPTIONS: `--require ${LOOP_DELAY_PRELOAD}` };
  const config = (deviceId: string, groups: string[]) => {
    const dir = tempDir(`plan-${deviceId}`);
    return writeConfig(dir, {
      deviceId,
      groups,
      mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1', reconnect: { minS: 1, maxS: 2 } },
      trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
      stateDir: join(dir, 'state'),
      cacheDir: join(dir, 'cache'),
      hardware: { ampWarmUpMs: 500, ampHoldMs: 200 },
      audio: { player: 'stand-in' },
      log: { level: 'warn' },
    });
  };
  const fullCfg = config(FULL, ['bench-g1', 'bench-g2']);
  const emptyCfg = config(EMPTY, ['bench-a1', 'bench-a2']);
  const docs = [
    { topic: deviceTopic(DEFAULT_ROOT, FULL, 'schedule'), doc: fullDay('plan-device', { devices: [FULL] }, 1) },
    { topic: groupTopic(DEFAULT_ROOT, 'bench-g1', 'schedule'), doc: fullDay('plan-g1', { groups: ['bench-g1'] }, 1) },
    { topic: groupTopic(DEFAULT_ROOT, 'bench-g2', 'schedule'), doc: fullDay('plan-g2', { groups: ['bench-g2'] }, 1) },
  ];
  const live: DistAgent[] = [];
  try {
    // 1. Accept documents into a running agent (retained: the broker keeps them), on the
    // device topic: a one-item document first (it warms the intake's code), then, in
    // turn, ACCEPTS times a document at the cap and a one-item one (the anchor: the same
    // intake, a plan of one occurrence). Then both group documents and the device one at
    // the cap again: the plan grows to 2,880 and 4,320 occurrences.
    const first = spawnDist(fullCfg, env);
    live.push(first);
    await waitBirth(w, FULL, first);
    await sleep(size(2000, 500)); // start-up settles: what follows is intake and planning only
    const small = (version: number) =>
      scheduleDoc({
        id: 'plan-device',
        version,
        target: { devices: [FULL] },
        items: [
          { id: 'one', source: { kind: 'line' }, at: new Date(Date.now() + 3_600_000).toISOString(), durationS: 1 },
        ],
      });
    const device = docs[0]!;
    type Step = { kind: 'cold' | 'big' | 'small' | 'grow'; topic: string; doc: Record<string, unknown> };
    const steps: Step[] = [{ kind: 'cold', topic: device.topic, doc: small(1) }];
    let v = 2;
    for (let i = 0; i < ACCEPTS; i++) {
      steps.push({ kind: 'big', topic: device.topic, doc: { ...device.doc, version: v++ } });
      steps.push({ kind: 'small', topic: device.topic, doc: small(v++) });
    }
    steps.push(
      { kind: 'grow', ...docs[1]! },
      { kind: 'grow', ...docs[2]! },
      { kind: 'grow', topic: device.topic, doc: { ...device.doc, version: v++ } },
    );
    const accept: { kind: Step['kind']; ms: number; from: number; to: number; cpuMs: number }[] = [];
    for (const { kind, topic, doc } of steps) {
      const jws = await sign(doc, key);
      const ticks = cpuTicks(first.proc.pid!);
      const from = Date.now();
      await pub.publishAsync(topic, jws, { qos: 1, retain: true });
      const ev = await w.waitFor(
        (m) =>
          m.topic === deviceTopic(DEFAULT_ROOT, FULL, 'events') &&
          m.json().type === 'schedule.accepted' &&
          m.json().docId === doc.id &&
          m.json().version === doc.version,
        20_000,
        `${String(doc.id)} v${String(doc.version)} accepted`,
      );
      await sleep(AFTER_PUBLISH_MS); // the plan is built meanwhile (~30 us an occurrence, in slices)
      accept.push({
        kind,
        ms: Date.parse(String(ev.json().ts)) - from,
        from,
        to: from + AFTER_PUBLISH_MS,
        cpuMs: (cpuTicks(first.proc.pid!) - ticks) * 10,
      });
    }
    await first.stop();
    live.length = 0;
    const ld = loopDelay(first);
    const during = (a: { from: number; to: number }) =>
      Math.max(0, ...ld.stalls.filter((s) => s.at >= a.from && s.at <= a.to).map((s) => s.ms));
    const fmt = (x: number) => (x === 0 ? '< 10' : String(x));
    const of = (k: Step['kind']) => accept.filter((a) => a.kind === k);
    const list = (xs: number[]) => `median ${fmt(median(xs))}, worst ${fmt(Math.max(...xs))}`;
    const grow = of('grow');
    add(
      `planning: accept a 1,440-occurrence document (publish -> schedule.accepted), ${ACCEPTS} tries`,
      `${list(of('big').map((a) => a.ms))} ms; anchor, a 1-item document: ${list(of('small').map((a) => a.ms))} ms; plan growing to 2,880 / 4,320: ${grow[1]!.ms} / ${grow[2]!.ms} ms`,
    );
    const bigStall = of('big').map(during);
    const worst = Math.max(...bigStall, ...grow.map(during));
    add(
      `planning: event-loop delay, worst stall within ${AFTER_PUBLISH_MS / 1000} s of each publish, same documents`,
      `${list(bigStall)} ms; anchor, 1-item document: ${list(of('small').map(during))} ms; plan growing to 2,880 / 4,320: ${fmt(during(grow[1]!))} / ${fmt(during(grow[2]!))} ms`,
      'max <= 20 ms',
      worst <= 20,
    );
    // CPU time does not grow when the machine is busy elsewhere, stalls do: the work behind them.
    add(
      `planning: agent CPU in the ${AFTER_PUBLISH_MS / 1000} s after each publish (USER_HZ ticks, 10 ms), same documents`,
      `${list(of('big').map((a) => a.cpuMs))} ms; anchor, 1-item document: ${list(of('small').map((a) => a.cpuMs))} ms; plan growing to 2,880 / 4,320: ${grow[1]!.cpuMs} / ${grow[2]!.cpuMs} ms`,
    );

    // 2. Start-up: the state holds the three documents (and the broker retains them) vs none.
    const prime = spawnDist(emptyCfg, env);
    live.push(prime);
    await waitBirth(w, EMPTY, prime);
    await prime.stop();
    live.length = 0;
    type Runs = {
      birthMs: number[];
      before: number[];
      after: number[];
      max: number[];
      p99: number[];
      plan: string[];
      cpuMs: number[];
    };
    const res: Record<'full' | 'empty', Runs> = {
      full: { birthMs: [], before: [], after: [], max: [], p99: [], plan: [], cpuMs: [] },
      empty: { birthMs: [], before: [], after: [], max: [], p99: [], plan: [], cpuMs: [] },
    };
    for (let i = 0; i < RUNS; i++) {
      for (const kind of ['full', 'empty'] as const) {
        const id = kind === 'full' ? FULL : EMPTY;
        const a = spawnDist(kind === 'full' ? fullCfg : emptyCfg, env);
        live.push(a);
        const birth = await waitBirth(w, id, a);
        res[kind].birthMs.push(birth.at - a.spawnedAt);
        res[kind].plan.push(JSON.stringify(birth.json().schedule));
        await sleep(AFTER_BIRTH_MS); // planning of 4,320 occurrences ends well within this
        res[kind].cpuMs.push(cpuTicks(a.proc.pid!) * 10);
        await a.stop();
        live.length = 0;
        const l = loopDelay(a);
        if (process.env.BENCH_DEBUG)
          process.stderr.write(
            `${kind} birth +${birth.at - a.spawnedAt} stalls ${l.stalls.map((s) => `+${Math.round(s.at - a.spawnedAt)}:${s.ms}`).join(' ')}\n`,
          );
        // Before birth: module loading, opening the store, the plan's first slices,
        // connecting. After it: the retained documents verified again, the rest of the
        // plan (the anchor is idle there).
        res[kind].before.push(Math.max(0, ...l.stalls.filter((s) => s.at <= birth.at).map((s) => s.ms)));
        res[kind].after.push(
          Math.max(0, ...l.stalls.filter((s) => s.at > birth.at && s.at <= birth.at + AFTER_BIRTH_MS).map((s) => s.ms)),
        );
        res[kind].max.push(l.maxMs);
        res[kind].p99.push(l.p99Ms);
      }
    }
    const planned = new Set(res.full.plan);
    if (planned.size !== 1 || !res.full.plan[0]!.includes('plan-g2'))
      throw new Error(`birth did not list the three documents: ${[...planned].join(' | ')}`);
    const bF = median(res.full.birthMs);
    const bE = median(res.empty.birthMs);
    add(
      `planning: start-up to birth, 3 documents x 1,440 occurrences in state, median of ${RUNS}`,
      `${bF} ms (min ${Math.min(...res.full.birthMs)}, max ${Math.max(...res.full.birthMs)}); anchor, no documents: ${bE} ms (min ${Math.min(...res.empty.birthMs)}, max ${Math.max(...res.empty.birthMs)}); ratio ${(bF / bE).toFixed(2)}`,
      '<= 2000 ms',
      Math.max(...res.full.birthMs) <= 2000,
    );
    const runs = (xs: number[]) => `median ${fmt(median(xs))}, worst ${fmt(Math.max(...xs))}`;
    add(
      `planning: start, worst stall spawn -> birth (modules, store, plan, connect), ${RUNS} runs`,
      `${runs(res.full.before)} ms; anchor, no documents: ${runs(res.empty.before)} ms`,
    );
    const afterWorst = Math.max(...res.full.after);
    add(
      `planning: start, worst stall in the ${AFTER_BIRTH_MS / 1000} s after birth (retained documents, rest of the plan), ${RUNS} runs`,
      `${runs(res.full.after)} ms; anchor, no documents (idle): ${runs(res.empty.after)} ms`,
      'max <= 20 ms',
      afterWorst <= 20,
    );
    add(
      `planning: start, agent CPU from spawn to birth + ${AFTER_BIRTH_MS / 1000} s, ${RUNS} runs`,
      `${runs(res.full.cpuMs)} ms; anchor, no documents: ${runs(res.empty.cpuMs)} ms; ratio of medians ${(median(res.full.cpuMs) / median(res.empty.cpuMs)).toFixed(2)}`,
    );
    add(
      `planning: start, whole-run loop-delay histogram (incl. module loading), ${RUNS} runs`,
      `max ${runs(res.full.max)}, p99 ${runs(res.full.p99)} ms; anchor: max ${runs(res.empty.max)}, p99 ${runs(res.empty.p99)} ms`,
    );
  } finally {
    for (const a of live) await a.stop();
    await pub.endAsync();
    await w.close();
    await broker.close();
  }
}
