// The interactive half of `init`: one question per field of draft.ts, then the broker
// password (no echo), the CA file and the trusted centre keys, then a summary. Each
// answer is checked at once (the agent's schema, or reading the CA file) and a wrong
// one is asked again with the reason; nothing is written here.
import { resolve } from 'node:path';
import { CliError, EXIT } from '../cli-kit/index.js';
import { readCertificate } from './keys.js';
import { currentText, FIELDS, getAt, problemsAt, tryAnswer, type Draft } from './draft.js';
import type { Ui } from './io.js';
import type { Prompter } from './prompt.js';
import { describeKeys, mergeKeys, parseTrustedKeys, trustGaps, type TrustedKey } from './trust.js';

const KEEP = '\u0000keep';

/** What init will write besides the config, decided before anything is written (the answers fill it; init.ts writes it). */
export interface Plan {
  password?: string;
  caFrom?: string;
  certFrom?: string;
  newKey: boolean;
}

export interface AskContext {
  dir: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  keyPath: string;
}

export async function askAll(p: Prompter, ui: Ui, start: Draft, plan: Plan, ctx: AskContext): Promise<Draft> {
  let d = start;
  for (const f of FIELDS) {
    if (f.when && !f.when(d)) continue;
    const opts = {
      default: currentText(d, f, ctx.env),
      ...(f.help ? { help: f.help } : {}),
      ...(f.emptyMeans ? { emptyMeans: f.emptyMeans } : {}),
    };
    const before = d;
    d = await p.askValid(f.label, opts, (answer) => tryAnswer(before, f, answer === '-' ? '' : answer, ctx.dir));
    if (f.flag === 'username') d = await askSecrets(p, d, plan, ctx);
  }
  d = await askTrustedKeys(p, ui, d, ctx);
  summary(ui, d, plan);
  return d;
}

async function askSecrets(p: Prompter, d: Draft, plan: Plan, ctx: AskContext): Promise<Draft> {
  const has =
    plan.password !== undefined ||
    getAt(d, ['mqtt', 'passwordFile']) !== undefined ||
    getAt(d, ['mqtt', 'password']) !== undefined;
  const pw = await p.ask('Broker password', {
    secret: true,
    ...(has ? { default: KEEP } : { emptyMeans: 'none' }),
    help: 'not shown as you type; "-" removes it',
  });
  if (pw === '-') plan.password = '';
  else if (pw !== KEEP && pw !== '') plan.password = pw;

  if (!String(getAt(d, ['mqtt', 'url']) ?? '').startsWith('mqtts:')) return d;
  const current = plan.caFrom ?? (getAt(d, ['mqtt', 'ca']) as string | undefined);
  await p.askValid(
    'Broker CA certificate file',
    {
      ...(current ? { default: current } : { emptyMeans: 'system CAs' }),
      help: "the PEM file from the centre that signed the broker's certificate",
    },
    (answer) => {
      try {
        if (answer === '-' || answer === '') {
          plan.caFrom = undefined;
          if (answer === '-') delete (d.mqtt as Record<string, unknown>).ca;
        } else if (answer === current && !plan.caFrom) {
          readCa(resolve(ctx.dir, answer)); // the config's own value: relative to the config directory
        } else {
          plan.caFrom = resolve(ctx.cwd, answer);
          readCa(plan.caFrom);
        }
        return { value: true };
      } catch (err) {
        if (err instanceof CliError) return { problems: [err.message, ...err.lines.map((l) => l.trim())] };
        throw err;
      }
    },
  );
  return d;
}

async function askTrustedKeys(p: Prompter, ui: Ui, start: Draft, ctx: AskContext): Promise<Draft> {
  const d = structuredClone(start);
  let keys = ((getAt(d, ['trustedKeys']) as TrustedKey[] | undefined) ?? []).slice();
  const bad = (line: string) => ui.out(`  ${ui.unicode ? '✗' : '[FAIL]'} ${line}`);
  ui.out(`Trusted centre keys (schedules and commands must be signed by one): ${describeKeys(keys)}`);
  let help: string | undefined =
    'paste what "noc keys" printed ({"kid":…,"publicKey":…}, or a [list]), or type kid=publicKey; Enter when done; "-" removes all';
  for (;;) {
    let answer = await p.ask('Add a trusted key', { emptyMeans: 'done', ...(help ? { help } : {}) });
    help = undefined;
    if (answer === '') break;
    if (answer === '-') {
      keys = [];
      ui.out('  (list emptied)');
      continue;
    }
    let parsed = parseTrustedKeys(answer);
    // A pasted multi-line JSON arrives one line at a time: read on until it closes.
    while ('incomplete' in parsed) {
      const more = await p.ask('  (the rest of the JSON)', {});
      if (more === '') {
        parsed = { problem: 'the JSON was not closed' };
        break;
      }
      answer += more;
      parsed = parseTrustedKeys(answer);
    }
    if ('problem' in parsed) {
      bad(parsed.problem);
      continue;
    }
    const next = mergeKeys(keys, parsed.keys);
    const problems = problemsAt({ ...d, trustedKeys: next }, ['trustedKeys'], ctx.dir);
    if (problems.length > 0) {
      for (const pr of problems) bad(pr);
      continue;
    }
    keys = next;
    ui.out(`  added ${describeKeys(parsed.keys)} (${keys.length} key${keys.length === 1 ? '' : 's'})`);
  }
  const gaps = trustGaps(keys);
  if (gaps.length > 0)
    ui.out(
      `  warning: with no key for ${gaps.join(' or ')} the box refuses every one of them (emergencies too); add one before it must play`,
    );
  if (keys.length === 0) delete d.trustedKeys;
  else d.trustedKeys = keys;
  return d;
}

function summary(ui: Ui, d: Draft, plan: Plan): void {
  const g = (...path: string[]) => getAt(d, path);
  const site = [
    g('site', 'communeName'),
    g('site', 'communeCode') && `code ${String(g('site', 'communeCode'))}`,
    g('site', 'province') && `province ${String(g('site', 'province'))}`,
  ]
    .filter(Boolean)
    .join(', ');
  const board = g('hardware', 'board') ?? 'sim';
  const hw =
    board === 'mcu'
      ? `mcu on ${String(g('hardware', 'mcu', 'path') ?? '/dev/loa-io')}`
      : board === 'gpio'
        ? `gpio ${JSON.stringify(g('hardware', 'gpio', 'pins'))}`
        : String(board);
  const pw =
    plan.password === '' ? 'removed' : plan.password !== undefined || g('mqtt', 'passwordFile') ? 'set' : 'none';
  ui.out('');
  ui.out('Summary:');
  ui.out(
    `  device   ${String(g('deviceId'))}  groups ${((g('groups') as string[] | undefined) ?? []).join(', ') || 'none'}`,
  );
  ui.out(`  site     ${site || '-'}  at ${String(g('site', 'lat') ?? '?')}, ${String(g('site', 'lon') ?? '?')}`);
  ui.out(
    `  broker   ${String(g('mqtt', 'url'))}  user ${String(g('mqtt', 'username') ?? '-')}  password ${pw}  CA ${plan.caFrom ?? String(g('mqtt', 'ca') ?? 'system')}`,
  );
  ui.out(`  keys     ${describeKeys((g('trustedKeys') as TrustedKey[] | undefined) ?? [])}`);
  ui.out(`  board    ${hw}`);
}

/** Throws (with the reason) unless `path` holds a PEM certificate. */
export function readCa(path: string): void {
  try {
    readCertificate(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? 'does not exist'
        : e.code && e.code.startsWith('E') && !e.code.startsWith('ERR_')
          ? e.message
          : 'is not a PEM certificate';
    throw new CliError(`CA certificate ${path} ${why}`, EXIT.CONFIG, [
      '  give the CA file the centre sent (PEM, "-----BEGIN CERTIFICATE-----")',
    ]);
  }
}
