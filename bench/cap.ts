// `npx tsx bench/cap.ts`: the centre's half of "CAP message received → audio out on a
// box": from handing a CAP file to `noc cap` (in-process, one MQTT connection per
// alert as a one-shot run makes) to the signed play command arriving at a subscriber
// of the group's cmd topic, p50/p99 over 20 alerts with an audio resource (fetched over
// HTTP, SHA-1 checked) and 20 text-only alerts (espeak-ng + lame); and the real-time
// factor of the default TTS engine. The box half (command → audio out) is bench/commands.ts's.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker } from '../test/helpers/broker.js';
import { Watcher } from '../test/helpers/watcher.js';
import { tempDir } from '../test/helpers/tmp.js';
import { MAPPING_JSON, capTime, capXml } from '../test/helpers/cap.js';
import { memoryIo } from '../noc/io.js';
import { main } from '../noc/cli.js';
import { synthesise } from '../noc/cap/tts.js';

const N = Number(process.env.CAP_BENCH_N ?? 20);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;

const broker = await startBroker();
const dir = tempDir('bench-cap');
const audio = Buffer.alloc(480_000, 7); // 30 s of 128 kbit/s
const server = createServer((req, res) =>
  req.url === '/bao.mp3' ? res.writeHead(200, { 'content-type': 'audio/mpeg' }).end(audio) : res.writeHead(404).end(),
);
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
const io = memoryIo();
if ((await main(['keys', '--kid', 'bench', '--out', dir], io)) !== 0) throw new Error(io.stderr.join('\n'));
writeFileSync(join(dir, 'mapping.json'), JSON.stringify(MAPPING_JSON));
const w = await Watcher.connect(broker.url, [`loa/v1/g/+/cmd`]);

async function one(i: number, textOnly: boolean): Promise<number> {
  const id = `BENCH-${textOnly ? 'T' : 'A'}-${i}`;
  const xml = capXml({
    identifier: id,
    sent: capTime(Date.now() - 1000),
    infos: [
      {
        description: textOnly
          ? `Cảnh báo lũ quét số ${i}. Người dân vùng trũng di chuyển đến nơi an toàn ngay.`
          : undefined,
        resources: textOnly
          ? []
          : [{ uri: `${base}/bao.mp3`, size: audio.length, digest: createHash('sha1').update(audio).digest('hex') }],
      },
    ],
  });
  const f = join(dir, `${id}.xml`);
  writeFileSync(f, xml);
  const before = w.messages.length;
  const t0 = performance.now();
  const code = await main(
    [
      'cap',
      f,
      '--mapping',
      join(dir, 'mapping.json'),
      '--allow-private',
      '--key',
      join(dir, 'bench.key.pem'),
      '--broker',
      broker.url,
      '--media-dir',
      join(dir, 'media'),
      '--media-base-url',
      `${base}/media/`,
    ],
    memoryIo(),
  );
  if (code !== 0) throw new Error(`noc cap exit ${code} for ${id}`);
  await w.waitUntil(() => (w.messages.length > before ? true : undefined), 10_000, id);
  return performance.now() - t0;
}

for (const textOnly of [false, true]) {
  await one(999, textOnly); // warm-up (module loading, first TTS run)
  const ms: number[] = [];
  for (let i = 0; i < N; i++) ms.push(await one(i, textOnly));
  console.log(
    `${textOnly ? 'text-only (TTS)' : 'audio resource '}: CAP file -> signed play at a subscriber, n=${N}: p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`,
  );
}

const text =
  'Cảnh báo bão số 9. Bão đang tiến vào bờ với sức gió cấp 12, giật cấp 15. Người dân ven biển chằng chống nhà cửa, tàu thuyền không ra khơi, di chuyển đến nơi trú ẩn an toàn theo hướng dẫn của chính quyền địa phương.';
const rtf: number[] = [];
let last: Awaited<ReturnType<typeof synthesise>> | undefined;
for (let i = 0; i < 5; i++) {
  last = await synthesise(text, 'vi', '2026-11-27T14:05:00+07:00');
  rtf.push(last.synthMs / last.durationMs!);
}
console.log(
  `espeak-ng vi: ${last!.durationMs} ms of speech (${last!.spoken.length} characters) in ${last!.synthMs.toFixed(0)} ms; real-time factor median ${pct(rtf, 50).toFixed(4)} over 5 runs; lame MP3 encoding ${last!.encodeMs.toFixed(0)} ms, ${last!.mp3.length} bytes`,
);

await w.close();
server.close();
await broker.close();
process.exit(0);
