// init's questions as data: answers become config values, checked by the agent's own
// schema, and only the problems at the asked field are shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  FIELDS,
  currentText,
  getAt,
  parseNumber,
  parsePin,
  problemsAt,
  schemaProblems,
  setAt,
  tryAnswer,
  type Draft,
} from '../../provisioning/draft.js';
import { makeUi, memoryIo } from '../../provisioning/io.js';
import { PromptAborted, Prompter } from '../../provisioning/prompt.js';

const field = (flag: string) => FIELDS.find((f) => f.flag === flag)!;

test('numbers: a decimal comma is a decimal point; anything else reaches the schema as typed', () => {
  assert.equal(parseNumber('10,68'), 10.68);
  assert.equal(parseNumber('-10.5'), -10.5);
  assert.equal(parseNumber('abc'), 'abc');
  assert.equal(parseNumber(''), undefined);
});

test('pins: "17", "GPIO17", "17:low"', () => {
  assert.deepEqual(parsePin('17'), { line: 17 });
  assert.deepEqual(parsePin('GPIO17'), { line: 17 });
  assert.deepEqual(parsePin('17:low'), { line: 17, activeLow: true });
  assert.deepEqual(parsePin('seventeen'), { line: 'seventeen' });
});

test('setAt creates the path and removes what it empties', () => {
  const d: Draft = {};
  setAt(d, ['hardware', 'gpio', 'pins', 'amp'], { line: 17 });
  assert.deepEqual(getAt(d, ['hardware', 'gpio', 'pins', 'amp']), { line: 17 });
  setAt(d, ['hardware', 'gpio', 'pins', 'amp'], undefined);
  assert.deepEqual(d, {});
});

test("a wrong answer gets the schema's message for that field only", () => {
  const lat = tryAnswer({}, field('lat'), '200', '/etc/loa');
  assert.deepEqual(lat, { problems: ['site.lat: 200 is not a latitude (-90 to 90)'] });
  const notNumber = tryAnswer({}, field('lat'), 'north', '/etc/loa');
  assert.deepEqual(notNumber, { problems: ['site.lat: "north" is not a number (expected degrees)'] });
  const ok = tryAnswer({}, field('lat'), '10,68', '/etc/loa');
  assert.ok('value' in ok);
  assert.equal(getAt(ok.value, ['site', 'lat']), 10.68);
  // Other fields are missing (deviceId, mqtt.url) but not reported for this answer.
  const id = tryAnswer({}, field('device-id'), 'Box 1', '/etc/loa');
  assert.ok('problems' in id);
  assert.equal(id.problems.length, 1);
  assert.match(id.problems[0]!, /^deviceId: "Box 1" is not a valid device id/);
  const url = tryAnswer({}, field('broker'), 'mqtt:/x', '/etc/loa');
  assert.deepEqual(url, {
    problems: ['mqtt.url: "mqtt:/x" is not a URL of the form mqtt://host[:port] or mqtts://host[:port]'],
  });
  const group = tryAnswer({}, field('groups'), 'all, C26734', '/etc/loa');
  assert.ok('problems' in group);
  assert.match(group.problems[0]!, /^groups\[1\]: "C26734" is not a valid group name/);
});

test('a required field left empty says so', () => {
  assert.deepEqual(tryAnswer({}, field('device-id'), '', '/etc/loa'), { problems: ['deviceId: missing (required)'] });
});

test('two functions on one GPIO line are refused before the agent would refuse them at start', () => {
  const d: Draft = {
    deviceId: 'a',
    mqtt: { url: 'mqtt://h' },
    hardware: { board: 'gpio', gpio: { pins: { amp: { line: 17 }, inputFm: { line: 27 } } } },
  };
  const r = tryAnswer(d, field('pin-line'), '17', '/etc/loa');
  assert.deepEqual(r, {
    problems: ['hardware.gpio.pins.inputLine: line 17 is already the amp relay (one function per GPIO line)'],
  });
  assert.ok('value' in tryAnswer(d, field('pin-line'), '22', '/etc/loa'));
});

test('suggested defaults follow the earlier answers', () => {
  const d: Draft = { site: { province: '79', communeCode: '26734' } };
  assert.equal(currentText(d, field('device-id'), {}), 'vn-79-26734-01');
  assert.equal(currentText(d, field('groups'), {}), 'all,p79,c26734');
  assert.equal(currentText({ groups: ['x', 'y'] }, field('groups'), {}), 'x,y', 'an existing value wins');
  assert.equal(currentText({}, field('installer'), { SUDO_USER: 'tuan' }), 'tuan');
  assert.equal(
    currentText(
      { hardware: { board: 'gpio', gpio: { pins: { amp: { line: 17, activeLow: true } } } } },
      field('pin-amp'),
      {},
    ),
    '17:low',
  );
});

test('pins and serial are asked only for their board', () => {
  const gpio = { hardware: { board: 'gpio' } };
  assert.equal(field('pin-amp').when!(gpio), true);
  assert.equal(field('serial').when!(gpio), false);
  assert.equal(field('serial').when!({ hardware: { board: 'mcu' } }), true);
});

test('schemaProblems is empty exactly when parseConfig accepts the draft', () => {
  assert.deepEqual(schemaProblems({ deviceId: 'a', mqtt: { url: 'mqtt://h' } }, '/etc/loa'), []);
  assert.deepEqual(
    problemsAt({ deviceId: 'a', mqtt: { url: 'mqtt://h' }, site: { lon: 500 } }, ['site', 'lon'], '/etc/loa'),
    ['site.lon: 500 is not a longitude (-180 to 180)'],
  );
});

function prompter(input: string) {
  const stdin = new PassThrough();
  stdin.end(input);
  const io = memoryIo(stdin);
  return { p: new Prompter(makeUi(io)), io };
}

test('prompts: answers typed ahead are not lost, Enter takes the default, a bad answer is asked again', async () => {
  const { p, io } = prompter('\n200\n10.5\n');
  assert.equal(await p.ask('Device id', { default: 'vn-1' }), 'vn-1');
  const lat = await p.askValid('Latitude', {}, (a) => {
    const r = tryAnswer({}, field('lat'), a, '/etc/loa');
    return 'value' in r ? { value: getAt(r.value, ['site', 'lat']) } : r;
  });
  assert.equal(lat, 10.5);
  p.close();
  assert.match(io.out(), /Device id \[vn-1\]: \n/);
  assert.match(
    io.out(),
    /Latitude: 200\n {2}\[FAIL\] site\.lat: 200 is not a latitude \(-90 to 90\)\nLatitude: 10\.5\n/,
  );
});

test('prompts: a password answer is never echoed into the transcript', async () => {
  const { p, io } = prompter('hunter2\n');
  assert.equal(await p.ask('Broker password', { secret: true }), 'hunter2');
  p.close();
  assert.doesNotMatch(io.out(), /hunter2/);
});

test('prompts: the end of input rejects the question (nothing gets written)', async () => {
  const { p } = prompter('only-one\n');
  assert.equal(await p.ask('First'), 'only-one');
  await assert.rejects(p.ask('Second'), (e: unknown) => e instanceof PromptAborted && e.why === 'end of input');
  p.close();
});

test('a broker URL with credentials: refused at the URL, naming the fields to use, the password not shown', () => {
  const d: Draft = { deviceId: 'box-1', mqtt: { url: 'mqtts://box:Pw-9@broker.example.vn:8883' } };
  const p = problemsAt(d, ['mqtt', 'url'], '/etc/loa');
  assert.equal(p.length, 1);
  assert.match(
    p[0]!,
    /^mqtt\.url: "mqtts:\/\/\*\*\*@broker\.example\.vn:8883" holds credentials: .*mqtt\.username.*mqtt\.passwordFile/,
  );
  assert.ok(!p[0]!.includes('Pw-9'));
});
