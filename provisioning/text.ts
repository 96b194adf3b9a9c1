// What a technician reads, in Vietnamese or English (issue 30 item 2), from the one
// message catalogue (contract/messages.ts). A check's detail, a hint, a verdict is made
// where the facts are known but read twice: on the terminal in the technician's language
// (`--lang`, LANG), and in the JSON report, the registration and `show --json` in English,
// so what programs read does not change with the technician's locale. So such a text is a
// `Text`: a plain string where there is nothing to translate (a path, a number, an error
// the system gave), or a catalogue message with its values, rendered when it is shown.
import { t, type Lang, type MessageKey } from '../contract/messages.js';

export type { Lang };

/** A string as it is, or a message rendered in the language it is read in. */
export type Text = string | ((lang: Lang) => string);

/** A message's values: strings and numbers as they are, Texts rendered in the same language. */
export type Vars = Readonly<Record<string, Text | number>>;

/** The catalogue's `key` with `vars`, rendered when read. */
export function msg(key: MessageKey, vars: Vars = {}): (lang: Lang) => string {
  return (lang) =>
    t(lang, key, Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, typeof v === 'function' ? v(lang) : v])));
}

/** `text` in `lang`. */
export function say(lang: Lang, text: Text): string {
  return typeof text === 'string' ? text : text(lang);
}

/** Texts one after the other (a detail with its suffix). */
export function cat(...parts: Text[]): Text {
  if (parts.every((p) => typeof p === 'string')) return parts.join('');
  return (lang) => parts.map((p) => say(lang, p)).join('');
}

/** Texts joined by `sep` ("a, b"; a list of reasons). */
export function joinTexts(parts: readonly Text[], sep: Text): Text {
  return (lang) => parts.map((p) => say(lang, p)).join(say(lang, sep));
}
