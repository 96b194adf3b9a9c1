// How a check looks: one line per check (✓ ✗ ! – on a UTF-8 terminal, [ok] [FAIL]
// [warn] [skip] elsewhere), a one-line hint under every ✗, a spinner while a long step
// runs (only on a TTY: a log or a pipe gets no animation), and the JSON report.
import type { CheckReport, CheckStatus } from '../contract/index.js';
import type { MessageKey } from '../contract/messages.js';
import type { Ui } from './io.js';
import { msg, say, type Lang, type Text } from './text.js';
import { cutDisplay, displayWidth, padDisplay, wrapLine } from './wrap.js';

// The report's wire form is the contract's (docs/protocol.md §8, contract/topics.ts).
export type { CheckReport, CheckStatus };

/**
 * One line of the checklist. `ok` is false only for a failure (a warning or a skip
 * passes). `name` is the report's (English, what programs read); the terminal shows it in
 * the technician's language (NAMES). The detail and hint are Texts: the technician's
 * language on the terminal, English in the report.
 */
export interface CheckResult {
  name: string;
  ok: boolean;
  status: CheckStatus;
  detail: Text;
  hint?: Text;
  ms: number;
}

/** Every check's name as the terminal shows it; a name not listed is shown as it is. */
const NAMES: Readonly<Record<string, MessageKey>> = {
  'config valid': 'check.name.config',
  'trusted keys': 'check.name.trust',
  'clock synchronised': 'check.name.clock',
  'disk space': 'check.name.disk',
  'state directory': 'check.name.stateDir',
  'cache directory': 'check.name.cacheDir',
  'device certificate': 'check.name.cert',
  DNS: 'check.name.dns',
  'broker reachable': 'check.name.broker',
  microcontroller: 'check.name.mcu',
  status: 'check.name.status',
  'cabinet door': 'check.name.door',
  'mains power': 'check.name.mains',
  battery: 'check.name.battery',
  amplifier: 'check.name.amp',
  'speaker line': 'check.name.line',
  'FM tuner': 'check.name.fm',
  'test tone': 'check.name.tone',
  'commissioning level': 'check.name.commissioning',
  'IO board': 'check.name.board',
  'amplifier relay': 'check.name.ampRelay',
  'amplifier fault input': 'check.name.ampFault',
};

/** A check's name in `lang`. */
export function checkName(name: string, lang: Lang): string {
  const key = Object.hasOwn(NAMES, name) ? NAMES[name] : undefined;
  return key ? msg(key)(lang) : name;
}

export type Outcome = Pick<CheckResult, 'status' | 'detail' | 'hint'>;

export const pass = (detail: Text, hint?: Text): Outcome => ({ status: 'ok', detail, ...(hint ? { hint } : {}) });
export const fail = (detail: Text, hint: Text): Outcome => ({ status: 'fail', detail, hint });
export const warn = (detail: Text, hint: Text): Outcome => ({ status: 'warn', detail, hint });
export const skip = (detail: Text, hint?: Text): Outcome => ({ status: 'skip', detail, ...(hint ? { hint } : {}) });

/** A verdict of agent/domain/hardware-verdicts.ts (said in the language it is given) as an Outcome. */
export function fromVerdict(v: (lang: Lang) => { status: CheckStatus; detail: string; hint?: string }): Outcome {
  const en = v('en');
  return {
    status: en.status,
    detail: (l) => v(l).detail,
    ...(en.hint !== undefined ? { hint: (l: Lang) => v(l).hint ?? '' } : {}),
  };
}

export function result(name: string, o: Outcome, ms: number): CheckResult {
  return {
    name,
    ok: o.status !== 'fail',
    status: o.status,
    detail: o.detail,
    ...(o.hint ? { hint: o.hint } : {}),
    ms: Math.round(ms),
  };
}

/** Run one check, timing it; an unexpected exception is a failed check, not a crashed checklist. */
export async function timed(name: string, fn: () => Promise<Outcome>): Promise<CheckResult> {
  const t0 = performance.now();
  try {
    return result(name, await fn(), performance.now() - t0);
  } catch (err) {
    return result(
      name,
      fail(msg('check.unexpected', { message: (err as Error).message }), msg('check.unexpected.hint')),
      performance.now() - t0,
    );
  }
}

const MARKS = {
  unicode: { ok: '✓', fail: '✗', warn: '!', skip: '–', hint: '→' },
  ascii: { ok: '[ok]', fail: '[FAIL]', warn: '[warn]', skip: '[skip]', hint: '->' },
};

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/**
 * The check's line (in `lang`, the report's English by default) and, for anything but a pass, its hint line. With a `width` (a
 * terminal's), both are wrapped at words: the detail continues under itself when there
 * is room for 30 columns of it, else under the hint's indent; the hint under its text.
 */
export function formatLine(r: CheckResult, unicode: boolean, width?: number, lang: Lang = 'en'): string[] {
  const m = unicode ? MARKS.unicode : MARKS.ascii;
  const mark = m[r.status].padEnd(unicode ? 1 : 6);
  const slow = r.ms >= 1000 ? ` (${seconds(r.ms)})` : '';
  const head = `${mark} ${padDisplay(checkName(r.name, lang), 22)} `;
  const hintLead = `${' '.repeat(unicode ? 4 : 7)}${m.hint} `;
  const detailCol = displayWidth(head);
  const indent = width === undefined || width - detailCol >= 30 ? detailCol : hintLead.length;
  const lines = wrapLine(`${head}${say(lang, r.detail)}${slow}`, width, indent);
  const hint = r.hint === undefined ? '' : say(lang, r.hint);
  if (hint && r.status !== 'ok') lines.push(...wrapLine(`${hintLead}${hint}`, width, displayWidth(hintLead)));
  return lines;
}

export function printResult(ui: Ui, r: CheckResult): void {
  for (const l of formatLine(r, ui.unicode, ui.width, ui.lang)) ui.out(l, { wrap: false });
}

export interface Progress {
  stop(): void;
}

/** A spinner with the elapsed seconds while `label` runs; nothing at all when not a TTY. */
export function progress(ui: Ui, text: Text, intervalMs = 250): Progress {
  if (!ui.tty) return { stop() {} };
  const label = ui.say(text);
  const frames = ui.unicode ? '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏' : '|/-\\';
  const t0 = Date.now();
  let i = 0;
  // One line that \r can redraw: a label the terminal wrapped would scroll at every frame.
  const room = (ui.width ?? 80) - 10;
  const shown =
    displayWidth(label) > room ? `${cutDisplay(label, Math.max(10, room - 3))}${ui.unicode ? '…' : '...'}` : label;
  const draw = () =>
    ui.write(`\r${frames[i++ % frames.length]} ${shown} ${Math.floor((Date.now() - t0) / 1000)} s\x1b[K`);
  draw();
  const timer = setInterval(draw, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      ui.write('\r\x1b[K');
    },
  };
}

export async function withProgress<T>(ui: Ui, label: Text, fn: () => Promise<T>): Promise<T> {
  const p = progress(ui, label);
  try {
    return await fn();
  } finally {
    p.stop();
  }
}

export function buildReport(
  deviceId: string | null,
  results: readonly CheckResult[],
  o: { ts: Date; totalMs: number; agentVersion: string },
): CheckReport {
  return {
    deviceId,
    ts: o.ts.toISOString(),
    passed: results.every((r) => r.ok),
    agentVersion: o.agentVersion,
    totalMs: Math.round(o.totalMs),
    // English whatever the technician reads: the centre and scripts read the report.
    checks: results.map((r) => ({
      name: r.name,
      ok: r.ok,
      status: r.status,
      detail: say('en', r.detail),
      hint: r.hint === undefined ? null : say('en', r.hint),
      ms: r.ms,
    })),
  };
}

export function summaryLine(results: readonly CheckResult[], totalMs: number, lang: Lang = 'en'): string {
  const n = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  const longest = results.reduce<CheckResult | undefined>((a, r) => (!a || r.ms > a.ms ? r : a), undefined);
  const tx = (key: MessageKey, vars?: Record<string, string | number>) => msg(key, vars)(lang);
  const parts = [
    tx('check.sum.passed', { n: n('ok') }),
    tx('check.sum.failed', { n: n('fail') }),
    ...(n('warn') ? [tx(n('warn') > 1 ? 'check.sum.warnings' : 'check.sum.warning', { n: n('warn') })] : []),
    ...(n('skip') ? [tx('check.sum.skipped', { n: n('skip') })] : []),
  ];
  return tx('check.sum', {
    parts: parts.join(', '),
    time: seconds(totalMs),
    longest: longest ? tx('check.sum.longest', { name: checkName(longest.name, lang), time: seconds(longest.ms) }) : '',
  });
}
