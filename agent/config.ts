// The agent's configuration: load the file, validate it against the schema
// (config-schema.ts: defaults, validation, the Config type), resolve its paths and check
// who else may touch the files it trusts (config-files.ts). A bad file must fail at start
// with a message a technician can act on (config-issues.ts), never at 3 a.m. in the middle
// of a warning.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LoaError } from './errors.js';
import { checkFileModes } from './config-files.js';
import { configSchema, type Config } from './config-schema.js';
import { describeIssue, jsonErrorWhere } from './config-issues.js';

export { configSchema, ID_PATTERN, type Config, type ConfigInput } from './config-schema.js';
export const DEFAULT_CONFIG_PATH = '/etc/loa/agent.json';

export class ConfigError extends LoaError {
  readonly problems: readonly string[];
  constructor(code: 'CONFIG_INVALID' | 'CONFIG_UNREADABLE' | 'CONFIG_INSECURE', problems: string[]) {
    super(code, problems.join('; '));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Validate an already-parsed JSON value; relative paths resolve against `baseDir`. */
export function parseConfig(raw: unknown, baseDir = process.cwd()): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      'CONFIG_INVALID',
      result.error.issues.map((i) => describeIssue(i, raw)),
    );
  }
  const c = result.data;
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(baseDir, p));
  return deepFreeze({
    ...c,
    stateDir: resolve(baseDir, c.stateDir),
    cacheDir: resolve(baseDir, c.cacheDir),
    clock: { ...c.clock, runRoot: resolve(baseDir, c.clock.runRoot) },
    mqtt: {
      ...c.mqtt,
      ca: abs(c.mqtt.ca),
      cert: abs(c.mqtt.cert),
      key: abs(c.mqtt.key),
      passwordFile: abs(c.mqtt.passwordFile),
      passwordValue: c.mqtt.password,
    },
  }) as Config;
}

/** Read, validate and security-check the config file. Throws ConfigError. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'does not exist' : e.code === 'EACCES' ? 'is not readable by this user' : e.message;
    throw new ConfigError('CONFIG_UNREADABLE', [`${path}: ${why}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError('CONFIG_INVALID', [`${path}: not valid JSON: ${jsonErrorWhere(text, err as Error)}`]);
  }
  const config = parseConfig(raw, dirname(resolve(path)));
  const insecure = checkFileModes(path, config);
  if (insecure.length > 0) throw new ConfigError('CONFIG_INSECURE', insecure);
  if (config.mqtt.passwordFile !== undefined) {
    let pw: string;
    try {
      pw = readFileSync(config.mqtt.passwordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError('CONFIG_UNREADABLE', [
        `mqtt.passwordFile: ${JSON.stringify(config.mqtt.passwordFile)} cannot be read (${(err as Error).message})`,
      ]);
    }
    return deepFreeze({ ...config, mqtt: { ...config.mqtt, passwordValue: pw } }) as Config;
  }
  return config;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
