// The rig of the `noc cap` tests (noc-cap.test.ts: single messages to Mosquitto;
// noc-cap-feed.test.ts: Atom/RSS feeds, polling and `noc tts`): the file's Mosquitto, a
// fresh centre key, the mapping, a local HTTP server of CAP documents and audio (routes),
// and verified(): a command checked as a box checks it. Registers the file's hooks.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { tempDir } from '../helpers/tmp.js';
import { MAPPING_JSON, capTime, capXml, type TestAlert } from '../helpers/cap.js';
import { runNoc } from './noc-cli.js';
import { KeyRing, COMMAND_TYP, checkEnvelope, verifyJws } from '../../contract/verify.js';
import { validateCommand } from '../../contract/command-doc.js';
import { DEFAULT_MAX_DOC_BYTES } from '../../contract/index.js';

export let broker: TestBroker;
export let dir: string;
export let keys: KeyRing;
export let pem: string;
export let server: Server;
export let base: string;
export const routes = new Map<string, { body: Buffer | string; type: string }>();
export const AUDIO = Buffer.from(Array.from({ length: 48_000 }, (_, i) => (i * 7919) % 251));
export const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const ttsMissing = ['espeak-ng', 'lame'].filter((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status !== 0);
export const ttsSkip =
  ttsMissing.length && process.env.CI !== 'true' ? `${ttsMissing.join(', ')} not installed` : false;

before(async () => {
  broker = await startBroker();
  dir = tempDir('noc-cap');
  const k = await runNoc(['keys', '--kid', 'centre-2026', '--out', dir]);
  assert.equal(k.code, 0, k.stderr);
  keys = new KeyRing([JSON.parse(k.stdout) as { kid: string; publicKey: string }]);
  pem = join(dir, 'centre-2026.key.pem');
  writeFileSync(join(dir, 'mapping.json'), JSON.stringify(MAPPING_JSON));
  routes.set('/audio/bao.mp3', { body: AUDIO, type: 'audio/mpeg' });
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    const media = path.startsWith('/media/') ? join(dir, 'media', path.slice(7)) : undefined;
    const r =
      routes.get(path) ?? (media && existsSync(media) ? { body: readFileSync(media), type: 'audio/mpeg' } : undefined);
    if (!r) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': r.type }).end(r.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await broker.close();
});

export const vi = (a: TestAlert = {}): string => capXml(a);
export function file(name: string, xml: string): string {
  const p = join(dir, name);
  writeFileSync(p, xml);
  return p;
}
// The test's HTTP server is on loopback: --allow-private (the default refuses it, tested below).
export const mapArgs = () => ['--mapping', join(dir, 'mapping.json'), '--allow-private'];
export const mediaArgs = () => ['--media-dir', join(dir, 'media'), '--media-base-url', `${base}/media/`];

/** The "would publish TOPIC JSON" lines of a dry run. */
export function wouldPublish(stdout: string): { topic: string; doc: Record<string, any> }[] {
  return [...stdout.matchAll(/^would publish (\S+) (\{.*\})$/gm)].map((m) => ({
    topic: m[1]!,
    doc: JSON.parse(m[2]!),
  }));
}

export const withAudio = (over: TestAlert = {}): string =>
  vi({
    infos: [
      {
        expires: capTime(Date.now() + 2 * 3_600_000),
        resources: [{ uri: `${base}/audio/bao.mp3`, size: AUDIO.length, digest: sha1(AUDIO) }],
      },
    ],
    ...over,
  });

/** Verifies as a box would (signature, typ, envelope bound to the topic's group) and returns the payload. */
export function verified(topic: string, payload: Buffer): Record<string, any> {
  const j = verifyJws(payload, keys, COMMAND_TYP, DEFAULT_MAX_DOC_BYTES);
  assert.ok(j.ok, JSON.stringify(j));
  const doc = (j as { raw: Record<string, any> }).raw;
  const group = topic.split('/')[3]!;
  assert.equal(
    checkEnvelope(doc as never, {
      deviceId: 'vn-79-26734-01',
      groups: [group],
      now: Date.now(),
      binding: { kind: 'group', name: group },
      maxLifetimeMs: 24 * 3_600_000,
      clockSynced: true,
      what: 'command',
    }),
    null,
  );
  if (doc.action === 'play') assert.equal(validateCommand(doc).ok, true);
  return doc;
}
