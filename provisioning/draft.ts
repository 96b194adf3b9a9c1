// The questions `init` asks, as data: which config field each answer fills, how the
// typed text becomes a value, and what default to suggest. Pure: no prompts, no files.
//
// Every answer is validated by the AGENT'S OWN schema (agent/config.ts parseConfig):
// the draft with the answer in place is parsed, and the problems at that field's path
// are the ones shown, in the schema's words ("site.lat: 200 is not a latitude (-90 to
// 90)"). The CLI has no second copy of the rules to drift from the agent's.
import { ConfigError, parseConfig } from '../agent/config.js';
import type { MessageKey } from '../contract/messages.js';

export type Draft = Record<string, unknown>;

/** A setting init takes as a flag. */
export interface Setting {
  /** The flag (without --) and the answer's name. */
  flag: string;
  /** Where the value goes in the config. */
  path: readonly (string | number)[];
  /** Typed text to the value handed to the schema; '' means "not set". */
  parse(text: string): unknown;
  /** The current value as text, for the default in brackets. */
  format?(value: unknown): string;
  /** A default derived from earlier answers, when the field has no value yet. */
  suggest?(d: Draft, env: NodeJS.ProcessEnv): string | undefined;
  /** Asked only when this holds (pins only for a gpio board). */
  when?(d: Draft): boolean;
}

/** A setting init also asks for: its question, help and empty answer are the catalogue's (either language). */
export interface Field extends Setting {
  label: MessageKey;
  help?: MessageKey;
  /** What an empty answer means when there is no default. */
  emptyMeans?: MessageKey;
}

const text = (s: string): string | undefined => (s === '' ? undefined : s);

/** "10,68" (Vietnamese decimal comma) and "10.68" both mean 10.68; anything else goes to the schema as typed. */
export function parseNumber(s: string): number | string | undefined {
  if (s === '') return undefined;
  const t = s.replace(/^(-?\d+),(\d+)$/, '$1.$2');
  const n = Number(t);
  return t.trim() !== '' && Number.isFinite(n) ? n : s;
}

export function parseList(s: string): string[] | undefined {
  if (s === '') return undefined;
  return s.split(/[\s,;]+/).filter((x) => x !== '');
}

/** "17", "GPIO17", "17:low" (relay active when the pin is low). */
export function parsePin(s: string): unknown {
  if (s === '') return undefined;
  const m = /^(?:gpio|bcm)?\s*(\d+)\s*(?::\s*(low|active-?low|high))?$/i.exec(s.trim());
  if (!m) return { line: s };
  const pin: { line: number; activeLow?: boolean } = { line: Number(m[1]) };
  if (m[2]) pin.activeLow = /low/i.test(m[2]);
  return pin;
}

export function formatPin(v: unknown): string {
  const p = v as { line?: unknown; activeLow?: boolean } | undefined;
  if (!p || p.line === undefined) return '';
  return `${String(p.line)}${p.activeLow ? ':low' : ''}`;
}

const digits = (v: unknown): string | undefined => (typeof v === 'string' && /^\d+$/.test(v) ? v : undefined);
const idSafe = (v: unknown): string | undefined =>
  typeof v === 'string' && /^[a-z0-9][a-z0-9._-]*$/i.test(v) ? v.toLowerCase() : undefined;
const isGpio = (d: Draft) => getAt(d, ['hardware', 'board']) === 'gpio';
const isMcu = (d: Draft) => getAt(d, ['hardware', 'board']) === 'mcu';

export const FIELDS: readonly Field[] = [
  {
    flag: 'commune-name',
    path: ['site', 'communeName'],
    label: 'init.f.communeName',
    help: 'init.f.communeName.help',
    parse: text,
  },
  {
    flag: 'commune-code',
    path: ['site', 'communeCode'],
    label: 'init.f.communeCode',
    help: 'init.f.communeCode.help',
    parse: text,
  },
  {
    flag: 'province',
    path: ['site', 'province'],
    label: 'init.f.province',
    help: 'init.f.province.help',
    parse: text,
  },
  {
    flag: 'device-id',
    path: ['deviceId'],
    label: 'init.f.deviceId',
    help: 'init.f.deviceId.help',
    parse: text,
    suggest: (d) => {
      const p = digits(getAt(d, ['site', 'province']));
      const c = digits(getAt(d, ['site', 'communeCode']));
      return p && c ? `vn-${p}-${c}-01` : undefined;
    },
  },
  {
    flag: 'groups',
    path: ['groups'],
    label: 'init.f.groups',
    help: 'init.f.groups.help',
    parse: parseList,
    format: (v) => (Array.isArray(v) ? v.join(',') : ''),
    suggest: (d) => {
      const p = idSafe(getAt(d, ['site', 'province']));
      const c = idSafe(getAt(d, ['site', 'communeCode']));
      return ['all', ...(p ? [`p${p}`] : []), ...(c ? [`c${c}`] : [])].join(',');
    },
  },
  {
    flag: 'lat',
    path: ['site', 'lat'],
    label: 'init.f.lat',
    help: 'init.f.lat.help',
    parse: parseNumber,
  },
  { flag: 'lon', path: ['site', 'lon'], label: 'init.f.lon', help: 'init.f.lon.help', parse: parseNumber },
  {
    flag: 'installer',
    path: ['site', 'installer'],
    label: 'init.f.installer',
    help: 'init.f.installer.help',
    parse: text,
    suggest: (_d, env) => env.SUDO_USER || undefined,
  },
  {
    flag: 'broker',
    path: ['mqtt', 'url'],
    label: 'init.f.broker',
    help: 'init.f.broker.help',
    parse: text,
  },
  { flag: 'username', path: ['mqtt', 'username'], label: 'init.f.username', parse: text, emptyMeans: 'init.none' },
  {
    flag: 'board',
    path: ['hardware', 'board'],
    label: 'init.f.board',
    help: 'init.f.board.help',
    parse: text,
    suggest: () => 'mcu',
  },
  {
    flag: 'serial',
    path: ['hardware', 'mcu', 'path'],
    label: 'init.f.serial',
    parse: text,
    when: isMcu,
    suggest: () => '/dev/loa-io',
  },
  {
    flag: 'pin-amp',
    path: ['hardware', 'gpio', 'pins', 'amp'],
    label: 'init.f.pinAmp',
    help: 'init.f.pinAmp.help',
    parse: parsePin,
    format: formatPin,
    when: isGpio,
  },
  {
    flag: 'pin-fm',
    path: ['hardware', 'gpio', 'pins', 'inputFm'],
    label: 'init.f.pinFm',
    parse: parsePin,
    format: formatPin,
    when: isGpio,
  },
  {
    flag: 'pin-line',
    path: ['hardware', 'gpio', 'pins', 'inputLine'],
    label: 'init.f.pinLine',
    parse: parsePin,
    format: formatPin,
    when: isGpio,
  },
  {
    flag: 'pin-fault',
    path: ['hardware', 'gpio', 'pins', 'ampFault'],
    label: 'init.f.pinFault',
    parse: parsePin,
    format: formatPin,
    when: isGpio,
    emptyMeans: 'init.none',
  },
];

/** Settings not asked, set only from flags (test rigs, boxes without a sound card). */
export const EXTRA_FIELDS: readonly Setting[] = [
  { flag: 'state-dir', path: ['stateDir'], parse: text },
  { flag: 'cache-dir', path: ['cacheDir'], parse: text },
  { flag: 'topic-root', path: ['topicRoot'], parse: text },
  { flag: 'mqtt-version', path: ['mqtt', 'version'], parse: (s) => (s === '5' ? 5 : text(s)) },
  { flag: 'audio-output', path: ['audio', 'output'], parse: text },
  { flag: 'audio-device', path: ['audio', 'device'], parse: text },
  // Set once, by the first init (or --fresh); "now" sets it again, e.g. after moving the box.
  { flag: 'installed-at', path: ['site', 'installedAt'], parse: text },
];

export function getAt(o: unknown, path: readonly (string | number)[]): unknown {
  let v = o;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

/** Set (or, for undefined, delete) a value, creating objects on the way; empty objects left behind are removed. */
export function setAt(o: Draft, path: readonly (string | number)[], value: unknown): void {
  const parents: Record<string | number, unknown>[] = [];
  let cur: Record<string | number, unknown> = o;
  for (const k of path.slice(0, -1)) {
    const next = cur[k];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) {
      if (value === undefined) return;
      cur[k] = {};
    }
    parents.push(cur);
    cur = cur[k] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  for (let i = parents.length - 1; i >= 0 && value === undefined; i--) {
    const child = parents[i]![path[i]!] as Record<string, unknown>;
    if (Object.keys(child).length === 0) delete parents[i]![path[i]!];
  }
}

export function pathText(path: readonly (string | number)[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/**
 * Every problem the agent's schema finds in the draft (empty when it would accept it),
 * plus the one rule the agent checks only when it starts: GpioBoard refuses two
 * functions on one GPIO line, which would otherwise surface at the first start.
 */
export function schemaProblems(d: Draft, baseDir: string): string[] {
  let problems: string[] = [];
  try {
    parseConfig(d, baseDir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = [...err.problems];
  }
  return [...problems, ...sharedPins(d)];
}

const PIN_NAMES = { amp: 'amp relay', inputFm: 'FM relay', inputLine: 'line relay', ampFault: 'fault input' } as const;

function sharedPins(d: Draft): string[] {
  const pins = getAt(d, ['hardware', 'gpio', 'pins']) as Record<string, { line?: unknown }> | undefined;
  if (!pins || getAt(d, ['hardware', 'board']) !== 'gpio') return [];
  const seen = new Map<unknown, string>();
  const out: string[] = [];
  for (const k of Object.keys(PIN_NAMES) as (keyof typeof PIN_NAMES)[]) {
    const line = pins[k]?.line;
    if (typeof line !== 'number') continue;
    const first = seen.get(line);
    if (first)
      out.push(
        `hardware.gpio.pins.${k}: line ${line} is already the ${PIN_NAMES[first as keyof typeof PIN_NAMES]} (one function per GPIO line)`,
      );
    else seen.set(line, k);
  }
  return out;
}

/** The schema's problems at or under `path` only (the other answers may not be given yet). */
export function problemsAt(d: Draft, path: readonly (string | number)[], baseDir: string): string[] {
  const p = pathText(path);
  return schemaProblems(d, baseDir)
    .flatMap((s) => s.split('; '))
    .filter((s) => s.startsWith(`${p}:`) || s.startsWith(`${p}.`) || s.startsWith(`${p}[`));
}

/** Put the answer in a copy of the draft and return the copy, or the schema's problems with it. */
export function tryAnswer(
  d: Draft,
  f: Setting,
  answer: string,
  baseDir: string,
): { value: Draft } | { problems: string[] } {
  const next = structuredClone(d);
  setAt(next, f.path, f.parse(answer));
  const problems = problemsAt(next, f.path, baseDir);
  return problems.length === 0 ? { value: next } : { problems };
}

export function currentText(d: Draft, f: Setting, env: NodeJS.ProcessEnv): string | undefined {
  const v = getAt(d, f.path);
  if (v !== undefined) return f.format ? f.format(v) : Array.isArray(v) ? v.join(',') : String(v);
  return f.suggest?.(d, env);
}

/** A draft seeded from the existing config's raw JSON (re-provisioning keeps what it does not ask). */
export function seedDraft(existing: unknown): Draft {
  return existing !== null && typeof existing === 'object' && !Array.isArray(existing)
    ? structuredClone(existing as Draft)
    : {};
}
