// `npm run bench -- store`: a dying SD card (contract v1.1 §2.1, §7 `store.reset`) on
// the built agent with a real Mosquitto. One state directory is made by a real run (a
// signed document accepted, not retained on the broker, so the plan can only come from
// the box's own state; a clean stop). Each run starts from a copy of it:
//   corrupt: the first 100 bytes of loa.db (the SQLite header) overwritten;
//   anchor:  the copy untouched, a normal restart;
// and measures process spawn -> the live birth on loa/v1/d/{id}/status whose `schedule`
// lists the document (the plan restored). Runs alternate, so load drift hits both.
import { cpSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startBroker } from '../test/helpers/broker.js';
import { Watcher } from '../test/helpers/watcher.js';
import { tempDir } from '../test/helpers/tmp.js';
import { makeKey, sign, scheduleDoc } from '../test/helpers/signer.js';
import { writeConfig } from '../test/helpers/agent-process.js';
import { boxConfig } from '../test/helpers/box.js';
import { type Add, spawnDist, waitBirth, median, pct } from './agent-proc.js';
import { DEFAULT_ROOT } from '../contract/topics.js';
import { size } from './smoke.js';

const DEVICE = 'bench-store';
const ROOT = `${DEFAULT_ROOT}/d/${DEVICE}`;
const RUNS = size(5, 1, 'BENCH_STORE_RUNS');

export async function benchStore(add: Add): Promise<void> {
  const broker = await startBroker();
  const key = makeKey('bench-centre');
  const w = await Watcher.connect(broker.url, [`${ROOT}/status`, `${ROOT}/events`]);
  const config = (dir: string) => writeConfig(dir, boxConfig(broker, key, DEVICE, dir));
  try {
    // The state: one document in force (the warning, an hour from now), accepted live.
    const template = tempDir('store-template');
    const first = spawnDist(config(template));
    let code: number | null;
    try {
      await waitBirth(w, DEVICE, first);
      const doc = scheduleDoc({
        id: 'day',
        version: 2,
        target: { devices: [DEVICE] },
        items: [
          {
            id: 'warning',
            source: { kind: 'line' },
            at: new Date(Date.now() + 3_600_000).toISOString(),
            durationS: 1,
            priority: 100,
          },
        ],
      });
      const pub = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
      await pub.publishAsync(`${ROOT}/schedule`, await sign(doc, key), { qos: 1 });
      await pub.endAsync();
      await w.waitFor(
        (m) => m.topic.endsWith('/events') && m.json().type === 'schedule.accepted',
        10_000,
        'document accepted',
      );
    } finally {
      code = await first.stop();
    }
    if (code !== 0) throw new Error(`the first run exited ${code}`);

    const ms: Record<'corrupt' | 'anchor', number[]> = { corrupt: [], anchor: [] };
    let planKept = 0;
    let resets = 0;
    for (let i = 0; i < RUNS; i++) {
      for (const kind of ['corrupt', 'anchor'] as const) {
        const dir = tempDir(`store-${kind}`);
        cpSync(join(template, 'state'), join(dir, 'state'), { recursive: true });
        if (kind === 'corrupt') {
          const fd = openSync(join(dir, 'state', 'loa.db'), 'r+');
          writeSync(fd, Buffer.alloc(100, 0xa5), 0, 100, 0);
          closeSync(fd);
        }
        const a = spawnDist(config(dir));
        try {
          const birth = await waitBirth(w, DEVICE, a);
          ms[kind].push(birth.at - a.spawnedAt);
          const plan = JSON.stringify(birth.json().schedule);
          if (kind === 'corrupt') {
            if (plan === JSON.stringify([{ id: 'day', version: 2 }])) planKept++;
            const reset = await w.waitFor(
              (m) => m.at >= a.spawnedAt && m.topic.endsWith('/events') && m.json().type === 'store.reset',
              10_000,
              'store.reset',
            );
            if (reset.json().reason === 'corrupt') resets++;
          } else if (plan !== JSON.stringify([{ id: 'day', version: 2 }])) {
            throw new Error(`a normal restart lost the plan: ${plan}`);
          }
        } finally {
          await a.stop();
        }
      }
    }
    const c = median(ms.corrupt);
    const n = median(ms.anchor);
    add(
      `store: corrupt loa.db header -> birth with the plan restored, median of ${RUNS}`,
      `${c} ms (max ${pct(ms.corrupt, 99)}; plan in birth ${planKept}/${RUNS}, store.reset corrupt ${resets}/${RUNS}); anchor, normal restart: ${n} ms (max ${pct(ms.anchor, 99)}); ratio ${(c / n).toFixed(2)}`,
      'plan kept, store.reset sent',
      planKept === RUNS && resets === RUNS,
    );
  } finally {
    await w.close();
    await broker.close();
  }
}
