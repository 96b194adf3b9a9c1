// How a check looks: one line per check (✓ ✗ ! – on a UTF-8 terminal, [ok] [FAIL]
// [warn] [skip] elsewhere), a one-line hint under every ✗, a spinner while a long step
// runs (only on a TTY: a log or a pipe gets no animation), and the JSON report.
import type { CheckReport, CheckStatus } from '../contract/index.js';
import type { Ui } from './io.js';
import { displayWidth, wrapLine } from './wrap.js';

// The report's wire form is the contract's (docs/protocol.md §8, contract/topics.ts).
export type { CheckReport, CheckStatus };

/** One line of the checklist. `ok` is false only for a failure (a warning or a skip passes). */
export interface CheckResult {
  name: string;
  ok: boolean;
  status: CheckStatus;
  detail: string;
  hint?: string;
  ms: number;
}

export type Outcome = Pick<CheckResult, 'status' | 'detail' | 'hint'>;

export const pass = (detail: string, hint?: string): Outcome => ({ status: 'ok', detail, ...(hint ? { hint } : {}) });
export const fail = (detail: string, hint: string): Outcome => ({ status: 'fail', detail, hint });
export const warn = (detail: string, hint: string): Outcome => ({ status: 'warn', detail, hint });
export const skip = (detail: string, hint?: string): Outcome => ({ status: 'skip', detail, ...(hint ? { hint } : {}) });

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
      fail(`unexpected error: ${(err as Error).message}`, 'run again with LOA_DEBUG=1 and report it with the output'),
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
 * The check's line and, for anything but a pass, its hint line. With a `width` (a
 * terminal's), both are wrapped at words: the detail continues under itself when there
 * is room for 30 columns of it, else under the hint's indent; the hint under its text.
 */
export function formatLine(r: CheckResult, unicode: boolean, width?: number): string[] {
  const m = unicode ? MARKS.unicode : MARKS.ascii;
  const mark = m[r.status].padEnd(unicode ? 1 : 6);
  const slow = r.ms >= 1000 ? ` (${seconds(r.ms)})` : '';
  const head = `${mark} ${r.name.padEnd(22)} `;
  const hintLead = `${' '.repeat(unicode ? 4 : 7)}${m.hint} `;
  const detailCol = displayWidth(head);
  const indent = width === undefined || width - detailCol >= 30 ? detailCol : hintLead.length;
  const lines = wrapLine(`${head}${r.detail}${slow}`, width, indent);
  if (r.hint && r.status !== 'ok') lines.push(...wrapLine(`${hintLead}${r.hint}`, width, displayWidth(hintLead)));
  return lines;
}

export function printResult(ui: Ui, r: CheckResult): void {
  for (const l of formatLine(r, ui.unicode, ui.width)) ui.out(l, { wrap: false });
}

export interface Progress {
  stop(): void;
}

/** A spinner with the elapsed seconds while `label` runs; nothing at all when not a TTY. */
export function progress(ui: Ui, label: string, intervalMs = 250): Progress {
  if (!ui.tty) return { stop() {} };
  const frames = ui.unicode ? '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏' : '|/-\\';
  const t0 = Date.now();
  let i = 0;
  // One line that \r can redraw: a label the terminal wrapped would scroll at every frame.
  const room = (ui.width ?? 80) - 10;
  const shown =
    displayWidth(label) > room
      ? `${[...label].slice(0, Math.max(10, room - 3)).join('')}${ui.unicode ? '…' : '...'}`
      : label;
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

export async function withProgress<T>(ui: Ui, label: string, fn: () => Promise<T>): Promise<T> {
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
    checks: results.map((r) => ({
      name: r.name,
      ok: r.ok,
      status: r.status,
      detail: r.detail,
      hint: r.hint ?? null,
      ms: r.ms,
    })),
  };
}

export function summaryLine(results: readonly CheckResult[], totalMs: number): string {
  const n = (s: CheckResult['status']) => results.filter((r) => r.status === s).length;
  const longest = results.reduce<CheckResult | undefined>((a, r) => (!a || r.ms > a.ms ? r : a), undefined);
  const parts = [
    `${n('ok')} passed`,
    `${n('fail')} failed`,
    ...(n('warn') ? [`${n('warn')} warning${n('warn') > 1 ? 's' : ''}`] : []),
    ...(n('skip') ? [`${n('skip')} skipped`] : []),
  ];
  return `${parts.join(', ')} in ${seconds(totalMs)}${longest ? ` (longest: ${longest.name}, ${seconds(longest.ms)})` : ''}`;
}
