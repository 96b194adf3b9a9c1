// Secrets stay secret, measured on the real agent process: a broker password and a media
// link's credentials never reach its output, credentials in mqtt.url are refused with
// the fields to use, and files or directories others can write are refused with the chmod.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mqtt } from '../../cli-kit/mqtt-lib.js';
import { mosquittoPath } from '../helpers/broker.js';
import { spawnAgent, writeConfig } from '../helpers/agent-process.js';
import { makeKey, scheduleDoc, sign } from '../helpers/signer.js';
import { tempDir } from '../helpers/tmp.js';
import { startPasswordBroker } from './provision-rig.js';

const haveMosquitto = mosquittoPath() !== undefined || process.env.CI === 'true';
const skip = haveMosquitto ? false : 'needs mosquitto (a broker that checks a password)';
const BROKER_PW = 'Br0ker-S3cret-pw';
let broker: { url: string; stop(): Promise<void> } | undefined;

before(async () => {
  if (haveMosquitto) broker = await startPasswordBroker('box', BROKER_PW);
});
after(async () => {
  await broker?.stop();
});

async function run(cfg: string): Promise<{ code: number | null; out: string }> {
  const a = spawnAgent(['--config', cfg]);
  const code = await a.exited();
  return { code, out: a.output() };
}

test(
  'a real connection with a password, and a media URL with credentials: no secret in the output',
  { skip },
  async () => {
    const dir = tempDir('secret-log');
    const key = makeKey('centre-test');
    writeFileSync(join(dir, 'mqtt-password'), BROKER_PW + '\n', { mode: 0o600 });
    const cfg = writeConfig(dir, {
      deviceId: 'secret-box',
      groups: ['c26734'],
      mqtt: { url: broker!.url, username: 'box', passwordFile: 'mqtt-password', reconnect: { minS: 1, maxS: 2 } },
      trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
      stateDir: join(dir, 'state'),
      cacheDir: join(dir, 'cache'),
      audio: { player: 'stand-in' },
    });
    const agent = spawnAgent(['--config', cfg]);
    try {
      await agent.waitForLog(/"msg":"mqtt connected"/, 15_000);
      await agent.waitForLog(/birth published/, 15_000);
      // Port 1 refuses: the fetch fails and its log line carries the URL.
      const url = 'http://cdn-user:Med1a-S3cret@127.0.0.1:1/bulletin.mp3?expires=9&token=T0ken-S3cret';
      const doc = scheduleDoc({
        id: 'secret-doc',
        target: { devices: ['secret-box'] },
        media: [{ id: 'news', url, sha256: 'a'.repeat(64), bytes: 1000 }],
        items: [
          {
            id: 'news-item',
            source: { kind: 'file', media: ['news'] },
            at: new Date(Date.now() + 600_000).toISOString(),
          },
        ],
      });
      const c = await mqtt.connectAsync(broker!.url, { username: 'box', password: BROKER_PW, protocolVersion: 5 });
      await c.publishAsync('loa/v1/d/secret-box/schedule', await sign(doc, key), { qos: 1, retain: true });
      await agent.waitForLog(/media fetch failed/, 20_000);
      await c.publishAsync('loa/v1/d/secret-box/schedule', '', { qos: 1, retain: true });
      await c.endAsync();
      const out = agent.output();
      assert.match(out, new RegExp(`"url":"${broker!.url.replace(/[/.]/g, '\\$&')}"`), 'the broker URL is logged');
      assert.match(
        out,
        /http:\/\/\*\*\*@127\.0\.0\.1:1\/bulletin\.mp3\?expires=9&token=\*\*\*/,
        'the media URL is logged, redacted',
      );
      for (const secret of [BROKER_PW, 'Med1a-S3cret', 'T0ken-S3cret', 'cdn-user'])
        assert.ok(!out.includes(secret), `${secret} must not be in the output`);
    } finally {
      await agent.kill9();
    }
  },
);

test('credentials in mqtt.url: exit 78 naming mqtt.username and mqtt.passwordFile, the password not printed', async () => {
  const cfg = writeConfig(tempDir('secret-url'), {
    deviceId: 'a',
    mqtt: { url: 'mqtt://user:Url-S3cret@127.0.0.1:1883' },
  });
  const r = await run(cfg);
  assert.equal(r.code, 78, r.out);
  assert.match(r.out, /CONFIG_INVALID/);
  assert.match(
    r.out,
    /mqtt\.url: "mqtt:\/\/\*\*\*@127\.0\.0\.1:1883" holds credentials: .*mqtt\.username.*mqtt\.passwordFile/,
  );
  assert.ok(!r.out.includes('Url-S3cret'), r.out);
});

test('a config writable by its group, or in a directory anyone can write, is refused with the chmod', async () => {
  const dir = tempDir('secret-modes');
  const cfg = writeConfig(dir, { deviceId: 'a', mqtt: { url: 'mqtt://127.0.0.1:1' } }, 0o664);
  const r1 = await run(cfg);
  assert.equal(r1.code, 78, r1.out);
  assert.match(r1.out, /CONFIG_INSECURE/);
  assert.ok(r1.out.includes(`Run: chmod go-w ${cfg}`), r1.out);

  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const cfg2 = writeConfig(open, { deviceId: 'a', mqtt: { url: 'mqtt://127.0.0.1:1' } });
  const r2 = await run(cfg2);
  assert.equal(r2.code, 78, r2.out);
  assert.ok(r2.out.includes(`Run: chmod o-w ${open}`), r2.out);
  chmodSync(open, 0o700);
});
