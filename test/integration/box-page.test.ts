// The technician's page on the box (issue 30 item 1), served by a real agent (in-process,
// the IO board simulator over serialport's mock binding, Mosquitto) and driven by a real
// headless Chromium at 360 px: log in, read the status in Vietnamese, play a test tone
// (arbitrated: an emergency cuts it, it never cuts an emergency), run the self-test,
// record the commissioning level, set the site (the centre sees a new birth), switch to
// English. Then the attacks over plain HTTP: wrong passwords until 429, a form without its
// CSRF token, another origin, path traversal, an oversized body. Screenshots go to
// LOA_SCREENSHOTS (or the test's directory).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Browser, chromiumPath, type Page } from '../helpers/chromium.js';
import { freePort, startBroker, type TestBroker } from '../helpers/broker.js';
import { DEFAULT_ROOT, deviceFilter, topicsFor, Watcher } from '../helpers/watcher.js';
import { tempDir } from '../helpers/tmp.js';
import { makeKey, sign } from '../helpers/signer.js';
import { commandDoc, publishOnce } from '../helpers/box.js';
import { parseConfig } from '../../agent/config.js';
import { createLogger } from '../../agent/log.js';
import { Agent } from '../../agent/compose/agent.js';
import { hashPassword } from '../../contract/web-auth.js';

const PASSWORD = 'loa xã Tân Phú 2026';
const deviceId = 'page-01';
const T = topicsFor(DEFAULT_ROOT, deviceId, []);
const key = makeKey('centre-2026');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  port: number,
  method: string,
  path: string,
  body = '',
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
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

/** A request line as a client sends it, unnormalised (`/../`), answered with its status. */
function raw(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () =>
      s.end(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    let b = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (b += c));
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(b)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

describe(
  'the page on the box',
  { skip: chromiumPath() ? false : 'chromium is not installed', timeout: 240_000 },
  () => {
    const dir = tempDir('box-page');
    const shots = process.env.LOA_SCREENSHOTS ?? join(dir, 'screenshots');
    let broker: TestBroker;
    let agent: Agent | undefined;
    let centre: Watcher;
    let port: number;
    let browser: Browser | undefined;
    const event = (type: string, pred: (e: Record<string, unknown>) => boolean, ms: number, what: string) =>
      centre
        .waitFor((m) => m.topic === T.events && m.json().type === type && pred(m.json()), ms, what)
        .then((m) => m.json());

    before(async () => {
      mkdirSync(shots, { recursive: true });
      broker = await startBroker();
      port = await freePort();
      const config = parseConfig({
        deviceId,
        mqtt: { url: broker.url, version: broker.supportsV5 ? 5 : '3.1.1' },
        trustedKeys: [{ kid: key.kid, publicKey: key.publicKey }],
        stateDir: join(dir, 'state'),
        cacheDir: join(dir, 'cache'),
        heartbeatS: 5,
        site: { communeName: 'Xã Tân Phú', province: 'Đồng Nai' },
        hardware: { board: 'mcu', mcu: { path: 'sim' }, ampWarmUpMs: 100, ampHoldMs: 0 },
        audio: { player: 'stand-in' },
        page: { enabled: true, port, interfaces: ['lo'], passwordHash: hashPassword(PASSWORD) },
      });
      centre = await Watcher.connect(broker.url, [deviceFilter(DEFAULT_ROOT, deviceId)]);
      agent = new Agent({ config, log: createLogger({ level: 'silent', pretty: false }) });
      await agent.start();
      await centre.waitFor((m) => m.topic === T.status && m.json().online === true, 15_000, 'birth');
    });

    after(async () => {
      await browser?.close();
      await agent?.stop();
      await centre?.close();
      await broker?.close();
    });

    async function submit(page: Page, form: string, flash: RegExp, what: string): Promise<string> {
      await page.eval(`document.querySelector('form[action="${form}"]').submit()`);
      await page.waitFor(
        `document.querySelector('.flash, .ok, .bad') && ${flash.toString()}.test(document.body.innerText)`,
        30_000,
        what,
      );
      return page.eval<string>('document.body.innerText');
    }

    test('on a 360 px phone in Chromium: login, the status in Vietnamese, tone, self-test, commissioning level, site, English', async () => {
      browser = Browser.launch();
      const url = `http://127.0.0.1:${port}/`;
      const page = await browser.phone(url, 360);
      await page.screenshot(join(shots, 'page-login.png'));
      const paint = await page.eval<number>(
        `performance.getEntriesByType('paint').find(e=>e.name==='first-contentful-paint')?.startTime ?? -1`,
      );
      assert.match(await page.eval<string>('document.body.innerText'), /Mật khẩu/);
      await page.eval(
        `document.getElementById('pw').value=${JSON.stringify(PASSWORD)};document.querySelector('form').submit()`,
      );
      await page
        .waitFor(`/Đã kết nối trung tâm/.test(document.body.innerText)`, 15_000, 'the status page')
        .catch(async (err: Error) => {
          throw new Error(`${err.message}: ${await page.eval<string>('document.body.innerText')}`);
        });
      const bytes = Buffer.byteLength(await page.eval<string>('document.documentElement.outerHTML'));
      process.stdout.write(
        `# the page: ${bytes} bytes, first contentful paint of the login ${paint.toFixed(0)} ms (Chromium, 360 px)\n`,
      );
      assert.ok(bytes < 100_000, `${bytes} bytes`);
      assert.ok(
        (await page.eval<number>('document.documentElement.scrollWidth')) <= 360,
        'nothing wider than the phone',
      );
      const status = await page.eval<string>('document.body.innerText');
      assert.match(status, /Không có lỗi/);
      assert.match(status, /Không phát gì/);
      await page.screenshot(join(shots, 'page-status-vi.png'));

      // The test tone: an occurrence at priority 40, heard by the centre like any play.
      await page.eval(`document.getElementById('level').value='25';document.getElementById('seconds').value='3'`);
      const tone = await submit(page, '/tone', /Đang phát chuông thử 3 giây ở mức 25 %/, 'the tone flash');
      assert.match(tone, /Đang phát chuông thử/);
      const started = await event(
        'play.started',
        (e) => String(e.itemId).startsWith('test-tone-'),
        10_000,
        'the tone play.started',
      );
      assert.equal(started.priority, 40);
      await event('play.finished', (e) => e.itemId === started.itemId, 15_000, 'the tone play.finished');

      const st = await submit(page, '/selftest', /Tự kiểm tra: (ĐẠT|CÓ LỖI)/, 'the self-test result');
      assert.match(st, /mcu/);

      // The commissioning level: an 8 s tone measured by the (simulated) IO board.
      const rec = await submit(page, '/baseline', /Đã ghi mức chuẩn: độ khuếch đại 12 dB/, 'the level recorded');
      assert.match(rec, /Đã ghi mức chuẩn/);
      assert.ok(existsSync(join(dir, 'state', 'sound-baseline.json')));
      await page.screenshot(join(shots, 'page-baseline-vi.png'));

      // The site, as the technician types it: the centre gets a birth with it.
      await page.eval(
        `document.getElementById('lat').value='10,9574';document.getElementById('lon').value='106.8426';document.getElementById('installer').value='Trần Văn B'`,
      );
      await submit(page, '/site', /Đã lưu vị trí/, 'the site saved');
      const birth = await centre.waitFor(
        (m) => m.topic === T.status && (m.json().site as { lat?: number } | undefined)?.lat === 10.9574,
        10_000,
        'a birth with the site',
      );
      assert.deepEqual(birth.json().site, {
        communeName: 'Xã Tân Phú',
        province: 'Đồng Nai',
        lat: 10.9574,
        lon: 106.8426,
        installer: 'Trần Văn B',
      });
      await page.eval(`document.getElementById('lat').value='123'`);
      await submit(page, '/site', /Không lưu: lat/, 'a latitude refused');

      await page.goto(`${url}?lang=en`);
      await page.waitFor(`/Connected to the centre/.test(document.body.innerText)`, 10_000, 'English');
      await page.screenshot(join(shots, 'page-status-en.png'));
      await page.eval(`document.querySelector('form[action="/logout"]').submit()`);
      await page.waitFor(`!!document.getElementById('pw')`, 10_000, 'the login page after logout');
    });

    test('arbitration: an emergency cuts the tone; a tone finds an emergency busy', async () => {
      const login = await http(port, 'POST', '/login', `password=${encodeURIComponent(PASSWORD)}`);
      const cookie = String(login.headers['set-cookie']).split(';')[0]!;
      const home = await http(port, 'GET', '/', '', { cookie });
      const csrf = /name="csrf" value="([^"]+)"/.exec(home.body)![1]!;
      const tone = (seconds: number) =>
        http(port, 'POST', '/tone', `csrf=${csrf}&level=10&seconds=${seconds}`, { cookie });
      const earlier = new Set(centre.messages.filter((m) => m.topic === T.events).map((m) => m.json().itemId));
      assert.equal((await tone(30)).status, 303);
      const toneStarted = await event(
        'play.started',
        (e) => String(e.itemId).startsWith('test-tone-') && !earlier.has(e.itemId),
        10_000,
        'tone',
      );
      const cmd = commandDoc(deviceId, 'play', { source: { kind: 'line' }, durationS: 8, priority: 100 });
      await publishOnce(broker.url, T.deviceCmd, await sign(cmd, key, { typ: 'loa-command+json' }));
      const cut = await event('play.interrupted', (e) => e.itemId === toneStarted.itemId, 10_000, 'the tone cut').catch(
        (err: Error) => {
          throw new Error(
            `${err.message}: ${centre.messages
              .filter((m) => m.topic !== T.heartbeat)
              .map((m) => m.payload.toString())
              .join('\n')}`,
          );
        },
      );
      assert.equal(cut.reason, 'preempted');
      await event('play.started', (e) => e.cmdId === cmd.id, 10_000, 'the emergency');
      assert.equal((await tone(3)).status, 303);
      const after = await http(port, 'GET', '/', '', { cookie });
      assert.match(after.body, /Không phát: loa đang bận/);
      await event('play.finished', (e) => e.cmdId === cmd.id, 20_000, 'the emergency ends');
    });

    test('attacks: CSRF, another origin, path traversal, an oversized body, wrong passwords until 429', async () => {
      const login = await http(port, 'POST', '/login', `password=${encodeURIComponent(PASSWORD)}`);
      assert.equal(login.status, 303);
      const setCookie = String(login.headers['set-cookie']);
      assert.match(setCookie, /HttpOnly/);
      assert.match(setCookie, /SameSite=Strict/);
      const cookie = setCookie.split(';')[0]!;
      const home = await http(port, 'GET', '/', '', { cookie });
      assert.match(String(home.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/);
      assert.ok(!home.body.includes('scrypt'), 'nothing secret on the page');
      const csrf = /name="csrf" value="([^"]+)"/.exec(home.body)![1]!;
      assert.equal((await http(port, 'POST', '/selftest', '', { cookie })).status, 403, 'no CSRF token');
      assert.equal((await http(port, 'POST', '/selftest', 'csrf=forged', { cookie })).status, 403, 'a wrong token');
      const cross = await http(port, 'POST', '/selftest', `csrf=${csrf}`, { cookie, origin: 'http://evil.example' });
      assert.equal(cross.status, 403, 'another origin');
      assert.equal((await http(port, 'POST', '/selftest', `csrf=${csrf}`)).status, 303, 'no session: to the login');
      for (const p of [
        '/../../etc/passwd',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/static/..%2f..%2fetc/passwd',
        '/state/loa.db',
      ])
        assert.equal(await raw(port, p), 404, p);
      const big = await http(port, 'POST', '/site', `csrf=${csrf}&installer=${'x'.repeat(5000)}`, { cookie });
      assert.equal(big.status, 413);
      assert.equal((await http(port, 'DELETE', '/', '', { cookie })).status, 405);

      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await http(port, 'POST', '/login', 'password=wrong')).status);
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429]);
      const locked = await http(port, 'POST', '/login', `password=${encodeURIComponent(PASSWORD)}`);
      assert.equal(locked.status, 429, 'the right password too, until the window passes');
      assert.ok(Number(locked.headers['retry-after']) > 200);
      assert.match(locked.body, /Sai quá nhiều lần/);
      const config = readFileSync(join(dir, 'state', 'sound-baseline.json'), 'utf8');
      assert.ok(!config.includes(PASSWORD));
    });
  },
);
