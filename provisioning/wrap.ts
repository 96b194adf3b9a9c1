// Lines that fit the technician's terminal: a phone's SSH app is often 50 columns wide,
// and a line the terminal wraps itself is cut mid-word and loses its indentation. Here
// a line is broken at spaces only, its continuation lines start under a hanging indent,
// and a word longer than the room left (a path, a fingerprint) gets a line of its own
// rather than being cut. Pure: the width is given; io.ts decides it (a terminal's
// columns; nothing is wrapped in a pipe, a log or JSON).

/** Columns a string takes on a terminal: combining marks (a decomposed Vietnamese "ữ") take none. */
export function displayWidth(s: string): number {
  let n = 0;
  for (const ch of s) if (!/\p{M}/u.test(ch)) n++;
  return n;
}

/**
 * `line` broken at spaces into lines of at most `width` columns (undefined: not
 * wrapped). The first line keeps its leading spaces; the others start with `indent`
 * spaces (default: the leading spaces plus 2), at most half the width. Runs of spaces
 * inside a line (aligned columns) are kept; those at a break are dropped.
 */
export function wrapLine(line: string, width: number | undefined, indent?: number): string[] {
  if (width === undefined || width <= 0 || displayWidth(line) <= width) return [line];
  const lead = /^ */.exec(line)![0];
  const hang = ' '.repeat(Math.max(0, Math.min(indent ?? lead.length + 2, Math.floor(width / 2))));
  // [spaces before, word] pairs; the first word's spaces are the lead.
  const parts = [...line.slice(lead.length).matchAll(/( *)(\S+)/g)].map((m) => [m[1]!, m[2]!] as const);
  const out: string[] = [];
  let cur = lead;
  let empty = true; // nothing but the indent on `cur` yet
  for (const [gap, word] of parts) {
    if (empty) {
      cur += word;
      empty = false;
    } else if (displayWidth(cur) + displayWidth(gap) + displayWidth(word) <= width) {
      cur += gap + word;
    } else {
      out.push(cur);
      cur = hang + word;
    }
  }
  out.push(cur);
  return out;
}

/** Every line of `text` (which may hold newlines) wrapped; see wrapLine. */
export function wrapText(text: string, width: number | undefined, indent?: number): string[] {
  return text.split('\n').flatMap((l) => wrapLine(l, width, indent));
}

/** `s` with spaces after it up to `width` columns (padEnd counts UTF-16 units, not columns). */
export function padDisplay(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - displayWidth(s)));
}

/** The first `columns` columns of `s`, a letter's combining marks kept with it. */
export function cutDisplay(s: string, columns: number): string {
  let n = 0;
  let out = '';
  for (const ch of s) {
    const mark = /\p{M}/u.test(ch);
    if (!mark && n === columns) break;
    if (!mark) n++;
    out += ch;
  }
  return out;
}
