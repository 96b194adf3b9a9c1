// A child process for bench/exporter.ts: N boxes fed straight into the exporter's model
// (the births and heartbeats of noc simulate's SimBox, one play pair each), served on
// /metrics by the same renderParts as `noc exporter`; or, with `static`, an anchor: a
// bare node:http server answering a body of the same size from memory.
// With `rogue`, the same fleet plus one box reporting 20,000 distinct hw.fault components
// (issue [3/8]); the time to ingest them is printed after the bytes.
//   node bench/exporter-feed.mjs box|group|static|rogue N PORT   (after npm run build: it imports dist/,
// so its memory is the production exporter's, without tsx)
// Prints "ready <bytes>" on stdout when it serves.
import { createServer } from 'node:http';
import { KeyRing } from '../dist/contract/verify.js';
import { DEFAULT_ROOT, deviceTopic } from '../dist/contract/topics.js';
import { ExporterModel } from '../dist/noc/exporter-model.js';
import { renderMetrics, renderParts } from '../dist/noc/exporter-render.js';
import { newCounters } from '../dist/noc/fleet-box-report.js';
import { SimBox } from '../dist/noc/fleet-box.js';

const [mode = 'box', nArg = '10000', portArg = '0'] = process.argv.slice(2);
const n = Number(nArg);
const port = Number(portArg);

function feed() {
  const model = new ExporterModel({ root: DEFAULT_ROOT });
  const counters = newCounters();
  const keys = new KeyRing([]);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const deviceId = `sim-${String(i + 1).padStart(5, '0')}`;
    // 63 provinces, 5 boxes per commune: groups as a real fleet has them.
    const groups = ['all', `p${(i % 63) + 1}`, `c${Math.floor(i / 5)}`];
    const box = new SimBox({
      url: 'mqtt://unused',
      mqtt: {},
      root: DEFAULT_ROOT,
      deviceId,
      groups,
      heartbeatMs: 30_000,
      playEveryMs: 0,
      sessionExpiryS: 0,
      keys,
      counters,
      agentVersion: '0.1.0-sim',
    });
    model.apply(deviceTopic(DEFAULT_ROOT, deviceId, 'status'), JSON.stringify(box.birth()), now, true);
    model.apply(deviceTopic(DEFAULT_ROOT, deviceId, 'heartbeat'), JSON.stringify(box.heartbeatState()), now, true);
    for (const [seq, type] of [
      [1, 'play.started'],
      [2, 'play.finished'],
    ]) {
      model.apply(
        deviceTopic(DEFAULT_ROOT, deviceId, 'events'),
        JSON.stringify({
          epoch: 'e',
          seq,
          ts: new Date(now).toISOString(),
          type,
          itemId: 'sim-news',
          docId: 'sim-daily',
          priority: 50,
        }),
        now,
      );
    }
  }
  if (mode === 'rogue') {
    const t0 = performance.now();
    const rogue = 'sim-00001';
    for (let k = 0; k < 20_000; k++) {
      model.apply(
        deviceTopic(DEFAULT_ROOT, rogue, 'events'),
        JSON.stringify({
          epoch: 'r',
          seq: k + 1,
          ts: new Date(now).toISOString(),
          type: 'hw.fault',
          component: `rogue-${k}`,
          code: 'x',
          message: 'x',
        }),
        now,
      );
    }
    ingestMs = performance.now() - t0;
  }
  return model;
}
let ingestMs = 0;

const health = {
  connected: true,
  mode: mode === 'group' ? 'group' : 'box',
  share: '',
  scrapes: 0,
  lastRenderS: null,
  loopDelayP99S: null,
  startedAt: Date.now(),
};
let render;
if (mode === 'static') {
  // The anchor: the same number of bytes, built once, sent from memory.
  const model = feed();
  const body = renderMetrics(model, Date.now(), health);
  render = () => [body];
} else {
  const model = feed();
  render = () => renderParts(model, Date.now(), health, mode === 'group' ? { perGroup: /^p/ } : {});
}
global.gc?.();
const server = createServer((_req, res) => {
  health.scrapes++;
  // As noc exporter serves it: one write per family.
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
  res.cork();
  for (const p of render()) res.write(p);
  res.uncork();
  res.end();
});
server.listen(port, '127.0.0.1', () =>
  process.stdout.write(`ready ${render().reduce((n, p) => n + Buffer.byteLength(p), 0)} ${ingestMs.toFixed(0)}\n`),
);
