// `noc studio` in a real headless Chromium (issue [5/8]): the operator logs in on a
// phone-sized page, holds the button while the fake microphone plays a WAV of marker
// clicks, and two box processes on Mosquitto play what was said; the page shows both
// boxes listening. Beside it, over plain HTTPS: a wrong password, the rate limit after
// five, a group the operator may not speak to, a request without the CSRF token, and a
// password file that holds only scrypt hashes. Screenshots go to LOA_SCREENSHOTS (or the
// test's directory).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Browser, chromiumPath } from '../helpers/chromium.js';
import { makePki } from '../helpers/certs.js';
import { clickTimes, clicksWav, liveRig, onsets, readRecording } from '../helpers/live-rig.js';
import { spawnNoc } from './noc-cli.js';

const PASSWORD = 'mật khẩu dài 2026';

function post(
  url: string,
  path: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, url),
      {
        method: 'POST',
        rejectUnauthorized: false,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      },
      (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test(
  'noc studio on a phone in Chromium: log in, hold to talk, both boxes play the clicks; passwords hashed, failures rate-limited, groups and CSRF enforced',
  { skip: chromiumPath() ? false : 'chromium is not installed', timeout: 180_000 },
  async () => {
    const r = await liveRig(['studio-a', 'studio-b']);
    let browser: Browser | undefined;
    let studio: ReturnType<typeof spawnNoc> | undefined;
    try {
      const shots = process.env.LOA_SCREENSHOTS ?? join(r.dir, 'screenshots');
      mkdirSync(shots, { recursive: true });
      const pki = makePki(r.dir, 'studio');
      const ops = join(r.dir, 'operators.json');
      const add = spawnNoc(
        ['studio', 'operator', '--file', ops, '--name', 'chu-tich', '--groups', 'c26734'],
        {},
        { input: `${PASSWORD}\n` },
      );
      assert.equal(await add.exited, 0, add.stderr());
      const stored = readFileSync(ops, 'utf8');
      assert.match(stored, /"hash": "scrypt\$32768\$8\$1\$/);
      assert.ok(!stored.includes(PASSWORD), 'no password in the file');
      const archive = join(r.dir, 'archive');
      studio = spawnNoc([
        'studio',
        '--broker',
        r.broker.url,
        '--key',
        r.keyFiles.cmd,
        '--live-key',
        r.keyFiles.live,
        '--operators',
        ops,
        '--https-cert',
        pki.serverCert,
        '--https-key',
        pki.serverKey,
        '--listen',
        '127.0.0.1:0',
        '--record',
        archive,
        '--latency',
        '1500',
      ]);
      const url = (await studio.waitFor(/studio: (https:\/\/\S+)/, 20_000, 'stdout'))[1]!;
      const wav = join(r.dir, 'mic.wav');
      clicksWav(wav, 3, clickTimes(4, 0.6));
      browser = Browser.launch({ fakeAudio: wav });
      // Over plain HTTPS first: what a script without the page's session gets.
      const wrong = await post(url, '/login', 'name=chu-tich&password=wrong');
      assert.equal(wrong.status, 401);
      assert.equal((await post(url, '/api/start', '{"groups":["c26734"]}')).status, 401, 'no session, no start');

      const page = await browser.phone(url);
      await page.screenshot(join(shots, 'studio-login.png'));
      await page.eval(
        `document.getElementById('name').value='chu-tich';document.getElementById('password').value=${JSON.stringify(PASSWORD)};document.querySelector('form').submit()`,
      );
      await page.waitFor(`document.getElementById('talk')`, 15_000, 'the studio page after the login');
      const cookieless = await post(url, '/api/start', '{"groups":["p79"]}', { 'content-type': 'application/json' });
      assert.equal(cookieless.status, 401);
      // The page's own session, without its CSRF token and for a foreign group.
      const noCsrf = await page.eval<number>(
        `fetch('/api/start',{method:'POST',headers:{'content-type':'application/json'},body:'{"groups":["c26734"]}'}).then(r=>r.status)`,
      );
      assert.equal(noCsrf, 403, 'a state change without the CSRF token');
      const foreign = await page.eval<{ status: number; error: string }>(
        `fetch('/api/start',{method:'POST',headers:{'content-type':'application/json','x-csrf-token':CSRF},body:'{"groups":["p79"]}'}).then(async r=>({status:r.status,...(await r.json())}))`,
      );
      assert.equal(foreign.status, 403);
      assert.match(foreign.error, /not allowed to speak to p79/);

      const at = await page.centre('#talk');
      await page.mouse('mouseMoved', at);
      await page.mouse('mousePressed', at);
      await page.waitFor(
        `document.getElementById('count').textContent === '2'`,
        20_000,
        'both boxes listening on the page',
      );
      await page.screenshot(join(shots, 'studio-on-air.png'));
      for (const b of r.boxes)
        await r.watcher.waitFor(
          (m) =>
            m.topic === `loa/v1/d/${b.id}/events` && m.json().type === 'play.started' && m.json().source === 'live',
          20_000,
          `${b.id} plays`,
        );
      // Two more seconds of the microphone reach the boxes: wait for them in the boxes' own chunks.
      await r.watcher
        .waitFor(
          (m) =>
            m.topic.startsWith('loa/v1/live/') &&
            m.payload.length > 0 &&
            r.watcher.messages.filter((x) => x.topic === m.topic).length >= 12,
          20_000,
          'twelve chunks from the studio',
        )
        .catch(async (err: Error) => {
          const state = await page.eval<string>(
            `document.getElementById('state').textContent + ' ctx:' + (ctx && ctx.state)`,
          );
          throw new Error(`${err.message}; the page says: ${state}; studio: ${studio?.stderr().slice(-1500)}`);
        });
      await page.mouse('mouseReleased', at);
      await page.waitFor(
        `document.getElementById('state').textContent.startsWith('Đã kết thúc')`,
        15_000,
        'the session ended on the page',
      );
      await page.screenshot(join(shots, 'studio-ended.png'));
      for (const b of r.boxes) {
        const end = await r.watcher.waitFor(
          (m) => m.topic === `loa/v1/d/${b.id}/events` && m.json().type === 'live.stats' && m.json().reason === 'end',
          20_000,
          `${b.id}: the end chunk`,
        );
        assert.equal(end.json().invalid, 0);
        // live.stats is sent as the session ends; its play.finished follows it (CI16 saw the gap).
        await r.watcher.waitFor(
          (m) =>
            m.topic === `loa/v1/d/${b.id}/events` && m.json().type === 'play.finished' && m.json().source === 'live',
          20_000,
          `${b.id}: play.finished`,
        );
        const heard = onsets(readRecording(b.rec).pcm);
        assert.ok(heard.length >= 2, `${b.id} heard ${heard.length} clicks of the microphone`);
      }
      const rec = readdirSync(archive).find((f) => f.endsWith('.json'))!;
      const record = JSON.parse(readFileSync(join(archive, rec), 'utf8')) as { operator: string; listening: object };
      assert.equal(record.operator, 'chu-tich');
      assert.equal(Object.keys(record.listening).length, 2);
      // Five failures from one address: the sixth attempt, even with the right password, waits.
      // With the wrong password at the start, five failures: a success in between (the page's) does not clear them.
      for (let i = 0; i < 4; i++) assert.equal((await post(url, '/login', 'name=chu-tich&password=nope')).status, 401);
      const limited = await post(url, '/login', `name=chu-tich&password=${encodeURIComponent(PASSWORD)}`);
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0);
      const page2 = await browser.phone(url); // the page itself stays small
      const size = await page2.eval<number>('document.documentElement.outerHTML.length');
      assert.ok(size < 100_000, `the page is ${size} bytes`);
      process.stdout.write(`# studio screenshots: ${shots}\n`);
    } finally {
      await browser?.close();
      await studio?.stop();
      await r.close();
    }
  },
);
