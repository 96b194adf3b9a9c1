// A real headless Chromium (Debian's `chromium`) driven over the DevTools protocol through
// --remote-debugging-pipe (fd 3 in, fd 4 out, messages ending in NUL): no package, no port.
// For the pages the project serves (noc studio): log in, hold a button with the mouse,
// read the DOM, take screenshots at a phone's size. Its fake microphone plays a WAV file.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { tempDir } from './tmp.js';

export function chromiumPath(): string | undefined {
  for (const bin of ['chromium', 'chromium-browser']) if (spawnSync('which', [bin]).status === 0) return bin;
  return undefined;
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void; method: string };

export class Browser {
  private id = 0;
  private readonly pending = new Map<number, Pending>();
  private buf = '';
  private readonly listeners: ((m: { method: string; params: Record<string, unknown>; sessionId?: string }) => void)[] =
    [];

  private constructor(
    private readonly proc: ChildProcess,
    private readonly out: Writable,
    input: Readable,
  ) {
    input.setEncoding('utf8');
    input.on('data', (s: string) => {
      this.buf += s;
      let i: number;
      while ((i = this.buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buf.slice(0, i)) as {
          id?: number;
          result?: Record<string, unknown>;
          error?: { message: string };
          method?: string;
          params?: Record<string, unknown>;
          sessionId?: string;
        };
        this.buf = this.buf.slice(i + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p?.resolve(msg.result ?? {});
        } else if (msg.method)
          for (const l of this.listeners)
            l({ method: msg.method, params: msg.params ?? {}, ...(msg.sessionId ? { sessionId: msg.sessionId } : {}) });
      }
    });
  }

  /** `fakeAudio`: a WAV file the fake microphone plays (looped). */
  static launch(o: { fakeAudio?: string } = {}): Browser {
    const bin = chromiumPath();
    if (!bin) throw new Error('chromium is not installed (apt-get install chromium)');
    const args = [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--remote-debugging-pipe',
      `--user-data-dir=${tempDir('chromium')}`,
      '--ignore-certificate-errors',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      ...(o.fakeAudio ? [`--use-file-for-fake-audio-capture=${o.fakeAudio}`] : []),
      '--autoplay-policy=no-user-gesture-required',
      'about:blank',
    ];
    // The browser is the operator's phone, whose clock is its own: a test run a year ahead
    // (test/year-ahead.sh, libfaketime) moves the studio's and the boxes' clocks, not the
    // phone's (Chromium under libfaketime never delivered its microphone's audio in CI15).
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD' && !k.startsWith('FAKETIME')),
    );
    // Its own process group: close() ends the renderer and zygote processes with it, which
    // otherwise go on writing into the profile directory while tmp.ts removes it (CI24).
    const proc = spawn(bin, args, { env, detached: true, stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    proc.stderr!.resume();
    return new Browser(proc, proc.stdio[3] as Writable, proc.stdio[4] as Readable);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  on(l: (m: { method: string; params: Record<string, unknown>; sessionId?: string }) => void): void {
    this.listeners.push(l);
  }

  /** A page at a phone's size (390 × 844 unless `width` says, touch, DPR 2), opened at `url`. */
  async phone(url: string, width = 390): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as {
      sessionId: string;
    };
    const page = new Page(this, sessionId);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    await page.send('Emulation.setDeviceMetricsOverride', {
      width,
      height: 844,
      deviceScaleFactor: 2,
      mobile: true,
    });
    await page.goto(url);
    return page;
  }

  async close(): Promise<void> {
    const group = -this.proc.pid!;
    const exited = new Promise((r) => (this.proc.exitCode !== null ? r(null) : this.proc.once('exit', r)));
    try {
      process.kill(group, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
    // The group's other processes are not our children: gone when signal 0 finds none (≤ 5 s).
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(group, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export class Page {
  constructor(
    private readonly b: Browser,
    private readonly sessionId: string,
  ) {}

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.b.send(method, params, this.sessionId);
  }

  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((r) =>
      this.b.on((m) => {
        if (m.sessionId === this.sessionId && m.method === 'Page.loadEventFired') r();
      }),
    );
    await this.send('Page.navigate', { url });
    await loaded;
  }

  /** The value of a JavaScript expression in the page (awaited if a promise). */
  async eval<T = unknown>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true })) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
    return r.result.value as T;
  }

  /** Wait until `expression` is truthy in the page. */
  async waitFor(expression: string, timeoutMs: number, what: string): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (await this.eval<boolean>(`!!(${expression})`).catch(() => false)) return;
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The centre of an element, in CSS pixels. */
  async centre(selector: string): Promise<{ x: number; y: number }> {
    return this.eval(
      `(() => { const r = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect(); return { x: r.x + r.width / 2, y: r.y + r.height / 2 }; })()`,
    );
  }

  async mouse(type: 'mousePressed' | 'mouseReleased' | 'mouseMoved', at: { x: number; y: number }): Promise<void> {
    await this.send('Input.dispatchMouseEvent', { type, ...at, button: 'left', clickCount: 1, pointerType: 'mouse' });
  }

  async screenshot(path: string): Promise<number> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png' })) as { data: string };
    const png = Buffer.from(data, 'base64');
    writeFileSync(path, png);
    return png.length;
  }
}
