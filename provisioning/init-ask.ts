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
import { describeKeys, gapsText, mergeKeys, parseTrustedKeys, trustGaps, type TrustedKey } from './trust.js';
import { msg, type Lang } from './text.js';
import { padDisplay } from './wrap.js';

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
      ...(f.help ? { help: ui.t(f.help) } : {}),
      ...(f.emptyMeans ? { emptyMeans: ui.t(f.emptyMeans) } : {}),
    };
    const before = d;
    d = await p.askValid(ui.t(f.label), opts, (answer) => tryAnswer(before, f, answer === '-' ? '' : answer, ctx.dir));
    if (f.flag === 'username') d = await askSecrets(p, ui, d, plan, ctx);
  }
  d = await askTrustedKeys(p, ui, d, ctx);
  summary(ui, d, plan);
  return d;
}

async function askSecrets(p: Prompter, ui: Ui, d: Draft, plan: Plan, ctx: AskContext): Promise<Draft> {
  const has =
    plan.password !== undefined ||
    getAt(d, ['mqtt', 'passwordFile']) !== undefined ||
    getAt(d, ['mqtt', 'password']) !== undefined;
  const pw = await p.ask(ui.t('init.password'), {
    secret: true,
    ...(has ? { default: KEEP } : { emptyMeans: ui.t('init.none') }),
    help: ui.t('init.password.help'),
  });
  if (pw === '-') plan.password = '';
  else if (pw !== KEEP && pw !== '') plan.password = pw;

  if (!String(getAt(d, ['mqtt', 'url']) ?? '').startsWith('mqtts:')) return d;
  const current = plan.caFrom ?? (getAt(d, ['mqtt', 'ca']) as string | undefined);
  await p.askValid(
    ui.t('init.ca'),
    {
      ...(current ? { default: current } : { emptyMeans: ui.t('init.ca.system') }),
      help: ui.t('init.ca.help'),
    },
    (answer) => {
      try {
        if (answer === '-' || answer === '') {
          plan.caFrom = undefined;
          if (answer === '-') delete (d.mqtt as Record<string, unknown>).ca;
        } else if (answer === current && !plan.caFrom) {
          readCa(resolve(ctx.dir, answer), ui.lang); // the config's own value: relative to the config directory
        } else {
          plan.caFrom = resolve(ctx.cwd, answer);
          readCa(plan.caFrom, ui.lang);
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
  ui.out(ui.t('init.keys.now', { keys: describeKeys(keys, ui.lang) }));
  let help: string | undefined = ui.t('init.keys.help');
  for (;;) {
    let answer = await p.ask(ui.t('init.keys.add'), { emptyMeans: ui.t('init.keys.done'), ...(help ? { help } : {}) });
    help = undefined;
    if (answer === '') break;
    if (answer === '-') {
      keys = [];
      ui.out(ui.t('init.keys.emptied'));
      continue;
    }
    let parsed = parseTrustedKeys(answer);
    // A pasted multi-line JSON arrives one line at a time: read on until it closes.
    while ('incomplete' in parsed) {
      const more = await p.ask(ui.t('init.keys.more'), {});
      if (more === '') {
        parsed = { problem: msg('init.keys.unclosed') };
        break;
      }
      answer += more;
      parsed = parseTrustedKeys(answer);
    }
    if ('problem' in parsed) {
      bad(ui.say(parsed.problem));
      continue;
    }
    const next = mergeKeys(keys, parsed.keys);
    const problems = problemsAt({ ...d, trustedKeys: next }, ['trustedKeys'], ctx.dir);
    if (problems.length > 0) {
      for (const pr of problems) bad(pr);
      continue;
    }
    keys = next;
    ui.out(
      ui.t(keys.length === 1 ? 'init.keys.added1' : 'init.keys.added', {
        keys: describeKeys(parsed.keys, ui.lang),
        n: keys.length,
      }),
    );
  }
  const gaps = trustGaps(keys);
  if (gaps.length > 0) ui.out(ui.t('init.keys.warn', { gaps: gapsText(gaps, 'or') }));
  if (keys.length === 0) delete d.trustedKeys;
  else d.trustedKeys = keys;
  return d;
}

function summary(ui: Ui, d: Draft, plan: Plan): void {
  const g = (...path: string[]) => getAt(d, path);
  const t = ui.t;
  const site = [
    g('site', 'communeName'),
    g('site', 'communeCode') && t('show.code', { code: String(g('site', 'communeCode')) }),
    g('site', 'province') && t('show.province', { province: String(g('site', 'province')) }),
  ]
    .filter(Boolean)
    .join(', ');
  const board = g('hardware', 'board') ?? 'sim';
  const hw =
    board === 'mcu'
      ? t('init.sum.mcu', { path: String(g('hardware', 'mcu', 'path') ?? '/dev/loa-io') })
      : board === 'gpio'
        ? `gpio ${JSON.stringify(g('hardware', 'gpio', 'pins'))}`
        : String(board);
  const pw =
    plan.password === ''
      ? t('init.sum.removed')
      : plan.password !== undefined || g('mqtt', 'passwordFile')
        ? t('init.sum.set')
        : t('init.none');
  const row = (label: Parameters<Ui['t']>[0], value: string) => ui.out(`  ${padDisplay(t(label), 8)} ${value}`);
  ui.out('');
  ui.out(t('init.sum'));
  row(
    'init.sum.l.device',
    t('init.sum.device', {
      id: String(g('deviceId')),
      groups: ((g('groups') as string[] | undefined) ?? []).join(', ') || t('init.none'),
    }),
  );
  row(
    'init.sum.l.site',
    t('init.sum.site', {
      site: site || '-',
      lat: String(g('site', 'lat') ?? '?'),
      lon: String(g('site', 'lon') ?? '?'),
    }),
  );
  row(
    'init.sum.l.broker',
    t('init.sum.broker', {
      url: String(g('mqtt', 'url')),
      user: String(g('mqtt', 'username') ?? '-'),
      pw,
      ca: plan.caFrom ?? String(g('mqtt', 'ca') ?? t('init.sum.systemCa')),
    }),
  );
  row('init.sum.l.keys', describeKeys((g('trustedKeys') as TrustedKey[] | undefined) ?? [], ui.lang));
  row('init.sum.l.board', hw);
}

/** Throws (with the reason, in `lang`) unless `path` holds a PEM certificate. */
export function readCa(path: string, lang: Lang = 'en'): void {
  try {
    readCertificate(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT'
        ? msg('init.ca.missing')
        : e.code && e.code.startsWith('E') && !e.code.startsWith('ERR_')
          ? e.message
          : msg('init.ca.notPem');
    throw new CliError(msg('init.ca.bad', { path, why })(lang), EXIT.CONFIG, [msg('init.ca.give')(lang)]);
  }
}
