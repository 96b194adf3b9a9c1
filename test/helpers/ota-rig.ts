// A box as systemd runs it for OTA tests (docs/ota.md): the real launcher
// (systemd/loa-launch) under a Restart=always stand-in (supervisor.ts), real releases
// under ROOT (releases.ts), a real Mosquitto, artifacts served over HTTP, and the centre's
// watcher. `update()` sends the signed `update` command a release key signs.
import { createServer } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { startBroker, type TestBroker } from './broker.js';
import { boxConfig } from './box.js';
import { REPO_ROOT, writeConfig } from './agent-process.js';
import { installRelease, type Artifact } from './releases.js';
import { makeKey, sign, type TestKey } from './signer.js';
import { startSupervised, type Supervised } from './supervisor.js';
import { tempDir } from './tmp.js';
import { DEFAULT_ROOT, deviceTopic, Watcher, type Received } from './watcher.js';
import { commandDoc } from './box.js';

export interface OtaRig {
  dir: string;
  root: string;
  ota: string;
  deviceId: string;
  broker: TestBroker;
  watcher: Watcher;
  box: Supervised;
  centre: TestKey;
  release: TestKey;
  /** Serve an artifact (or any file) under /releases/<its name>; its URL. */
  serve(a: Artifact | string): string;
  /** Where served files are: `noc release --base-url`. */
  baseUrl: string;
  /** Paths requested from the HTTP server, in order. */
  hits: string[];
  /** Send `update` for this artifact (args override), signed by `key` (default the release key); the command id. */
  update(a: Artifact, over?: Record<string, unknown>, key?: TestKey): Promise<string>;
  /** Events of this device as the centre received them. */
  events(): Record<string, unknown>[];
  event(type: string, cmdId: string, ms: number): Promise<Record<string, unknown>>;
  result(cmdId: string, ms: number): Promise<Record<string, unknown>>;
  /** The next birth (after `after` ms since epoch) with this agentVersion. */
  birth(version: string, ms: number, after?: number): Promise<Record<string, unknown>>;
  /** When the next offline status (after `after` ms since epoch) reached the centre: a process's end. */
  offline(ms: number, after: number): Promise<number>;
  close(): Promise<void>;
}

export async function otaRig(
  opts: { initial?: string; deviceId?: string; config?: Record<string, unknown> } = {},
): Promise<OtaRig> {
  const dir = tempDir('ota');
  const root = join(dir, 'opt');
  const ota = join(dir, 'state/ota');
  const deviceId = opts.deviceId ?? 'ota-box';
  installRelease(root, opts.initial ?? '1.0.0');
  const broker = await startBroker();
  const centre = makeKey('centre');
  const release = makeKey('release-2026');
  const served = new Map<string, string>();
  const hits: string[] = [];
  const http = createServer((req, res) => {
    hits.push(req.url ?? '');
    const file = served.get(req.url ?? '');
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': statSync(file).size, 'content-type': 'application/gzip' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
  const cfg = boxConfig(broker, centre, deviceId, dir, {
    trustedKeys: [
      { kid: centre.kid, publicKey: centre.publicKey, roles: ['schedule', 'command'] },
      { kid: release.kid, publicKey: release.publicKey, roles: ['release'] },
    ],
    log: { level: 'info' },
    update: { commitAfterS: 2 },
    ...opts.config,
  });
  const configPath = writeConfig(dir, cfg);
  const topic = (leaf: 'status' | 'events' | 'cmd/result' | 'cmd') => deviceTopic(DEFAULT_ROOT, deviceId, leaf);
  const watcher = await Watcher.connect(broker.url, [topic('status'), topic('events'), topic('cmd/result')]);
  const box = startSupervised({
    cmd: '/bin/sh',
    args: [join(REPO_ROOT, 'systemd/loa-launch'), '--config', configPath],
    env: { LOA_RELEASE_ROOT: root, LOA_OTA_DIR: ota, LOA_NODE: process.execPath, LOA_NODE_FLAGS: '' },
    restartDelayMs: 500,
  });
  const events = () => watcher.on(topic('events')).map((m) => m.json());
  const rig: OtaRig = {
    dir,
    root,
    ota,
    deviceId,
    broker,
    watcher,
    box,
    centre,
    release,
    baseUrl: `${base}/releases`,
    hits,
    serve(a) {
      const file = typeof a === 'string' ? a : a.path;
      const path = `/releases/${file.split('/').pop()}`;
      served.set(path, file);
      return base + path;
    },
    async update(a, over = {}, key = release) {
      const doc = commandDoc(deviceId, 'update', {
        version: a.version,
        url: rig.serve(a),
        sha256: a.sha256,
        bytes: a.bytes,
        waitS: 600,
        trialS: 30,
        ...over,
      });
      const c = await import('mqtt');
      const pub = await c.default.connectAsync(broker.url, { protocolVersion: 4 });
      await pub.publishAsync(topic('cmd'), await sign(doc, key, { typ: 'loa-command+json' }), { qos: 1 });
      await pub.endAsync();
      return doc.id;
    },
    events,
    async event(type, cmdId, ms) {
      return (
        await watcher.waitFor(
          (m) => m.topic === topic('events') && m.json().type === type && m.json().cmdId === cmdId,
          ms,
          `${type} for ${cmdId}\n${box.output().slice(-3000)}`,
        )
      ).json();
    },
    async result(cmdId, ms) {
      return (
        await watcher.waitFor(
          (m: Received) => m.topic === topic('cmd/result') && m.json().cmdId === cmdId,
          ms,
          `the result of ${cmdId}`,
        )
      ).json();
    },
    async birth(version, ms, after = 0) {
      const m = await watcher.waitFor(
        (m) =>
          m.topic === topic('status') && m.at >= after && m.json().online === true && m.json().agentVersion === version,
        ms,
        `a birth of version ${version}\n${box.output().slice(-3000)}`,
      );
      return m.json();
    },
    async offline(ms, after) {
      const m = await watcher.waitFor(
        (m) => m.topic === topic('status') && m.at >= after && m.json().online === false,
        ms,
        `an offline status\n${box.output().slice(-3000)}`,
      );
      return m.at;
    },
    async close() {
      await box.stop();
      await watcher.close();
      await broker.close();
      http.closeAllConnections();
      http.close();
    },
  };
  return rig;
}
