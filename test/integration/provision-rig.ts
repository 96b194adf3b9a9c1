// Shared by the provisioning integration tests (not a test file itself): run the CLI
// in-process or as a process, drive it through a real pseudo-terminal (util-linux
// `script`), a Mosquitto with a password file, the board simulator as its own process
// on a socat pty pair, and signing a device CSR with the test CA.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { userInfo } from 'node:os';
import { connect } from 'node:net';
import { main, type Deps } from '../../provisioning/cli.js';
import { memoryIo } from '../../provisioning/io.js';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { built } from '../helpers/built.js';
import { freePort, mosquittoPath } from '../helpers/broker.js';
import type { Pki } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { until as waitUntil } from '../helpers/wait.js';
import { SOCAT, startSim, startSocat, stopProc } from '../helpers/pty-board.js';

/** loa-provision as the .deb installs it: the built JavaScript (test/helpers/built.ts). */
export const CLI = built('provisioning/cli');
export const SCRIPT = spawnSync('sh', ['-c', 'command -v script']).stdout.toString().trim();
export const MPG123 = spawnSync('sh', ['-c', 'command -v mpg123']).stdout.toString().trim();

export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  await waitUntil(cond, ms, what, 20);
}

/** A /run with systemd-timesyncd's "synchronized" flag, so the clock check can pass on any machine. */
export function syncedRunRoot(): string {
  const run = tempDir('run');
  mkdirSync(join(run, 'systemd/timesync'), { recursive: true });
  writeFileSync(join(run, 'systemd/timesync/synchronized'), '');
  return run;
}

/**
 * The environment the CLI runs in: the machine's, but in English whatever its locale (the
 * assertions read English; `--lang vi` asks for Vietnamese).
 */
export const ENGLISH = { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

/** main() in this process, output captured; stdin is empty unless given. */
export async function runCli(
  argv: string[],
  deps: Deps = {},
  input = '',
): Promise<{ code: number; out: string; err: string }> {
  const stdin = new PassThrough();
  stdin.end(input);
  const io = memoryIo(stdin);
  const code = await main(argv, io, { env: { ...process.env, ...ENGLISH }, ...deps });
  return { code, out: io.out(), err: io.errOut() };
}

/** The CLI as its own process (what a technician runs). */
export async function spawnCli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = performance.now();
  const p = spawn(process.execPath, [CLI, ...argv], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...ENGLISH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.setEncoding('utf8');
  p.stderr.setEncoding('utf8');
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, out, ms: performance.now() - t0 };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The CLI on a real terminal: `script` gives it a pseudo-terminal (isTTY, raw mode,
 * echo), our pipe plays the technician's keyboard.
 */
export function ptySession(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const cmd = [process.execPath, CLI, ...argv].map(q).join(' ');
  const p = spawn(SCRIPT, ['-qfec', cmd, '/dev/null'], {
    cwd: REPO_ROOT,
    env: { ...process.env, LANG: 'C.UTF-8', TERM: 'xterm', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let consumed = 0;
  p.stdout.setEncoding('utf8');
  p.stderr.setEncoding('utf8');
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const exited = once(p, 'exit').then(([code]) => code as number | null);
  return {
    output: () => out,
    /** Wait for `text` after what earlier answers consumed, then type `answer` and Enter. */
    async answer(text: string, answer: string, ms = 20_000): Promise<void> {
      await until(
        () => out.indexOf(text, consumed) >= 0 && out.indexOf(': ', out.indexOf(text, consumed)) >= 0,
        ms,
        `prompt "${text}" (output so far:\n${out.slice(-1500)})`,
      );
      consumed = out.indexOf(': ', out.indexOf(text, consumed)) + 2;
      p.stdin.write(`${answer}\r`);
    },
    /** Wait for `text` to appear after what earlier answers consumed. */
    async expect(text: string, ms = 20_000): Promise<void> {
      await until(() => out.indexOf(text, consumed) >= 0, ms, `"${text}" (output so far:\n${out.slice(-1500)})`);
    },
    exited,
    kill: () => p.kill('SIGKILL'),
  };
}

export { SOCAT, stopProc };

/** socat's pty pair and the simulator process on its `board` end; `host` is what the box opens. */
export async function startSimPty(): Promise<{
  host: string;
  lines: string[];
  script(cmd: string): Promise<void>;
  stop(): Promise<void>;
}> {
  const dir = tempDir('prov-pty');
  const socat = await startSocat(dir);
  const sim = startSim(dir);
  await sim.ready();
  return {
    host: join(dir, 'host'),
    lines: sim.lines,
    script: (cmd) => sim.script(cmd),
    async stop() {
      await stopProc(sim.proc);
      await stopProc(socat);
    },
  };
}

/** A Mosquitto that wants a username and password (mosquitto_passwd), optionally over TLS. */
export async function startPasswordBroker(
  user: string,
  password: string,
  tls?: Pki,
): Promise<{ url: string; stop(): Promise<void> }> {
  const bin = mosquittoPath();
  if (!bin) throw new Error('mosquitto not installed');
  const dir = tempDir('pw-broker');
  const pwfile = join(dir, 'passwd');
  writeFileSync(pwfile, '');
  execFileSync('mosquitto_passwd', ['-b', pwfile, user, password], { stdio: 'ignore' });
  const port = await freePort();
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${pwfile}`,
    `user ${userInfo().username}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
  ];
  if (tls) lines.push(`cafile ${tls.ca}`, `certfile ${tls.serverCert}`, `keyfile ${tls.serverKey}`);
  writeFileSync(join(dir, 'm.conf'), lines.join('\n') + '\n');
  const p = spawn(bin, ['-c', join(dir, 'm.conf')], { stdio: 'ignore' });
  await waitForPort(port, 10_000);
  return { url: `${tls ? 'mqtts://localhost' : 'mqtt://127.0.0.1'}:${port}`, stop: () => stopProc(p) };
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const listens = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
  await waitUntil(listens, ms, `something listening on ${port}`, 25);
}

/** The centre's CA signs the box's CSR for client authentication. */
export function signCsr(pki: Pki, csr: string, out: string, days = 365): void {
  const ext = `${out}.ext`;
  writeFileSync(ext, 'extendedKeyUsage=clientAuth\n');
  execFileSync(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      pki.ca,
      '-CAkey',
      pki.caKey,
      '-CAcreateserial',
      '-days',
      String(days),
      '-extfile',
      ext,
      '-out',
      out,
    ],
    { stdio: 'ignore' },
  );
}

/** A raw Ed25519 public key in base64url, as `noc keys` prints it. */
export async function centreKey(): Promise<string> {
  const { generateKeyPairSync } = await import('node:crypto');
  return generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
}
