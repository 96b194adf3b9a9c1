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
import { fail, pass, skip, warn, type Outcome } from './report.js';

export function checkConfig(path: string): { outcome: Outcome; config?: Config; problems?: readonly string[] } {
  try {
    const config = loadConfig(path);
    return { outcome: pass(`${path}: device ${config.deviceId}, board ${config.hardware.board}`), config };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const hint =
      err.code === 'CONFIG_UNREADABLE' && /does not exist/.test(err.problems.join())
        ? `run loa-provision init first (or pass --config PATH)`
        : err.code === 'CONFIG_INSECURE'
          ? 'run the chmod shown above'
          : 'fix the fields listed above, or run loa-provision init again';
    return {
      outcome: fail(`${err.code}: ${err.problems.length} problem${err.problems.length > 1 ? 's' : ''}`, hint),
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
  source: string;
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
  if (await exists(join(run, 'systemd/timesync')))
    return { synced: false, source: 'systemd-timesyncd (not synchronised yet)' };
  const t = await exec('timedatectl', ['show', '-p', 'NTPSynchronized', '--value']);
  if (t.code === 0 && /^(yes|no)$/m.test(t.stdout.trim()))
    return { synced: t.stdout.trim() === 'yes', source: 'timedatectl' };
  const c = await exec('chronyc', ['tracking']);
  if (c.code === 0) {
    const leap = /Leap status\s*:\s*(.+)/.exec(c.stdout)?.[1]?.trim();
    if (leap) return { synced: leap === 'Normal', source: `chrony (leap status ${leap})` };
  }
  return { synced: null, source: 'no time-sync service answered (timesyncd, timedatectl, chrony)' };
}

export function clockOutcome(s: ClockStatus, now: Date): Outcome {
  const at = `now ${now.toISOString().replace(/\.\d+Z$/, 'Z')}`;
  if (s.synced === true) return pass(`synchronised (${s.source}), ${at}`);
  const why = 'schedules would play at the wrong time and TLS certificates look expired';
  if (s.synced === false)
    return fail(
      `NOT synchronised: ${s.source}, ${at}`,
      `${why}; check the network, then: sudo timedatectl set-ntp true; timedatectl timesync-status`,
    );
  return warn(`cannot tell: ${s.source}, ${at}`, `compare the time above with your phone; ${why} if it is wrong`);
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
  const v = diskVerdict(low.mb, low.where, c.cache.quotaMB);
  return { ...v, detail: `state ${mb(state)}, cache ${mb(cache)}: ${v.detail}` };
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
    const hints: Record<string, string> = {
      EACCES: `no permission: sudo chown -R loa:loa ${dir} (or run the check with sudo)`,
      EPERM: `no permission: sudo chown -R loa:loa ${dir} (or run the check with sudo)`,
      EROFS: 'the file system is read-only: the SD card may be failing (dmesg | grep -i mmc) or mounted read-only',
      ENOSPC: 'the disk is full: see the disk space line',
      ENOTDIR: `part of ${dir} is a file, not a directory: fix the path in the config`,
      EEXIST: `part of ${dir} is a file, not a directory: fix the path in the config`,
    };
    return fail(
      `${dir}: ${e.code ?? ''} ${e.message.replace(/^\w+: /, '')}`.trim(),
      hints[e.code ?? ''] ?? `check ${dir} (ls -ld ${dir})`,
    );
  }
  if (account) {
    const s = await stat(dir);
    const m = s.mode;
    const agentCan = (s.uid === account.uid && m & 0o200) || (s.gid === account.gid && m & 0o020) || m & 0o002;
    if (!agentCan)
      return fail(
        `${dir}: root can write, but not the agent's user ${account.user} (owner ${s.uid}:${s.gid}, mode ${(m & 0o777).toString(8)})`,
        `sudo chown -R ${account.user}:${account.user} ${dir}`,
      );
  }
  const entries = await readdir(dir).then(
    (e) => e.length,
    () => 0,
  );
  return pass(`${dir} (${entries} entr${entries === 1 ? 'y' : 'ies'})`);
}

// ---- certificate, DNS, broker ----

export async function checkCertificate(c: Config, now: Date, configDir: string): Promise<Outcome> {
  if (!c.mqtt.url.startsWith('mqtts:'))
    return skip('plain mqtt://: no TLS, no client certificate', 'use mqtts:// outside a lab');
  if (!c.mqtt.cert || !c.mqtt.key) {
    const csr = join(configDir, 'device.csr');
    const waiting = await access(csr, constants.R_OK).then(
      () => ` (${csr} awaits signing)`,
      () => '',
    );
    return skip(
      `none configured: the broker must accept the password alone${waiting}`,
      'if the broker requires mutual TLS: loa-provision init --cert SIGNED.crt',
    );
  }
  let cert;
  try {
    cert = readCertificate(c.mqtt.cert);
  } catch (err) {
    return fail(
      `${c.mqtt.cert}: not a PEM certificate (${(err as Error).message})`,
      'install the certificate the centre signed: loa-provision init --cert FILE',
    );
  }
  const info = certInfo(cert);
  try {
    if (!certMatchesKey(cert, readPrivateKey(c.mqtt.key)))
      return fail(
        `${c.mqtt.cert} does not belong to ${c.mqtt.key}`,
        "the certificate was made for another key: send this box's device.csr to the centre and install the new certificate",
      );
  } catch (err) {
    return fail(`${c.mqtt.key}: cannot read the key (${(err as Error).message})`, 'run as root (sudo)');
  }
  const days = Math.floor((info.validTo.getTime() - now.getTime()) / 86_400_000);
  const detail = `${info.subject}, issued by ${info.issuer.replace(/^.*CN=/, 'CN=')}, valid until ${info.validTo.toISOString().slice(0, 10)}`;
  if (now < info.validFrom)
    return fail(
      `not valid before ${info.validFrom.toISOString()}: ${detail}`,
      'the clock is behind (see the clock line), or the centre dated it in the future',
    );
  if (days < 0)
    return fail(
      `EXPIRED: ${detail}`,
      'ask the centre for a new certificate for device.csr, then loa-provision init --cert FILE',
    );
  if (days < 30) return warn(`expires in ${days} days: ${detail}`, 'ask the centre to renew it before it expires');
  return pass(detail);
}

export async function checkDns(
  t: BrokerTarget,
  timeoutMs: number,
): Promise<{ outcome: Outcome; addresses?: string[] }> {
  if (isIP(t.host)) return { outcome: pass(`${t.host} is an IP address (no lookup)`), addresses: [t.host] };
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
  o: { addresses?: string[]; timeoutMs: number; clockSynced: boolean | null; onFallback?: (line: string) => void },
): Promise<{ outcome: Outcome; connected?: Connected }> {
  try {
    const connected = await connectBroker(t, {
      timeoutMs: o.timeoutMs,
      clockSynced: o.clockSynced,
      ...(o.addresses ? { addresses: o.addresses } : {}),
      ...(o.onFallback ? { onFallback: o.onFallback } : {}),
    });
    const tls = connected.tls
      ? `TLS ${connected.tls.protocol ?? ''} ${connected.tls.authorized ? `server verified (${connected.tls.peer})` : 'server NOT verified (insecureSkipVerify)'}${t.cert ? ', client certificate' : ''}`
      : 'no TLS';
    const auth = t.username !== undefined ? `user ${t.username}` : 'no username';
    const steps = Object.entries(connected.ms)
      .map(([k, v]) => `${k} ${v} ms`)
      .join(', ');
    const what = `${t.url}: ${tls}, ${auth}, MQTT ${connected.version} as ${t.clientId} (${steps})`;
    // The agent uses mqtt.version as it is: a broker that took only 3.1.1 would refuse it.
    if (connected.refusedV5 !== undefined && t.configVersion === 5) {
      return {
        outcome: fail(
          `${what}; MQTT 5 was refused (${connected.refusedV5})`,
          `the broker speaks MQTT 3.1.1 only and the agent's config asks for 5: loa-provision init --mqtt-version 3.1.1, then restart the agent`,
        ),
        connected,
      };
    }
    if (connected.version !== t.configVersion) {
      return {
        outcome: warn(
          `${what} (--mqtt-version)`,
          `the agent connects with mqtt.version ${t.configVersion}, not checked here: run without --mqtt-version to check it`,
        ),
        connected,
      };
    }
    return { outcome: pass(what), connected };
  } catch (err) {
    if (err instanceof BrokerError)
      return { outcome: fail(`${err.failure.stage.toUpperCase()}: ${err.failure.detail}`, err.failure.hint) };
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
