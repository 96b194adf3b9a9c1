// Who else can read or write the files the agent trusts: the config, the broker password
// file, the TLS key, the CA and client certificates. loadConfig refuses to start with any
// problem found here (CONFIG_INSECURE), each with the chmod that fixes it.
import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from './config-schema.js';

/**
 * A password or private key that any local user can read is a key to every speaker in
 * the commune; a config, key or CA certificate that someone else can write lets them add
 * a trusted signing key or impersonate the broker. So, for every file the agent trusts
 * (the config, mqtt.passwordFile, mqtt.key, mqtt.ca, mqtt.cert):
 * - it must not be writable by its group or by others (`chmod go-w`, secrets `chmod 600`);
 * - a secret (passwordFile, key, a config holding mqtt.password) must not be readable by others;
 * - no directory on its path may be writable by others, unless that directory is sticky
 *   (like /tmp, mode 1777: only an entry's owner or root may rename or delete it, so
 *   nobody can swap the file). A file directly in such a directory must then be owned
 *   by this user or root: anyone could have created it before us.
 * A real box keeps them in /etc/loa (root:loa 0750; config 0640, secrets 0600).
 */
export function checkFileModes(configPath: string, c: Config): string[] {
  const problems: string[] = [];
  const info = (p: string) => {
    try {
      return statSync(p);
    } catch {
      return undefined;
    }
  };
  const octal = (m: number) => (m & 0o7777).toString(8).padStart(4, '0');
  const writers = (m: number) => (m & 0o002 ? 'any user' : 'its group');
  const dirsSeen = new Set<string>();
  const checkDirs = (what: string, p: string) => {
    let real: string;
    try {
      real = realpathSync(p);
    } catch {
      return;
    }
    const me = process.getuid?.() ?? 0;
    for (let dir = dirname(real), child = real; ; child = dir, dir = dirname(dir)) {
      const st = info(dir);
      if (st && st.mode & 0o002) {
        if (!(st.mode & 0o1000)) {
          if (!dirsSeen.has(dir))
            problems.push(
              `${dir}: writable by any user (mode ${octal(st.mode)}) and holds ${what}; anyone could replace it. Run: chmod o-w ${dir}`,
            );
          dirsSeen.add(dir);
        } else {
          const owner = info(child)?.uid;
          if (owner !== undefined && owner !== 0 && owner !== me) {
            problems.push(
              `${child}: in the shared directory ${dir} (mode ${octal(st.mode)}) but owned by uid ${owner}, not by this user or root; anyone could have placed it there. Move it to /etc/loa`,
            );
          }
        }
      }
      if (dir === dirname(dir)) break;
    }
  };

  const cs = info(configPath);
  if (cs !== undefined) {
    if (cs.mode & 0o022) {
      problems.push(
        `${configPath}: writable by ${writers(cs.mode)} (mode ${octal(cs.mode)}); anyone who can write it could add a trusted key. Run: chmod go-w ${configPath}`,
      );
    }
    if (cs.mode & 0o004 && c.mqtt.password !== undefined) {
      problems.push(
        `${configPath}: holds mqtt.password but is readable by any user (mode ${octal(cs.mode)}). Run: chmod o-r ${configPath}, or move the password to mqtt.passwordFile`,
      );
    }
    checkDirs('the configuration', configPath);
  }
  for (const [field, p] of [
    ['mqtt.passwordFile', c.mqtt.passwordFile],
    ['mqtt.key', c.mqtt.key],
  ] as const) {
    if (p === undefined) continue;
    const st = info(p);
    if (st === undefined) problems.push(`${field}: ${JSON.stringify(p)} does not exist or cannot be read`);
    else if (st.mode & 0o004)
      problems.push(
        `${field}: ${JSON.stringify(p)} is a secret readable by any user (mode ${octal(st.mode)}). Run: chmod 600 ${p}`,
      );
    else if (st.mode & 0o022)
      problems.push(
        `${field}: ${JSON.stringify(p)} is a secret writable by ${writers(st.mode)} (mode ${octal(st.mode)}). Run: chmod 600 ${p}`,
      );
    if (st !== undefined) checkDirs(field, p);
  }
  for (const [field, p] of [
    ['mqtt.ca', c.mqtt.ca],
    ['mqtt.cert', c.mqtt.cert],
  ] as const) {
    if (p === undefined) continue;
    const st = info(p);
    if (st === undefined) {
      problems.push(`${field}: ${JSON.stringify(p)} does not exist or cannot be read`);
      continue;
    }
    if (st.mode & 0o022)
      problems.push(
        `${field}: ${JSON.stringify(p)} is writable by ${writers(st.mode)} (mode ${octal(st.mode)}); whoever can write it chooses whom the agent trusts. Run: chmod go-w ${p}`,
      );
    checkDirs(field, p);
  }
  return problems;
}
