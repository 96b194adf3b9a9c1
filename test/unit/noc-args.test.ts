// The command-line tools' argv parser (cli-kit/args.ts), as noc uses it: strict, so a typo never silently changes what a command does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, positionals, required, UsageError } from '../../cli-kit/index.js';
import { main } from '../../noc/cli.js';
import { memoryIo } from '../../noc/io.js';
import { brokerConfig, BROKER_SPEC } from '../../noc/mqtt.js';

const SPEC = {
  device: { kind: 'string' },
  timeout: { kind: 'number', min: 0.1 },
  json: { kind: 'boolean' },
  trust: { kind: 'list' },
} as const;

test('values as separate or = arguments, booleans, repeated lists, positionals', () => {
  const p = parseArgs(
    ['file.json', '--device', 'box-1', '--timeout=2.5', '--json', '--trust', 'a=1', '--trust=b=2', 'more'],
    SPEC,
    'noc send',
  );
  assert.deepEqual(p.opts, { device: 'box-1', timeout: 2.5, json: true, trust: ['a=1', 'b=2'] });
  assert.deepEqual(p.positional, ['file.json', 'more']);
  assert.equal(p.help, false);
});

test('-- ends the options; --help anywhere asks for help', () => {
  const p = parseArgs(['--json', '--', '--device', 'x'], SPEC, 'noc send');
  assert.deepEqual(p.positional, ['--device', 'x']);
  assert.equal(parseArgs(['--device', 'a', '--help'], SPEC, 'noc send').help, true);
  assert.equal(parseArgs(['-h'], SPEC, 'noc send').help, true);
});

test('usage errors name the option and the fix', () => {
  const err = (argv: string[], re: RegExp) =>
    assert.throws(
      () => parseArgs(argv, SPEC, 'noc send'),
      (e: unknown) => e instanceof UsageError && e.exitCode === 64 && re.test(e.message),
    );
  err(['--devcie', 'x'], /unknown option --devcie \(see noc send --help\)/);
  err(['-x'], /unknown option -x/);
  err(['--device'], /--device needs a value/);
  // A following known option means the value was forgotten.
  err(['--device', '--json'], /--device needs a value/);
  err(['--timeout', 'soon'], /--timeout must be a number \(got "soon"\)/);
  err(['--timeout', '0'], /--timeout must be at least 0.1/);
  err(['--device', 'a', '--device', 'b'], /--device given twice/);
  err(['--json=yes'], /--json takes no value/);
});

test('a negative number is a value, not an option', () => {
  const p = parseArgs(['-5'], SPEC, 'noc send');
  assert.deepEqual(p.positional, ['-5']);
});

test('required and positionals', () => {
  assert.throws(() => required(undefined, '--kid', 'centre-2026'), /--kid is required, e.g. --kid centre-2026/);
  assert.equal(required('x', '--kid', 'y'), 'x');
  assert.throws(() => positionals([], ['<file.json>'], 'noc sign'), /missing <file.json> \(see noc sign --help\)/);
  assert.throws(() => positionals(['a', 'b'], ['<file.json>'], 'noc sign'), /unexpected argument "b"/);
  assert.deepEqual(positionals([], ['<f>'], 'noc send', true), []);
});

test('broker options: URL forms, version, TLS flags need mqtts', () => {
  const cfg = brokerConfig({ broker: 'mqtt://127.0.0.1:1883' }, {});
  assert.equal(cfg.root, 'loa/v1');
  assert.equal(cfg.options.protocolVersion, 5);
  assert.equal(brokerConfig({ broker: 'mqtt://h', 'mqtt-version': '3.1.1' }, {}).options.protocolVersion, 4);
  assert.equal(brokerConfig({}, { NOC_BROKER: 'mqtt://h:1' }).url, 'mqtt://h:1');
  assert.throws(() => brokerConfig({}, {}), /--broker is required/);
  assert.throws(() => brokerConfig({ broker: 'http://h' }, {}), /must be mqtt:\/\/host:port/);
  assert.throws(
    () => brokerConfig({ broker: 'mqtt://h', 'mqtt-version': '4' }, {}),
    /--mqtt-version must be 5 or 3.1.1/,
  );
  assert.throws(() => brokerConfig({ broker: 'mqtt://h', ca: '/x' }, {}), /need an mqtts:\/\/ broker URL/);
  assert.throws(() => brokerConfig({ broker: 'mqtt://h', root: 'loa/#' }, {}), /--root "loa\/#" is not a topic prefix/);
  void BROKER_SPEC;
});

test('main: exit 64 (EX_USAGE) for an unknown command or option, 0 for --help, one line on stderr', async () => {
  let io = memoryIo();
  assert.equal(await main(['frobnicate'], io), 64);
  assert.match(io.stderr.join('\n'), /unknown command "frobnicate"/);
  io = memoryIo();
  assert.equal(await main(['send', '--broker', 'mqtt://h', '--devcie', 'x'], io), 64);
  assert.deepEqual(io.stderr, ['noc send: unknown option --devcie (see noc send --help)']);
  for (const sub of ['keys', 'sign', 'publish', 'send', 'watch', 'events', 'simulate', 'cap', 'tts']) {
    io = memoryIo();
    assert.equal(await main([sub, '--help'], io), 0, sub);
    assert.match(io.stdout.join('\n'), new RegExp(`^noc ${sub}`), sub);
  }
  io = memoryIo();
  assert.equal(await main(['events', 'export', '--help'], io), 0);
  assert.match(io.stdout.join('\n'), /Columns: device,/);
  io = memoryIo();
  assert.equal(await main(['send', '--broker', 'mqtt://h', '--device', 'b', '--group', 'g', '--key', 'k'], io), 64);
  assert.match(io.stderr[0]!, /exactly one of --device ID or --group G/);
});
