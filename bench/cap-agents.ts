// `npx tsx bench/cap-agents.ts` (not in `npm run bench`: ~3 minutes, mostly audio playing):
// issue 16's "CAP message received by `noc cap` → audio out on a box", both halves
// together. A CAP file handed to `noc cap` (in-process, one MQTT connection per alert,
// --state, --media-dir served over HTTP) → signed play on the group topic → a real agent
// process verifies it, fetches and checks the media, and mpg123 (output "paced": decoding
// at real-time rate, no sound card) starts: the box's play.started event, emitted when the
// player reports audio out. p50/p99 over N alerts (default 20) with an audio resource (a
// distinct 2 s, 128 kbit/s MP3 each, SHA-1 checked by noc cap, sha256 by the box) and N
// text-only Vietnamese alerts (espeak-ng + lame at the centre). Each alert is Extreme +
// Immediate (priority 100, the emergency path) and plays once; the next is sent after the
// previous finished. bench/cap.ts is the centre half alone.
import { readFileSync } from 'node:fs';
import { startBroker } from '../test/helpers/broker.js';
import { makeTone } from '../test/helpers/audio.js';
import { capTime, capXml } from '../test/helpers/cap.js';
import { sha1, startCapFleet } from '../test/helpers/cap-fleet.js';

const N = Number(process.env.CAP_BENCH_N ?? 20);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const MAPPING = {
  languages: ['vi', 'en'],
  geocodes: { 'VN-ADM3': { '26734': ['c26734'] } },
  groups: { c26734: {} },
  events: { '*': { count: 1 } },
};

const broker = await startBroker();
const fleet = await startCapFleet(broker, {
  mapping: MAPPING,
  minRepeatS: 60,
  boxes: [{ name: 'bench', groups: ['c26734'] }],
});
const box = fleet.boxes[0]!;

interface Sample {
  centre: number;
  total: number;
}

async function one(i: number, textOnly: boolean): Promise<Sample> {
  const id = `BENCH-E2E-${textOnly ? 'T' : 'A'}-${i}`;
  let resources: { uri: string; size: number; digest: string }[] = [];
  if (!textOnly) {
    const tone = readFileSync(makeTone({ seconds: 2, freq: 300 + 10 * i }));
    fleet.serve(`/audio/${id}.mp3`, tone);
    resources = [{ uri: `${fleet.base}/audio/${id}.mp3`, size: tone.length, digest: sha1(tone) }];
  }
  const xml = capXml({
    identifier: id,
    sent: capTime(Date.now() - 1000),
    infos: [
      {
        event: 'Lũ quét',
        headline: `Cảnh báo lũ quét số ${i}`,
        ...(textOnly ? { description: 'Người dân vùng trũng di chuyển đến nơi an toàn ngay.' } : {}),
        resources,
      },
    ],
  });
  const t0 = Date.now();
  const r = await fleet.cap(id, xml);
  if (r.code !== 0) throw new Error(`noc cap exit ${r.code} for ${id}:\n${r.out}`);
  const centre = Date.now() - t0;
  const started = await fleet.watcher.waitUntil(
    () => fleet.events(box, 'play.started', id)[0],
    30_000,
    `${id} started`,
  );
  const end = await fleet.watcher.waitUntil(
    () => fleet.events(box, undefined, id).find((e) => e.type !== 'play.started'),
    60_000,
    `${id} ended`,
  );
  if (end.type !== 'play.finished') throw new Error(`${id}: ${JSON.stringify(end)}`);
  return { centre, total: Date.parse(started.ts) - t0 };
}

const rows: string[] = [];
try {
  for (const textOnly of [false, true]) {
    await one(999, textOnly); // warm-up (module loading, first TTS run, the box's first fetch)
    const s: Sample[] = [];
    for (let i = 0; i < N; i++) s.push(await one(i, textOnly));
    const f = (xs: number[]) => `p50 ${pct(xs, 50)} ms, p99 ${pct(xs, 99)} ms, max ${Math.max(...xs)} ms`;
    rows.push(
      `| ${textOnly ? 'text only (espeak-ng + lame)' : 'audio resource (2 s MP3, 32 KB)'} | ${N} | ${f(s.map((x) => x.centre))} | ${f(s.map((x) => x.total))} |`,
    );
  }
} finally {
  await fleet.close();
  await broker.close();
}
console.log(
  '| CAP file → | n | signed play acknowledged by the broker (noc cap returns) | audio out on the box (play.started, mpg123 paced) |',
);
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
process.exit(0);
