// The commands made from CAP (noc/cap/documents.ts), checked with the boxes' own schema:
// repeat, cancel and capRef included (issue 16 contract, docs/protocol.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCommand, commandProblems } from '../../noc/cap/documents.js';
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
  const c: CancelAction = {
    kind: 'cancel',
    id: 'cap-0123456789abcdef-x01234567',
    groups: ['c26734'],
    capId: 'VN-1',
    expiresAt: new Date(NOW + 3_600_000).toISOString(),
    capRef: { ...capRef, msgType: 'Cancel' },
  };
  const doc = buildCommand(c, NOW);
  assert.deepEqual(commandProblems(doc, NOW), []);
  assert.deepEqual(doc.args, { capId: 'VN-1' });
  assert.match(
    commandProblems({ ...doc, expiresAt: new Date(NOW + 48 * 3_600_000).toISOString() }, NOW).join(),
    /longer than boxes accept/,
  );
});

const withRepeat = (repeat: unknown) =>
  commandProblems(
    { ...buildCommand(play, NOW, media), args: { ...(buildCommand(play, NOW, media).args as object), repeat } },
    NOW,
  ).join();
const cancelWith = (over: Record<string, unknown>) => {
  const c: CancelAction = {
    kind: 'cancel',
    id: 'cap-0123456789abcdef-x01234567',
    groups: ['c26734'],
    capId: 'VN-1',
    expiresAt: new Date(NOW + 3_600_000).toISOString(),
    capRef: { ...capRef, msgType: 'Cancel' },
  };
  return commandProblems({ ...buildCommand(c, NOW), ...over }, NOW).join();
};

test('repeat, by the box schema: everyS at least 60 (the box default), exactly one of until or count, count 1..1000', () => {
  assert.equal(withRepeat({ everyS: 60, until: new Date(NOW + 600_000).toISOString() }), '');
  assert.match(withRepeat({ everyS: 59, count: 1 }), /args\.repeat\.everyS: must be at least 60 s/);
  assert.match(withRepeat({ everyS: 600 }), /exactly one of until or count/);
  assert.match(
    withRepeat({ everyS: 600, count: 2, until: new Date(NOW + 600_000).toISOString() }),
    /exactly one of until or count/,
  );
  assert.match(withRepeat({ everyS: 600, count: 1001 }), /args\.repeat\.count: must be 1 to 1000/);
  assert.match(withRepeat({ everyS: 600, until: 'tomorrow' }), /args\.repeat\.until/);
});

test('cancel args, by the box schema: at least one of docId, itemId, cmdId, capId; ids in form', () => {
  assert.match(cancelWith({ args: {} }), /at least one of docId, itemId, cmdId, capId/);
  assert.match(cancelWith({ args: { cmdId: 'Bad Id' } }), /args\.cmdId/);
  assert.match(cancelWith({ args: { capId: 'a,b' } }), /args\.capId: must be a CAP identifier/);
  assert.equal(cancelWith({ args: { docId: 'c26734-daily', itemId: 'morning' } }), '');
});

test('capRef, by the box schema: identifier, sender, sent and msgType Alert/Update/Cancel', () => {
  assert.match(
    cancelWith({ capRef: { ...capRef, msgType: 'Ack' } }),
    /capRef\.msgType: must be Alert, Update or Cancel/,
  );
  assert.match(cancelWith({ capRef: { ...capRef, sender: '' } }), /capRef\.sender: must not be empty/);
});

test('a play whose known parts the box would refuse is refused here', () => {
  const doc = buildCommand(play, NOW, { ...media, url: 'ftp://x/a.mp3' });
  assert.notDeepEqual(commandProblems(doc, NOW), []);
});

test("repeat.everyS is checked against the fleet's schedule.minRepeatS when given (noc cap --min-repeat-s)", () => {
  const doc = {
    ...buildCommand(play, NOW, media),
    args: { ...(buildCommand(play, NOW, media).args as object), repeat: { everyS: 5, count: 3 } },
  };
  assert.deepEqual(commandProblems(doc, NOW, 5), []);
  assert.match(commandProblems(doc, NOW, 6).join(), /args\.repeat\.everyS: must be at least 6 s/);
  assert.match(commandProblems(doc, NOW).join(), /must be at least 60 s/);
});
