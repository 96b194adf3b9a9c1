// The one argv parser of the command-line tools (noc, loa-provision): every subcommand
// declares its options, and anything else is a usage error (exit 64) that names the
// option and points at --help. Strict because a mistyped `--devcie` on a command that
// addresses boxes must not silently fall back to a default target, and a technician's
// `--conifg` must not quietly check /etc/loa/agent.json instead.
import { UsageError } from './errors.js';

export type OptKind = 'string' | 'number' | 'boolean' | 'list';

export interface OptSpec {
  readonly kind: OptKind;
  /** For numbers: the smallest accepted value. */
  readonly min?: number;
  /** For numbers: the largest accepted value. */
  readonly max?: number;
  /** A one-letter alias (`-y` for `--yes`); booleans only. */
  readonly short?: string;
}

export type Spec = Readonly<Record<string, OptSpec>>;

type ValueOf<K extends OptKind> = K extends 'string'
  ? string
  : K extends 'number'
    ? number
    : K extends 'boolean'
      ? boolean
      : string[];

export type Opts<S extends Spec> = { [N in keyof S]?: ValueOf<S[N]['kind']> };

export interface Parsed<S extends Spec> {
  opts: Opts<S>;
  positional: string[];
  help: boolean;
}

/**
 * Parses `--name value`, `--name=value`, boolean `--flag` (or its `-x` alias), repeated
 * list options and positional arguments; `--` ends the options. `-h`/`--help` anywhere
 * sets `help`. `command` ("noc send", "loa-provision check") names it in error messages.
 * A string or number option given twice is an error, unless `repeated: 'last'`:
 * loa-provision lets a later flag override an earlier one (an install script's defaults
 * followed by the technician's values), as it always has.
 */
export function parseArgs<S extends Spec>(
  argv: readonly string[],
  spec: S,
  command: string,
  o: { repeated?: 'error' | 'last' } = {},
): Parsed<S> {
  const opts: Record<string, unknown> = {};
  const positional: string[] = [];
  let help = false;
  const hint = `see ${command} --help`;
  const shorts = new Map<string, string>(
    Object.entries(spec).flatMap(([name, s]) =>
      s.short && s.kind === 'boolean' ? [[`-${s.short}`, name] as [string, string]] : [],
    ),
  );
  const twice = (name: string) => name in opts && o.repeated !== 'last';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help') {
      help = true;
      continue;
    }
    const alias = shorts.get(a);
    if (alias !== undefined) {
      opts[alias] = true;
      continue;
    }
    if (!a.startsWith('--')) {
      if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) throw new UsageError(`unknown option ${a} (${hint})`);
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq === -1 ? undefined : eq);
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw new UsageError(`unknown option --${name} (${hint})`);
    if (s.kind === 'boolean') {
      if (eq !== -1) {
        const v = a.slice(eq + 1);
        if (v !== 'true' && v !== 'false')
          throw new UsageError(`--${name} takes no value, or =true/=false (got "${v}")`);
        opts[name] = v === 'true';
      } else opts[name] = true;
      continue;
    }
    let raw: string;
    if (eq !== -1) raw = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      // A following "--known-option" means the value was forgotten, not that it is the value.
      if (next === undefined || (next.startsWith('--') && Object.hasOwn(spec, next.slice(2).split('=')[0]!))) {
        throw new UsageError(`--${name} needs a value (${hint})`);
      }
      raw = next;
      i++;
    }
    if (s.kind === 'string') {
      if (twice(name)) throw new UsageError(`--${name} given twice`);
      opts[name] = raw;
    } else if (s.kind === 'list') {
      ((opts[name] ??= []) as string[]).push(raw);
    } else {
      if (twice(name)) throw new UsageError(`--${name} given twice`);
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${raw}")`);
      if (s.min !== undefined && n < s.min) throw new UsageError(`--${name} must be at least ${s.min} (got ${n})`);
      if (s.max !== undefined && n > s.max) throw new UsageError(`--${name} must be at most ${s.max} (got ${n})`);
      opts[name] = n;
    }
  }
  return { opts: opts as Opts<S>, positional, help };
}

/** The value of a required option, or a usage error that says how to give it. */
export function required<T>(value: T | undefined, flag: string, example: string): T {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required, e.g. ${flag} ${example}`);
  return value;
}

/** Exactly `n` positional arguments (or at most `n` with `optional`). */
export function positionals(
  p: readonly string[],
  names: readonly string[],
  command: string,
  optional = false,
): string[] {
  if (p.length > names.length) throw new UsageError(`unexpected argument "${p[names.length]}" (see ${command} --help)`);
  if (!optional && p.length < names.length) throw new UsageError(`missing ${names[p.length]} (see ${command} --help)`);
  return [...p];
}

/** A positive number of seconds from a string flag, or the default. */
export function secondsFlag(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} "${v}" is not a positive number of seconds`);
  return n;
}
