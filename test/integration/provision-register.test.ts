// `loa-provision register` and `show` against a real Mosquitto and a real agent process
// started from the configuration `init` wrote: register publishes the identity and sees
// the agent's birth, in either order (the documented one: the agent first); an agent
// older than the configuration, or one systemd says is stopped, is said at once; without
// an agent it times out with exit 1 and a hint; show reads the retained status and
// heartbeat, and says so plainly when the broker is down.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../provisioning/cli.js';
import { memoryIo } from '../../provisioning/io.js';
import { fingerprintOf, readPrivateKey } from '../../provisioning/keys.js';
import { DEFAULT_ROOT as ROOT, deviceTopic, type RegisterPayload } from '../../contract/index.js';
import { spawnAgent, type AgentProcess } from '../helpers/agent-process.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import type { Exec } from '../../provisioning/checks.js';
import { tempDir } from '../helpers/tmp.js';
import { Watcher } from '../helpers/watcher.js';
import { runCli } from './provision-rig.js';

let broker: TestBroker;
before(async () => {
  broker = await startBroker();
});
after(async () => {
  await broker.close();
});

async function initBox(deviceId: string): Promise<{ dir: string; config: string }> {
  const dir = tempDir('reg');
  const config = join(dir, 'etc/agent.json');
  const r = await runCli([
    'init',
    '--yes',
    '--config',
    config,
    '--device-id',
    deviceId,
    '--groups',
    'all,c26734',
    '--commune-name',
    'Xã Thử',
    '--commune-code',
    '26734',
    '--lat',
    '10.5',
    '--lon',
    '106.4',
    '--installer',
    'tuan',
    '--broker',
    broker.url,
    ...(broker.supportsV5 ? [] : ['--mqtt-version', '3.1.1']),
    '--board',
    'sim',
    '--state-dir',
    join(dir, 'state'),
    '--cache-dir',
    join(dir, 'cache'),
    '--audio-output',
    'paced',
  ]);
  assert.equal(r.code, 0, r.out + r.err);
  return { dir, config };
}

/** A machine without systemd (this one, as far as the tests go): register cannot ask it. */
const noSystemd: Exec = async () => ({ code: 1, stdout: '' });

/** main() running in the background, with its output readable while it runs. */
function background(argv: string[]) {
  const stdin = new PassThrough();
  stdin.end();
  const io = memoryIo(stdin);
  const done = main(argv, io, { reportEveryMs: 1000, exec: noSystemd });
  return { done, out: () => io.out() + io.errOut() };
}

describe('register and show', { timeout: 180_000 }, () => {
  test('register publishes the identity retained and sees the birth of the agent started after it; show reads its live state', async () => {
    const id = 'reg-box-1';
    const box = await initBox(id);
    const centre = await Watcher.connect(broker.url, [deviceTopic(ROOT, id, 'register')]);
    let agent: AgentProcess | undefined;
    try {
      const reg = background(['register', '--config', box.config, '--timeout', '60']);
      const m = await centre.waitFor(() => true, 10_000, 'register message');
      const p = m.json<RegisterPayload>();
      assert.equal(p.deviceId, id);
      assert.deepEqual(p.groups, ['all', 'c26734']);
      assert.equal(p.site.communeName, 'Xã Thử');
      assert.equal(p.site.lat, 10.5);
      assert.equal(p.keyFingerprint, fingerprintOf(readPrivateKey(join(box.dir, 'etc/device.key'))));
      assert.equal(p.keyType, 'EC P-256');
      assert.match(p.csr ?? '', /BEGIN CERTIFICATE REQUEST/, 'no certificate yet: the CSR travels for signing');
      assert.equal(typeof p.agentVersion, 'string');
      assert.ok(!Number.isNaN(Date.parse(p.ts)));

      // The technician starts the agent only now, as the next steps say.
      agent = spawnAgent(['--config', box.config]);
      const code = await reg.done;
      assert.equal(code, 0, reg.out() + agent.output());
      assert.match(reg.out(), /registered reg-box-1 on loa\/v1\/d\/reg-box-1\/register \(retained\)/);
      assert.match(
        reg.out(),
        /agent online: bootId [0-9a-f-]{36}, agent \S+, birth at .* after registering\), after the configuration was written/,
      );

      // show: the retained birth and heartbeat (the first heartbeat follows the birth).
      const w = await Watcher.connect(broker.url, [deviceTopic(ROOT, id, 'heartbeat')]);
      await w.waitFor(() => true, 15_000, 'heartbeat');
      await w.close();
      // Retained: a NOC that connects later still finds the registration.
      const late = await Watcher.connect(broker.url, [deviceTopic(ROOT, id, 'register')]);
      const kept = await late.waitFor(() => true, 5000, 'retained register');
      assert.equal(kept.retain, true);
      assert.equal(kept.json<RegisterPayload>().ts, p.ts);
      await late.close();

      const s = await runCli(['show', '--config', box.config]);
      assert.equal(s.code, 0, s.out + s.err);
      assert.match(s.out, /^reg-box-1 {2}\(/m);
      assert.match(s.out, /site +Xã Thử, code 26734/);
      assert.match(s.out, /device key +EC P-256, sha256 [0-9a-f]{4} /);
      assert.match(s.out, /certificate +none yet; .*device\.csr awaits signing/);
      assert.match(s.out, /board +sim/);
      assert.match(s.out, /Agent: ONLINE since .*bootId [0-9a-f-]{36}/);
      assert.match(s.out, /Heartbeat: \d+ s ago, uptime \d+ s, state idle/);
      assert.match(s.out, /outbox +\d+ event\(s\) waiting/);

      const j = await runCli(['show', '--config', box.config, '--json']);
      const parsed = JSON.parse(j.out) as {
        identity: { deviceId: string };
        live: { reachable: boolean; status: { online: boolean }; heartbeatAgeS: number };
      };
      assert.equal(parsed.identity.deviceId, id);
      assert.equal(parsed.live.reachable, true);
      assert.equal(parsed.live.status.online, true);
      assert.ok(parsed.live.heartbeatAgeS < 60);

      // A clean stop: show reports it offline.
      assert.equal(await agent.term(), 0);
      agent = undefined;
      const off = await runCli(['show', '--config', box.config]);
      assert.match(off.out, /Agent: OFFLINE \(shutdown at /);
    } finally {
      await agent?.kill9();
      await centre.close();
    }
  });

  test('register times out with exit 1 and a hint when no agent runs, and says what the broker holds', async () => {
    const box = await initBox('reg-box-2');
    const t0 = Date.now();
    const r = await runCli(['register', '--config', box.config, '--timeout', '3'], {
      reportEveryMs: 1000,
      exec: noSystemd,
    });
    assert.equal(r.code, 1, r.out);
    assert.ok(Date.now() - t0 >= 2900, 'nothing could tell the agent would not come: waited the whole timeout');
    assert.match(r.out, /registered reg-box-2/);
    assert.match(r.out, /the broker holds no status of reg-box-2 yet/);
    assert.match(r.out, /still waiting/);
    assert.match(r.out, /no birth from the agent of reg-box-2 within 3\.0 s/);
    assert.match(r.out, /is loa-agent running\? .*sudo loa-provision logs -n 50/);
  });

  test('systemd says the agent is stopped: what to do, at once, not a wait that can only fail', async () => {
    const box = await initBox('reg-box-5');
    const asked: string[][] = [];
    const stopped: Exec = async (cmd, args) => {
      asked.push([cmd, ...args]);
      return cmd === 'systemctl'
        ? {
            code: 0,
            stdout: 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nResult=success\nExecMainStatus=0\n',
          }
        : { code: 127, stdout: '' };
    };
    const t0 = Date.now();
    const r = await runCli(['register', '--config', box.config], { exec: stopped }); // the default 120 s timeout
    assert.equal(r.code, 1, r.out);
    assert.ok(Date.now() - t0 < 15_000, `answered in ${Date.now() - t0} ms`);
    assert.deepEqual(asked[0]!.slice(0, 3), ['systemctl', 'show', 'loa-agent.service']);
    assert.match(r.out, /\[FAIL\] loa-agent is not running \(systemd: inactive\)/);
    assert.match(r.out, /-> sudo systemctl start loa-agent, then loa-provision register --config \S+ again/);
    // The same in Vietnamese, the command in it as it is.
    const vi = await runCli(['register', '--config', box.config, '--lang', 'vi'], { exec: stopped });
    assert.equal(vi.code, 1, vi.out);
    assert.match(vi.out, /đã đăng ký reg-box-5 trên loa\/v1\/d\/reg-box-5\/register \(retained\)/);
    assert.match(vi.out, /\[FAIL\] loa-agent không chạy \(systemd: inactive\)/);
    assert.match(
      vi.out,
      /-> bật agent: sudo systemctl start loa-agent, rồi chạy lại loa-provision register --config \S+$/m,
    );
  });

  test('the documented order, agent first: its retained birth is the answer at once; a configuration written after it started is not', async () => {
    const box = await initBox('reg-box-3');
    let agent = spawnAgent(['--config', box.config]);
    try {
      await agent.waitForLog(/birth published/, 20_000);
      const t0 = Date.now();
      const r = await runCli(['register', '--config', box.config], { exec: noSystemd }); // the default 120 s timeout
      assert.equal(r.code, 0, r.out);
      assert.ok(Date.now() - t0 < 15_000, `answered in ${Date.now() - t0} ms`);
      assert.match(r.out, /agent online: bootId [0-9a-f-]{36}, agent \S+, .*, after the configuration was written/);
      assert.doesNotMatch(r.out, /waiting|older birth/);

      // The configuration changes under the running agent (init again): it runs with the old one. Said at once.
      assert.equal((await runCli(['init', '--yes', '--config', box.config, '--installer', 'lan'])).code, 0);
      // The file's time from the clock the agent reads, as a kernel stamps it: under
      // test/year-ahead.sh file times are not faked (NO_FAKE_STAT) and would be a year behind.
      utimesSync(box.config, new Date(), new Date());
      const t1 = Date.now();
      const stale = await runCli(['register', '--config', box.config], { exec: noSystemd });
      assert.equal(stale.code, 1, stale.out);
      assert.ok(Date.now() - t1 < 15_000, `answered in ${Date.now() - t1} ms`);
      assert.match(
        stale.out,
        /\[FAIL\] the agent running now \(bootId [0-9a-f-]{36}\) (started|connected) at \S+, before the configuration was written \(\S+\): it runs with the previous one/,
      );
      assert.match(stale.out, /-> sudo systemctl restart loa-agent, then loa-provision register --config \S+ again/);
      // The technician's language: the verdict and what to do in Vietnamese, the commands as they are.
      const vi = await runCli(['register', '--config', box.config, '--lang', 'vi'], { exec: noSystemd });
      assert.equal(vi.code, 1, vi.out);
      assert.match(
        vi.out,
        /\[FAIL\] agent đang chạy \(bootId [0-9a-f-]{36}\) (khởi động|kết nối) lúc \S+, trước khi cấu hình được ghi \(\S+\): nó đang chạy với cấu hình cũ/,
      );
      assert.match(
        vi.out,
        /-> khởi động lại agent: sudo systemctl restart loa-agent, rồi chạy lại loa-provision register --config \S+$/m,
      );
      const any = await runCli(['register', '--config', box.config, '--any'], { exec: noSystemd });
      assert.equal(any.code, 0, any.out);
      assert.match(any.out, /agent online: .*\(--any: BEFORE the configuration was written\)/);

      // Restarted as told (a clean stop, as systemctl restart does), then register at once.
      assert.equal(await agent.term(), 0);
      agent = spawnAgent(['--config', box.config]);
      const again = await runCli(['register', '--config', box.config, '--timeout', '60'], { exec: noSystemd });
      assert.equal(again.code, 0, again.out + agent.output());
      assert.match(again.out, /agent online: .*, after the configuration was written/);
    } finally {
      await agent.kill9();
    }
  });

  test('show with the broker down: the local part, and one clear line that the live state is unknown', async () => {
    const box = await initBox('reg-box-4');
    await broker.stop();
    try {
      const s = await runCli(['show', '--config', box.config, '--timeout', '3']);
      assert.equal(s.code, 1);
      assert.match(s.out, /device key +EC P-256/);
      assert.match(
        s.out,
        /Live state: UNKNOWN: the broker cannot be reached \(TCP: .*refused the connection \(ECONNREFUSED\)\)/,
      );
      assert.match(s.out, /-> nothing listens on port/);
      const r = await runCli(['register', '--config', box.config, '--timeout', '3']);
      assert.equal(r.code, 1);
      assert.match(r.err, /cannot reach the broker: TCP: /);
    } finally {
      await broker.start();
    }
  });
});
