// The agent's configuration: one schema gives the defaults, the validation and the
// TypeScript type. A bad file must fail at start with a message a technician can act
// on (`mqtt.url: "mqtt:/x" is not a URL`), never at 3 a.m. in the middle of a warning.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_MAX_DOC_BYTES, ID_RE } from '../contract/schedule-doc.js';
import { KEY_ROLES } from '../contract/verify.js';
import { LoaError } from './errors.js';
import { redact } from './domain/redact.js';
import { checkFileModes } from './config-files.js';
import { CLOCK_SOURCE_NAMES } from './adapters/clock-sources.js';
import { DEFAULT_PROFILE_TIMEZONE, volumeProfileSchema } from './domain/volume-policy.js';

/** The contract's identifier pattern, defined once in the document schema. */
export const ID_PATTERN = ID_RE;
export const DEFAULT_CONFIG_PATH = '/etc/loa/agent.json';

const id = (what: string) =>
  z
    .string(`is not a string (expected ${what})`)
    .regex(ID_PATTERN, `is not a valid ${what} (expected ${ID_PATTERN.source})`);

const brokerUrl = z.string('is not a string (expected a broker URL)').superRefine((s, ctx) => {
  let u: URL | undefined;
  try {
    u = new URL(s);
  } catch {
    // reported below
  }
  if (!u || u.hostname === '' || (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:')) {
    ctx.addIssue({
      code: 'custom',
      message: 'is not a URL of the form mqtt://host[:port] or mqtts://host[:port]',
      input: s,
    });
  } else if (u.username !== '' || u.password !== '') {
    // A URL is printed wherever the broker is named (logs, status, support bundles): a
    // password inside it would go with it. The value shown in the message is redacted.
    ctx.addIssue({
      code: 'custom',
      message: `holds credentials: remove "user${u.password !== '' ? ':password' : ''}@" from the URL and put the user name in mqtt.username and the password in mqtt.passwordFile (a file of mode 0600) or mqtt.password`,
      input: s,
    });
  }
});

const filePath = z.string('is not a string (expected a file path)').min(1, 'is empty (expected a file path)');

/** Raw Ed25519 public key, 32 bytes, base64url without padding (what `noc keys` prints). */
const ed25519Key = z
  .string('is not a string (expected a base64url Ed25519 public key)')
  .refine(
    (s) => /^[A-Za-z0-9_-]{43}$/.test(s) && Buffer.from(s, 'base64url').length === 32,
    'is not a raw Ed25519 public key (expected 43 base64url characters = 32 bytes)',
  );

const seconds = (min: number, max: number) =>
  z
    .number('is not a number (expected seconds)')
    .int('is not a whole number of seconds')
    .min(min, `is below the minimum of ${min} s`)
    .max(max, `is above the maximum of ${max} s`);

const mqttSchema = z.strictObject({
  url: brokerUrl,
  clientId: id('client id').optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  /** Read the password from this file instead of the config (mode 0600 / 0640). */
  passwordFile: filePath.optional(),
  ca: filePath.optional(),
  cert: filePath.optional(),
  key: filePath.optional(),
  /** Server certificate verification. Turning it off lets anyone on the path impersonate the centre. */
  insecureSkipVerify: z.boolean().default(false),
  version: z
    .union(
      [z.literal(5), z.literal('5'), z.literal('3.1.1')],
      'is not a supported MQTT version (expected 5 or "3.1.1")',
    )
    .default(5)
    .transform((v) => (v === '3.1.1' ? ('3.1.1' as const) : (5 as const))),
  keepaliveS: seconds(5, 1200).default(60),
  /** MQTT 5 session expiry; the contract asks for at least one day. */
  sessionExpiryS: seconds(86_400, 4_294_967).default(7 * 86_400),
  connectTimeoutS: seconds(1, 300).default(30),
  reconnect: z
    .strictObject({
      /** First retry waits a random time in [0, minS]; each failure doubles the ceiling up to maxS. */
      minS: seconds(1, 3600).default(2),
      maxS: seconds(1, 86_400).default(300),
    })
    .prefault({}),
});

const siteSchema = z
  .strictObject({
    communeName: z.string().optional(),
    communeCode: z.string().optional(),
    province: z.string().optional(),
    address: z.string().optional(),
    lat: z
      .number('is not a number (expected degrees)')
      .min(-90, 'is not a latitude (-90 to 90)')
      .max(90, 'is not a latitude (-90 to 90)')
      .optional(),
    lon: z
      .number('is not a number (expected degrees)')
      .min(-180, 'is not a longitude (-180 to 180)')
      .max(180, 'is not a longitude (-180 to 180)')
      .optional(),
    installer: z.string().optional(),
    installedAt: z.string().optional(),
  })
  .prefault({});

const gpioPin = z.strictObject({
  /** BCM line number (GPIO17 is 17), whatever the kernel's sysfs numbering base. */
  line: z.number('is not a number (expected a BCM line number)').int().min(0).max(127),
  activeLow: z.boolean().default(false),
});

const hardwareSchema = z
  .strictObject({
    board: z.enum(['sim', 'gpio', 'mcu'], 'is not a supported board (expected "sim", "gpio" or "mcu")').default('sim'),
    /** The amplifier is switched on this long before the scheduled instant, so audio starts on it. */
    ampWarmUpMs: z.number().int().min(0, 'is below 0 ms').max(60_000, 'is above 60,000 ms').default(2000),
    /** The amplifier stays on this long after the last item, so back-to-back items do not click the relay. */
    ampHoldMs: z.number().int().min(0).max(600_000).default(5000),
    gpio: z
      .strictObject({
        backend: z.enum(['auto', 'sysfs', 'gpiod'], 'is not "auto", "sysfs" or "gpiod"').default('auto'),
        pins: z.strictObject({ amp: gpioPin, inputFm: gpioPin, inputLine: gpioPin, ampFault: gpioPin.optional() }),
      })
      .optional(),
    /** The IO microcontroller (firmware-bridge/PROTOCOL.md), for hardware.board "mcu". */
    mcu: z
      .strictObject({
        /** Serial device; the udev rule in systemd/ names it /dev/loa-io. "sim": the in-process simulator. */
        path: z.string().min(1).default('/dev/loa-io'),
        baudRate: z.number().int().min(1200).max(3_000_000).default(115_200),
        /** Host watchdog: the board turns the amplifier off after this many seconds without us (3 to 600). */
        watchdogS: z.number().int().min(3, "is below 3 s (the board's minimum)").max(600, 'is above 600 s').default(10),
      })
      .prefault({}),
    /** A fault is reported recovered only after it stayed clear this long (a flapping door is one event). */
    faultRecoverS: seconds(0, 3600).default(30),
  })
  .prefault({})
  .superRefine((h, ctx) => {
    if (h.board === 'gpio' && !h.gpio) {
      ctx.addIssue({
        code: 'custom',
        path: ['gpio'],
        message: 'is required when hardware.board is "gpio" (pins for amp, inputFm, inputLine)',
        input: undefined,
      });
    }
  });

const audioSchema = z
  .strictObject({
    /** "mpg123" on a box; "auto" falls back to a silent stand-in (said loudly) where mpg123 is missing. */
    player: z.enum(['mpg123', 'auto', 'stand-in'], 'is not "mpg123", "auto" or "stand-in"').default('mpg123'),
    mpg123Path: z.string().default('mpg123'),
    /** "alsa": the sound card; "paced": decode and discard at real-time rate (demo, machines without a card). */
    output: z.enum(['alsa', 'paced'], 'is not "alsa" or "paced"').default('alsa'),
    /** ALSA device the player writes to. */
    device: z.string().default('default'),
    /** Percent of full scale that item volume 100 × master volume 100 gives. */
    maxVolume: z.number().min(0).max(100).default(100),
    startTimeoutS: seconds(1, 120).default(15),
    /** A stream whose playback does not advance for this long has gone silent: fail over. */
    stallTimeoutS: seconds(1, 120).default(10),
  })
  .prefault({});

/** Volume safety (docs/protocol.md §3 "Volume"); levels are percent of audio.maxVolume. */
const volumeSchema = z
  .strictObject({
    /** After any restart the master in force is min(persisted master, safeLevel) until a `volume` command. */
    safeLevel: z
      .number('is not a number (expected 0 to 100)')
      .min(0, 'is below 0')
      .max(100, 'is above 100')
      .default(50),
    /** Emergency content (priority 100) plays at this level, ignoring the master, the item's volume and the profile. */
    emergencyLevel: z
      .number('is not a number (expected 1 to 100)')
      .min(1, 'is below 1 (an emergency must be heard)')
      .max(100, 'is above 100')
      .default(100),
    /** Daily windows capping normal and priority content (quiet hours); a `volume-profile` command replaces it. */
    profile: volumeProfileSchema.default({ timezone: DEFAULT_PROFILE_TIMEZONE, windows: [] }),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    deviceId: id('device id'),
    groups: z.array(id('group name'), 'is not a list of group names').default([]),
    site: siteSchema,
    mqtt: mqttSchema,
    topicRoot: z
      .string()
      .regex(/^[^#+\s]+[^/#+\s]$|^[^#+/\s]$/, 'is not a valid topic root (no wildcards, spaces or trailing "/")')
      .default('loa/v1'),
    trustedKeys: z
      .array(
        z.strictObject({
          kid: id('key id'),
          publicKey: ed25519Key,
          /** What the key may sign; absent: schedules and commands, never a release. */
          roles: z
            .array(z.enum(KEY_ROLES, `is not one of ${KEY_ROLES.join(', ')}`), 'is not a list of roles')
            .min(1, 'is empty: a key with no role signs nothing (remove the key instead)')
            .refine((r) => new Set(r).size === r.length, 'names a role twice')
            .optional(),
        }),
        'is not a list of {kid, publicKey, roles?}',
      )
      .default([]),
    stateDir: filePath.default('/var/lib/loa'),
    cacheDir: filePath.default('/var/cache/loa'),
    heartbeatS: seconds(5, 3600).default(30),
    outbox: z
      .strictObject({
        /** At most this many undelivered events are kept; see docs/protocol.md §7 (`outbox.dropped`) for the policy when full. */
        maxEvents: z.number().int().min(100, 'is below the minimum of 100 events').max(10_000_000).default(200_000),
        /** Events published and not yet acknowledged at once. */
        window: z.number().int().min(1).max(1000).default(64),
        /** 'full': each event is on disk (fsync) when emit returns; 'normal': survives crashes, not power cuts. */
        synchronous: z.enum(['full', 'normal'], 'is not "full" or "normal"').default('full'),
      })
      .prefault({}),
    hardware: hardwareSchema,
    audio: audioSchema,
    volume: volumeSchema,
    schedule: z
      .strictObject({
        /** Signed documents larger than this are rejected (`too-large`) before any parsing. */
        maxBytes: z
          .number()
          .int()
          .min(1024)
          .max(16 * 1024 * 1024)
          .default(DEFAULT_MAX_DOC_BYTES),
        /** An occurrence missed by up to this much still starts, late; older ones are skipped (`missed`). */
        graceS: seconds(0, 3600).default(120),
        /** How far ahead occurrences are planned. */
        horizonH: z.number().int().min(1).max(168).default(24),
        /** Contract v1.1 §2.1: a schedule living longer than this (expiresAt - issuedAt) is `invalid`. */
        maxLifetimeDays: z
          .number('is not a number (expected days)')
          .int()
          .min(1, 'is below the minimum of 1 day')
          .max(3650, 'is above the maximum of 3650 days')
          .default(400),
        /** Shortest `repeat.everyS` accepted (issue 16): the contract's 60 s; lower only on a test box. */
        minRepeatS: z
          .number('is not a number (expected seconds)')
          .int()
          .min(1, 'is below the minimum of 1 s')
          .max(86_400, 'is above the maximum of 86400 s')
          .default(60),
      })
      .prefault({}),
    commands: z
      .strictObject({
        /** Contract v1.1 §2.1: a command living longer than this (expiresAt - issuedAt) is `invalid`. */
        maxLifetimeH: z
          .number('is not a number (expected hours)')
          .int()
          .min(1, 'is below the minimum of 1 h')
          .max(168, 'is above the maximum of 168 h')
          .default(24),
      })
      .prefault({}),
    update: z
      .strictObject({
        /** A release on trial commits once its MQTT connection has held this long after its birth (docs/ota.md). */
        commitAfterS: z
          .number('is not a number (expected seconds)')
          .int()
          .min(1, 'is below the minimum of 1 s')
          .max(600, 'is above the maximum of 600 s')
          .default(10),
        /**
         * After its commit a release is on probation this long: `probationExits` abnormal
         * ends (crash, watchdog kill; not a clean stop, not a reboot) in the window roll it
         * back (systemd/loa-launch, reason `probation`). 0: no probation.
         */
        probationS: z
          .number('is not a number (expected seconds)')
          .int()
          .min(0, 'is below the minimum of 0 s')
          .max(7 * 86_400, 'is above the maximum of 7 days')
          .default(3600),
        probationExits: z
          .number('is not a number')
          .int()
          .min(2, 'is below the minimum of 2')
          .max(20, 'is above the maximum of 20')
          .default(3),
      })
      .prefault({}),
    cache: z
      .strictObject({
        /** Disk the media cache may use; media no document needs are evicted (least recently used first). */
        quotaMB: z.number().int().min(16, 'is below the minimum of 16 MB').default(2048),
        /** Media needed within this many hours are fetched ahead. */
        horizonH: z.number().int().min(1).max(168).default(24),
        concurrency: z.number().int().min(1).max(8).default(2),
        /**
         * Slowest transfer rate accepted, bytes/s. After 30 s of set-up a download attempt
         * must have received this much per second since (so it ends within 30 s plus its
         * missing bytes at this rate), or it is aborted (`too-slow`), kept for resume and
         * retried later: a trickling CDN cannot hold a slot for ever. 1000 B/s is a bad 4G
         * link at the edge of a cell.
         */
        minRateBps: z
          .number('is not a number (expected bytes per second)')
          .int()
          .min(100, 'is below the minimum of 100 bytes/s')
          .max(1_000_000_000)
          .default(1000),
      })
      .prefault({}),
    clock: z
      .strictObject({
        /** Time services asked, in order, whether the clock is synchronised (docs/protocol.md §6, time without an RTC). */
        sources: z
          .array(
            z.enum(CLOCK_SOURCE_NAMES, 'is not "timesyncd", "chrony" or "kernel"'),
            'is not a list of clock sources',
          )
          .default([...CLOCK_SOURCE_NAMES]),
        /** Where systemd-timesyncd's state is (`{runRoot}/systemd/timesync/synchronized`). */
        runRoot: filePath.default('/run'),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'], 'is not a log level').default('info'),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.mqtt.password !== undefined && c.mqtt.passwordFile !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqtt', 'passwordFile'],
        message: 'is set together with mqtt.password (use one)',
        input: c.mqtt.passwordFile,
      });
    }
    if ((c.mqtt.cert === undefined) !== (c.mqtt.key === undefined)) {
      const missing = c.mqtt.cert === undefined ? 'cert' : 'key';
      ctx.addIssue({
        code: 'custom',
        path: ['mqtt', missing],
        message: 'is required when mutual TLS is configured (cert and key go together)',
        input: undefined,
      });
    }
    if (c.mqtt.reconnect.minS > c.mqtt.reconnect.maxS) {
      ctx.addIssue({
        code: 'custom',
        path: ['mqtt', 'reconnect', 'maxS'],
        message: `is below mqtt.reconnect.minS (${c.mqtt.reconnect.minS})`,
        input: c.mqtt.reconnect.maxS,
      });
    }
  });

export type ConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;
export type Config = DeepReadonly<Parsed & { mqtt: Parsed['mqtt'] & { passwordValue?: string } }>;
type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

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

type Issue = z.core.$ZodIssue;

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

const KNOWN_FIELDS: Record<string, readonly string[]> = {};

function describeIssue(issue: Issue, raw: unknown): string {
  const where = issue.path.length === 0 ? '(config)' : formatPath(issue.path);
  const value = valueAt(raw, issue.path);
  // Redacted: a problem line must not print the password it complains about (a URL's
  // userinfo, or a password field of the wrong type, `"password": 12345678`).
  const secret = /^password$/i.test(String(issue.path[issue.path.length - 1] ?? ''));
  const shown = value === undefined ? 'missing' : secret ? '(value hidden)' : redact(JSON.stringify(value));
  switch (issue.code) {
    case 'unrecognized_keys': {
      const siblings = shapeKeysAt(issue.path);
      return issue.keys
        .map((k) => {
          const near = closest(k, siblings);
          const at = issue.path.length === 0 ? k : `${where}.${k}`;
          return `${at}: unknown field${near ? ` (did you mean "${near}"?)` : ''}`;
        })
        .join('; ');
    }
    case 'invalid_type':
      if (value === undefined) return `${where}: missing (required)`;
      if (!issue.message.startsWith('Invalid')) return `${where}: ${shown} ${issue.message}`;
      return `${where}: ${shown} is not ${article(issue.expected)}`;
    default:
      if (value === undefined && issue.message.startsWith('is required'))
        return `${where}: missing, ${issue.message.slice(3)}`;
      if (/^(Invalid|Too |Number must|String must)/.test(issue.message))
        return `${where}: ${shown} is invalid (${issue.message})`;
      return `${where}: ${shown} ${issue.message}`;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

/** The field names the schema allows at a path, for "did you mean" hints. */
function shapeKeysAt(path: readonly PropertyKey[]): readonly string[] {
  const key = path.map(String).join('.');
  const cached = KNOWN_FIELDS[key];
  if (cached) return cached;
  let s: unknown = configSchema;
  for (const k of [undefined, ...path]) {
    s = unwrap(s);
    if (k === undefined) continue;
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    s = shape?.[String(k)];
  }
  const shape = (unwrap(s) as { shape?: Record<string, unknown> } | undefined)?.shape;
  const keys = shape ? Object.keys(shape) : [];
  KNOWN_FIELDS[key] = keys;
  return keys;
}

function unwrap(s: unknown): unknown {
  // Peel defaults, optionals, pipes and refinements down to the object schema.
  let cur = s as { def?: { innerType?: unknown; in?: unknown; schema?: unknown } } | undefined;
  for (let i = 0; i < 10 && cur?.def; i++) {
    const next = cur.def.innerType ?? cur.def.in ?? cur.def.schema;
    if (!next) break;
    cur = next as typeof cur;
  }
  return cur;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function jsonErrorWhere(text: string, err: Error): string {
  const m = /position (\d+)/.exec(err.message);
  if (!m) return err.message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `${err.message.replace(/ in JSON at position \d+.*$/, '')} at line ${line}, column ${col}`;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
