// The agent's configuration schema (config.ts loads and checks it): one zod schema gives
// the defaults, the validation (each message names what is wrong in a technician's words)
// and the TypeScript type, Config. Pure: no file is read here.
import { z } from 'zod';
import { pageSchema } from './config-page.js';
import { DEFAULT_MAX_DOC_BYTES, ID_RE } from '../contract/schedule-doc.js';
import { KEY_ROLES } from '../contract/verify.js';
import { CLOCK_SOURCE_NAMES } from './adapters/clock-sources.js';
import { DEFAULT_PROFILE_TIMEZONE, volumeProfileSchema } from './domain/volume-policy.js';

/** The contract's identifier pattern, defined once in the document schema. */
export const ID_PATTERN = ID_RE;

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

export const siteSchema = z
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
    /** aplay (alsa-utils): live sessions write to the device through it. */
    aplayPath: z.string().default('aplay'),
    /** Where the kernel reports PCM positions (the live output's card delay and drift); a test card moves it. */
    procAsound: z.string().default('/proc/asound'),
    /** Percent of full scale that item volume 100 × master volume 100 gives. */
    maxVolume: z.number().min(0).max(100).default(100),
    startTimeoutS: seconds(1, 120).default(15),
    /** A stream whose playback does not advance for this long has gone silent: fail over. */
    stallTimeoutS: seconds(1, 120).default(10),
    /**
     * "paced" output only: record what the stand-in card plays (each play of the player,
     * each live session) as `<name>.wav` + `<name>.json` (the wall-clock instant of its first
     * frame) in this directory, to measure latency and skew from outside (docs/live.md).
     */
    recordDir: z.string('is not a path').min(1, 'is empty').optional(),
    /** "paced" output only: the stand-in card's clock, parts per million off the system clock (a drift to correct). */
    pacedPpm: z
      .number('is not a number')
      .min(-1000, 'must be -1000 to 1000')
      .max(1000, 'must be -1000 to 1000')
      .default(0),
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
    /** Contract v1.2 §9: a relay (stream, fm, line) whose input the IO board measures as dead air this long moves on. */
    relay: z.strictObject({ deadAirS: seconds(5, 600).default(20) }).prefault({}),
    /** The technician's page on the box (issue [7/8]; README, "The page on the box"). */
    page: pageSchema,
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
