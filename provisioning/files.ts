// Files that survive a power cut in the middle of provisioning (STYLE habit 8): write a
// temporary file, fsync it, set its mode, rename it over the target, fsync the
// directory. A box whose config is half written at 3 a.m. does not start.
//
// Ownership: the agent runs as user `loa` (systemd/loa-agent.service) and /etc/loa is
// root:loa 0750. So the config is root:loa 0640 (the agent reads it through its group
// and cannot add a trusted key to it), and secrets are loa:loa 0600 (only the agent and
// root read them). When we are not root (tests, a developer) nothing is chowned.
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const CONFIG_MODE = 0o640;
export const SECRET_MODE = 0o600;
export const PUBLIC_MODE = 0o644;

/** What init writes next to the config (mqtt.* paths in the config are relative to it). */
export const FILES = {
  key: 'device.key',
  csr: 'device.csr',
  cert: 'device.crt',
  ca: 'ca.crt',
  password: 'mqtt-password',
} as const;

export interface Account {
  user: string;
  uid: number;
  gid: number;
}

/** The agent's system user, when we are root and it exists; undefined otherwise. */
export function agentAccount(user = 'loa'): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => {
    const r = spawnSync('id', [flag, user], { encoding: 'utf8' });
    return r.status === 0 ? Number(r.stdout.trim()) : NaN;
  };
  const uid = id('-u');
  const gid = id('-g');
  return Number.isInteger(uid) && Number.isInteger(gid) ? { user, uid, gid } : undefined;
}

export type Owner = 'config' | 'secret' | 'public';

/** Write `data` to `path` atomically with `mode`; chown per `owner` when root and the agent user exists. */
export function atomicWrite(
  path: string,
  data: string | Buffer,
  mode: number,
  owner: Owner = 'public',
  account?: Account,
): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  // O_EXCL: a stale tmp from a killed run is replaced, never followed through a symlink.
  if (existsSync(tmp)) unlinkSync(tmp);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(tmp, mode); // the umask may have taken bits away at open()
    applyOwner(tmp, owner, account);
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
  syncDir(dirname(path));
}

export function applyOwner(path: string, owner: Owner, account: Account | undefined): void {
  if (!account) return;
  if (owner === 'config') chownSync(path, 0, account.gid);
  else if (owner === 'secret') chownSync(path, account.uid, account.gid);
}

export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  }
}

/** `agent.json.bak-20261126T063000` (local time, as the technician reads it on the box). */
export function backupName(path: string, now: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}T${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `${path}.bak-${stamp}`;
}

/** Copy `path` to a timestamped backup next to it, keeping its mode and owner; returns the backup's path. */
export function backupFile(path: string, now: Date): string {
  const base = backupName(path, now);
  let target = base;
  for (let i = 1; existsSync(target); i++) target = `${base}-${i}`;
  const st = statSync(path);
  copyFileSync(path, target, constants.COPYFILE_EXCL);
  chmodSync(target, st.mode & 0o777);
  if (process.getuid?.() === 0) chownSync(target, st.uid, st.gid);
  syncDir(dirname(path));
  return target;
}

export function modeOf(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
}

export const octal = (m: number) => '0' + m.toString(8).padStart(3, '0');
