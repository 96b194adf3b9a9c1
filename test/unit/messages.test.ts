// The message catalogue (contract/messages.ts and the parts it spreads in): every message
// in Vietnamese and English, neither empty, both with the same {placeholders}, no key of
// one part hidden by another's; and the language a command picks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LANGS, MESSAGE_PARTS, MESSAGES, pickLang, t } from '../../contract/messages.js';

const holes = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('every message has both languages, non-empty, with the same placeholders', () => {
  for (const [key, m] of Object.entries(MESSAGES)) {
    for (const l of LANGS) assert.ok(m[l].trim().length > 0, `${key}: ${l} is empty`);
    assert.deepEqual(holes(m.vi), holes(m.en), `${key}: the placeholders differ`);
    assert.notEqual(m.vi, m.en, `${key}: not translated`);
  }
});

test('the parts spread into the catalogue share no key (a later one would silently replace an earlier)', () => {
  const seen = new Map<string, number>();
  for (const [i, part] of MESSAGE_PARTS.entries())
    for (const key of Object.keys(part)) {
      assert.equal(seen.get(key), undefined, `${key}: in part ${seen.get(key)} and part ${i}`);
      seen.set(key, i);
      assert.equal(MESSAGES[key as keyof typeof MESSAGES], part[key], key);
    }
});

test('t() fills placeholders and leaves unknown ones visible', () => {
  assert.equal(t('vi', 'page.login.wait', { s: 42 }), 'Sai quá nhiều lần. Thử lại sau 42 giây.');
  assert.equal(t('en', 'page.login.wait'), 'Too many failed attempts. Try again in {s} s.');
});

test('--lang first, then LC_ALL and LANG, else the fallback', () => {
  assert.equal(pickLang('en', { LANG: 'vi_VN.UTF-8' }, 'vi'), 'en');
  assert.equal(pickLang(undefined, { LANG: 'vi_VN.UTF-8' }, 'en'), 'vi');
  assert.equal(pickLang(undefined, { LC_ALL: 'en_US.UTF-8', LANG: 'vi_VN' }, 'vi'), 'en');
  assert.equal(pickLang(undefined, { LANG: 'C.UTF-8' }, 'vi'), 'vi');
});
