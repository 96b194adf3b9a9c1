// Every error the agent logs carries a stable `code` (grep-able in journald and
// countable by the NOC) and says whether retrying can help. Codes are part of the
// operator interface: rename one only with a note in docs/errors.md. This union is the
// whole list, including codes an adapter logs as a literal (the IO board's MCU_*):
// test/unit/error-codes.test.ts fails when one is missing here or in docs/errors.md.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_UNREADABLE'
  | 'CONFIG_INSECURE'
  | 'MQTT_CONNECT'
  | 'MQTT_TLS'
  | 'MQTT_AUTH'
  | 'MQTT_PUBLISH'
  | 'MQTT_OFFLINE'
  | 'OUTBOX_FULL'
  | 'STORE_OPEN'
  | 'STORE_RESET'
  | 'STORE_WRITE'
  | 'STORE_REPLAY'
  | 'CLOCK_STATE'
  | 'VOLUME_PROFILE'
  | 'CLOCK_HELD'
  | 'CLOCK_BOUND_DISCARDED'
  | 'CLOCK_RESET'
  | 'INTAKE_FLOOD'
  | 'DEMO_BROKER'
  | 'MEDIA_FETCH'
  | 'MEDIA_HASH'
  | 'MEDIA_STORE'
  | 'CACHE_QUOTA'
  | 'SCHEDULE_REJECTED'
  | 'NO_AUDIO'
  | 'PLAYER_FAILED'
  | 'PLAYER_MISSING'
  | 'GPIO_SETUP'
  | 'GPIO_WRITE'
  | 'GPIO_READ'
  | 'PLAY_FAILED'
  | 'BOARD_WRITE'
  | 'SD_NOTIFY'
  | 'WATCHDOG_UNHEALTHY'
  | 'COMMAND_REJECTED'
  | 'COMMAND_FAILED'
  | 'HW_FAULT'
  | 'NO_OUTPUT'
  | 'SOUND_BASELINE'
  | 'PAGE_REFUSED'
  | 'PAGE_LISTEN'
  | 'PAGE_NO_PASSWORD'
  | 'PAGE_SITE'
  | 'MCU_OPEN'
  | 'MCU_LOST'
  | 'MCU_DRIFT'
  | 'MCU_STATUS'
  | 'MCU_WARNING'
  | 'MCU_WATCHDOG'
  | 'SIM_BOARD'
  | 'OTA_STATE'
  | 'OTA_DELTA'
  | 'OTA_FAILED'
  | 'OTA_ROLLED_BACK'
  | 'INTERNAL';

export class LoaError extends Error {
  readonly code: ErrorCode;
  /** True when the same operation may succeed later without anyone changing anything. */
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LoaError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}

/** Exit codes from sysexits.h, which systemd and operators recognise. */
export const EXIT = {
  OK: 0,
  SOFTWARE: 70,
  /** The `restart` command: systemd (Restart=on-failure) starts the agent again. */
  TEMPFAIL: 75,
  CONFIG: 78,
} as const;

export function errorCode(err: unknown): ErrorCode {
  return err instanceof LoaError ? err.code : 'INTERNAL';
}
