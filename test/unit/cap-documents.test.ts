// The commands made from CAP (noc/cap/documents.ts): what the boxes' schema knows is
// checked with it, repeat / cancel / capRef by the issue 16 contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCommand, cancelArgsProblems, capRefProblems, commandProblems, repeatProblems } from '../../noc/cap/documents.js';
import type { CancelAction, PlayAction } from '../../noc/cap/map.js';

const NOW = Date.now();
const capRef = { identifier: 'VN-1', sender: 'kttv', sent: '2026-11-27T14:05:00+07:00', msgType: 'Alert' };
const play: PlayAction = {
  kind: 'play',
  id: 'cap-0123456789abcdef',
  groups: ['c26734', 'c26737'],
  priority: 100,
  repeat: { everyS: 600, count: 3 },
  expiresAt: new Date(NOW + 3_600_000).toISOString(),
  capRef,
  audio: { tts: { lang: 'vi', text: 'x', sent: capRef.sent } },
  event: 'Bão',
};
const media = { id: 'cap-aa', url: 'https://media.example.vn/a.mp3', sha256: 'a'.repeat(64), bytes: 1000 };

test('a play command from CAP passes the agent schema and the repeat/capRef rules, for each group topic', () => {
  const doc = buildCommand(play, NOW, media);
  assert.deepEqual(commandProblems(doc, NOW), []);
  assert.deepEqual((doc.args as Record<string, unknown>).repeat, { everyS: 600, count: 3 });
  assert.deepEqual(doc.capRef, capRef);
  assert.deepEqual(doc.target, { groups: ['c26734', 'c26737'] });
});

test('a cancel command: envelope by the agent schema, args by the contract', () => {
  const c: CancelAction = { kind: 'cancel', id: 'cap-0123456789abcdef-x01234567', groups: ['c26734'], capId: 'VN-1', expiresAt: new Date(NOW + 3_600_000).toISOString(), capRef: { ...capRef, msgType: 'Cancel' } };
  const doc = buildCommand(c, NOW);
  assert.deepEqual(commandProblems(doc, NOW), []);
  assert.deepEqual(doc.args, { capId: 'VN-1' });
  assert.match(commandProblems({ ...doc, expiresAt: new Date(NOW + 48 * 3_600_000).toISOString() }, NOW).join(), /longer than boxes accept/);
});

test('repeat: everyS 60..86400, exactly one of until or count, count 1..1000', () => {
  assert.deepEqual(repeatProblems({ everyS: 60, until: '2026-11-27T10:00:00Z' }), []);
  assert.match(repeatProblems({ everyS: 59, count: 1 }).join(), /everyS: must be whole seconds, 60 to 86400/);
  assert.match(repeatProblems({ everyS: 600 }).join(), /exactly one of until or count/);
  assert.match(repeatProblems({ everyS: 600, count: 2, until: '2026-11-27T10:00:00Z' }).join(), /exactly one of until or count/);
  assert.match(repeatProblems({ everyS: 600, count: 1001 }).join(), /count: must be a whole number, 1 to 1000/);
  assert.match(repeatProblems({ everyS: 600, until: 'tomorrow' }).join(), /until: must be an RFC 3339 instant/);
  assert.match(repeatProblems({ everyS: 600, count: 1, every: 2 }).join(), /repeat\.every: unknown field/);
});

test('cancel args: at least one of docId, itemId, cmdId, capId; ids in form', () => {
  assert.match(cancelArgsProblems({}).join(), /at least one of docId, itemId, cmdId, capId/);
  assert.match(cancelArgsProblems({ cmdId: 'Bad Id' }).join(), /args\.cmdId: must match/);
  assert.match(cancelArgsProblems({ capId: 'a,b' }).join(), /args\.capId: must be a CAP identifier/);
  assert.deepEqual(cancelArgsProblems({ docId: 'c26734-daily', itemId: 'morning' }), []);
});

test('capRef: identifier, sender, sent and msgType Alert/Update/Cancel', () => {
  assert.deepEqual(capRefProblems(capRef), []);
  assert.match(capRefProblems({ ...capRef, msgType: 'Ack' }).join(), /capRef\.msgType/);
  assert.match(capRefProblems({ ...capRef, sender: '' }).join(), /capRef\.sender: must be a non-empty string/);
});

test('a play whose known parts the box would refuse is refused here', () => {
  const doc = buildCommand(play, NOW, { ...media, url: 'ftp://x/a.mp3' });
  assert.notDeepEqual(commandProblems(doc, NOW), []);
});
