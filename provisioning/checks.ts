// The system half of the self-test: configuration, clock, disk, directories, the device
// certificate, DNS and the broker. Each check is a function returning an Outcome that
// `timed()` turns into {name, ok, detail, hint, ms}; every failure carries a one-line
// hint that says what to do, not only what is wrong. The hardware half (IO board, FM,
// tone) is in hardware-checks.ts.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chown, mkdir, open, readdir, stat, statfs, unlink } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { ConfigError, loadConfig, type Config } from '../agent/config.js';
import { diskVerdict } from '../agent/domain/hardware-verdicts.js';
import {
  BrokerError,
  connectBroker,
  explain,
  resolveAll,
  targetFromConfig,
  type BrokerTarget,
  type Connected,
} from './broker.js';
import type { Account } from './files.js';
import { certInfo, certMatchesKey, readCertificate, readPrivateKey } from './keys.js';
import { fail, fromVerdict, pass, skip, warn, type Outcome } from './report.js';
import { cat, msg, type Text } from './text.js';

export function checkConfig(path: string): { outcome: Outcome; config?: Config; problems?: readonly string[] } {
  try {
    const config = loadConfig(path);
    return {
      outcome: pass(msg('check.config.ok', { path, deviceId: config.deviceId, board: config.hardware.board })),
      config,
    };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const hint =
      err.code === 'CONFIG_UNREADABLE' && /does not exist/.test(err.problems.join())
        ? msg('check.config.missing')
        : err.code === 'CONFIG_INSECURE'
          ? msg('check.config.chmod')
          : msg('check.config.fix');
    const n = err.problems.length;
    return {
      outcome: fail(msg(n > 1 ? 'check.config.problems' : 'check.config.problem', { code: err.code, n }), hint),
      problems: err.problems,
    };
  }
}

// ---- clock ----

export type Exec = (cmd: string, args: string[]) => Promise<{ code: number; stdout: string }>;

export const execCommand: Exec = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 5000, encoding: 'utf8' }, (err, stdout) => {
      const code = err
        ? typeof (err as NodeJS.ErrnoException).code === 'number'
          ? Number((err as NodeJS.ErrnoException).code)
          : 127
        : 0;
      resolve({ code, stdout: String(stdout ?? '') });
    });
  });

export interface ClockStatus {
  synced: boolean | null;
  source: Text;
}

/** systemd-timesyncd's flag file, then timedatectl, then chrony; null when nothing can tell. */
export async function clockStatus(o: { runRoot?: string; exec?: Exec } = {}): Promise<ClockStatus> {
  const run = o.runRoot ?? '/run';
  const exec = o.exec ?? execCommand;
  const exists = (p: string) =>
    access(p).then(
      () => true,
      () => false,
    );
  if (await exists(join(run, 'systemd/timesync/synchronized'))) return { synced: true, source: 'systemd-timesyncd' };
  if (await exists(join(run, 'systemd/timesync'))) return { synced: false, source: msg('check.clock.timesyncWaiting') };
  const t = await exec('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  if (t.code === 0 && /^(yes|no)$/m.test(t.stdout.trim()))
    return { synced: t.stdout.trim() === 'yes', source: 'timedatectl' };
  const c = await exec('chronyc', ['tracking']);
  if (c.code === 0) {
    const leap = /Leap status\s*:\s*(.+)/.exec(c.stdout)?.[1]?.trim();
    if (leap) return { synced: leap === 'Normal', source: msg('check.clock.chrony', { leap }) };
  }
  return { synced: null, source: msg('check.clock.noService') };
}

export function clockOutcome(s: ClockStatus, now: Date): Outcome {
  const at = msg('check.clock.now', { time: now.toISOString().replace(/\.\d+Z$/, 'Z') });
  const source = s.source;
  if (s.synced === true) return pass(msg('check.clock.ok', { source, at }));
  const why = msg('check.clock.why');
  if (s.synced === false) return fail(msg('check.clock.not', { source, at }), msg('check.clock.not.hint', { why }));
  return warn(msg('check.clock.unknown', { source, at }), msg('check.clock.unknown.hint', { why }));
}

// ---- disk and directories ----

async function nearestExisting(p: string): Promise<string> {
  for (let d = p; ; d = dirname(d)) {
    try {
      await stat(d);
      return d;
    } catch {
      if (dirname(d) === d) return d;
    }
  }
}

async function freeMB(p: string): Promise<number> {
  const s = await statfs(await nearestExisting(p));
  return Math.floor((s.bavail * s.bsize) / 1048576);
}

const mb = (n: number) => (n >= 10_240 ? `${(n / 1024).toFixed(1)} GB` : `${n} MB`);

/** The thresholds and wording are the agent's selftest's too (agent/domain/hardware-verdicts.ts). */
export async function checkDisk(c: Config): Promise<Outcome> {
  const [state, cache] = await Promise.all([freeMB(c.stateDir), freeMB(c.cacheDir)]);
  const low = state < cache ? { mb: state, where: c.stateDir } : { mb: cache, where: c.cacheDir };
  const v = fromVerdict((lang) => diskVerdict(low.mb, low.where, c.cache.quotaMB, lang));
  return { ...v, detail: msg('check.disk', { state: mb(state), cache: mb(cache), detail: v.detail }) };
}

/** Create, write, fsync, read and delete a file in `dir`; as root, also make sure the agent's user may write there. */
export async function checkWritable(dir: string, account: Account | undefined): Promise<Outcome> {
  const probe = join(dir, `.loa-check-${process.pid}`);
  try {
    const created = await mkdir(dir, { recursive: true, mode: 0o750 });
    // What we create as root belongs to the agent, as systemd's StateDirectory= would make it.
    if (created && account)
      for (let d = dir; d.startsWith(created); d = dirname(d)) await chown(d, account.uid, account.gid);
    const fh = await open(probe, 'w', 0o600);
    try {
      await fh.writeFile('loa check\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await unlink(probe);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hints: Record<string, Text> = {
      EACCES: msg('check.dir.perm', { dir }),
      EPERM: msg('check.dir.perm', { dir }),
      EROFS: msg('check.dir.rofs'),
      ENOSPC: msg('check.dir.full'),
      ENOTDIR: msg('check.dir.notDir', { dir }),
      EEXIST: msg('check.dir.notDir', { dir }),
    };
    return fail(
      `${dir}: ${e.code ?? ''} ${e.message.replace(/^\w+: /, '')}`.trim(),
      hints[e.code ?? ''] ?? msg('check.dir.other', { dir }),
    );
  }
  if (account) {
    const s = await stat(dir);
    const m = s.mode;
    const agentCan = (s.uid === account.uid && m & 0o200) || (s.gid === account.gid && m & 0o020) || m & 0o002;
    if (!agentCan)
      return fail(
        msg('check.dir.agentCannot', {
          dir,
          user: account.user,
          owner: `${s.uid}:${s.gid}`,
          mode: (m & 0o777).toString(8),
        }),
        msg('check.dir.chown', { user: account.user, dir }),
      );
  }
  const entries = await readdir(dir).then(
    (e) => e.length,
    () => 0,
  );
  return pass(msg(entries === 1 ? 'check.dir.ok1' : 'check.dir.ok', { dir, n: entries }));
}

// ---- certificate, DNS, broker ----

export async function checkCertificate(c: Config, now: Date, configDir: string): Promise<Outcome> {
  if (!c.mqtt.url.startsWith('mqtts:')) return skip(msg('check.cert.plain'), msg('check.cert.plain.hint'));
  if (!c.mqtt.cert || !c.mqtt.key) {
    const csr = join(configDir, 'device.csr');
    const waiting = await access(csr, constants.R_OK).then(
      () => msg('check.cert.awaits', { csr }),
      () => '',
    );
    return skip(msg('check.cert.none', { waiting }), msg('check.cert.none.hint'));
  }
  let cert;
  try {
    cert = readCertificate(c.mqtt.cert);
  } catch (err) {
    return fail(
      msg('check.cert.notPem', { path: c.mqtt.cert, error: (err as Error).message }),
      msg('check.cert.install'),
    );
  }
  const info = certInfo(cert);
  try {
    if (!certMatchesKey(cert, readPrivateKey(c.mqtt.key)))
      return fail(msg('check.cert.mismatch', { cert: c.mqtt.cert, key: c.mqtt.key }), msg('check.cert.mismatch.hint'));
  } catch (err) {
    return fail(
      msg('check.cert.keyUnreadable', { key: c.mqtt.key, error: (err as Error).message }),
      msg('check.runAsRoot'),
    );
  }
  const days = Math.floor((info.validTo.getTime() - now.getTime()) / 86_400_000);
  const detail = msg('check.cert.detail', {
    subject: info.subject,
    issuer: info.issuer.replace(/^.*CN=/, 'CN='),
    date: info.validTo.toISOString().slice(0, 10),
  });
  if (now < info.validFrom)
    return fail(
      msg('check.cert.notYet', { from: info.validFrom.toISOString(), detail }),
      msg('check.cert.notYet.hint'),
    );
  if (days < 0) return fail(msg('check.cert.expired', { detail }), msg('check.cert.expired.hint'));
  if (days < 30) return warn(msg('check.cert.soon', { days, detail }), msg('check.cert.soon.hint'));
  return pass(detail);
}

export async function checkDns(
  t: BrokerTarget,
  timeoutMs: number,
): Promise<{ outcome: Outcome; addresses?: string[] }> {
  if (isIP(t.host)) return { outcome: pass(msg('check.dns.ip', { host: t.host })), addresses: [t.host] };
  try {
    const addresses = await resolveAll(t.host, timeoutMs);
    return { outcome: pass(`${t.host} → ${addresses.join(', ')}`), addresses };
  } catch (err) {
    const f = explain('dns', err as Error & { code?: string }, t, { timeoutMs, clockSynced: null });
    return { outcome: fail(f.detail, f.hint) };
  }
}

export async function checkBroker(
  t: BrokerTarget,
  o: { addresses?: string[]; timeoutMs: number; clockSynced: boolean | null; onFallback?: (line: Text) => void },
): Promise<{ outcome: Outcome; connected?: Connected }> {
  try {
    const connected = await connectBroker(t, {
      timeoutMs: o.timeoutMs,
      clockSynced: o.clockSynced,
      ...(o.addresses ? { addresses: o.addresses } : {}),
      ...(o.onFallback ? { onFallback: o.onFallback } : {}),
    });
    const tls = connected.tls
      ? cat(
          `TLS ${connected.tls.protocol ?? ''} `,
          connected.tls.authorized
            ? msg('check.broker.verified', { peer: connected.tls.peer })
            : msg('check.broker.unverified'),
          t.cert ? msg('check.broker.clientCert') : '',
        )
      : msg('check.broker.noTls');
    const auth = t.username !== undefined ? msg('check.broker.user', { user: t.username }) : msg('check.broker.noUser');
    const steps = Object.entries(connected.ms)
      .map(([k, v]) => `${k} ${v} ms`)
      .join(', ');
    const what = msg('check.broker.ok', {
      url: t.url,
      tls,
      auth,
      version: String(connected.version),
      clientId: t.clientId,
      steps,
    });
    // The agent uses mqtt.version as it is: a broker that took only 3.1.1 would refuse it.
    if (connected.refusedV5 !== undefined && t.configVersion === 5) {
      return {
        outcome: fail(
          msg('check.broker.v5refused', { what, refused: connected.refusedV5 }),
          msg('check.broker.v5refused.hint'),
        ),
        connected,
      };
    }
    if (connected.version !== t.configVersion) {
      return {
        outcome: warn(
          cat(what, ' (--mqtt-version)'),
          msg('check.broker.forced.hint', { version: String(t.configVersion) }),
        ),
        connected,
      };
    }
    return { outcome: pass(what), connected };
  } catch (err) {
    if (err instanceof BrokerError)
      return { outcome: fail(cat(err.failure.stage.toUpperCase(), ': ', err.failure.detail), err.failure.hint) };
    throw err;
  }
}

export function brokerTarget(c: Config, clientId?: string): { target?: BrokerTarget; outcome?: Outcome } {
  try {
    return { target: targetFromConfig(c, clientId) };
  } catch (err) {
    if (err instanceof BrokerError) return { outcome: fail(err.failure.detail, err.failure.hint) };
    throw err;
  }
}
