// The kit both command-line tools share (cli-kit/): one parser, one exit-code
// table, one error base, one bounded wait. noc's side is in noc-args.test.ts; here is
// what loa-provision gets from it, and the table the two tools document.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CliError, EXIT, Failure, parseArgs, secondsFlag, UsageError, withTimeout } from '../../cli-kit/index.js';
import { main as provision } from '../../provisioning/cli.js';
import { memoryIo } from '../../provisioning/io.js';

test('one exit-code table: 64 for a bad command line in both tools; noc send 0/1/3 and check 0/1/78 as documented', () => {
  assert.deepEqual(EXIT, { OK: 0, FAIL: 1, TIMEOUT: 3, USAGE: 64, CONFIG: 78, ABORTED: 130 });
  assert.equal(new UsageError('x').exitCode, 64);
  assert.equal(new Failure('x').exitCode, 1);
  assert.ok(new UsageError('x') instanceof CliError);
  assert.equal(new UsageError('x').name, 'UsageError');
});

test('loa-provision: an unknown option, a stray argument or a missing value is a usage error (64) naming the fix', async () => {
  const run = async (argv: string[]) => {
    const io = memoryIo(Readable.from([]));
    const code = await provision(argv, io);
    return { code, err: io.errOut() };
  };
  let r = await run(['check', '--conifg', '/etc/loa/agent.json']);
  assert.equal(r.code, 64);
  assert.match(r.err, /loa-provision check: unknown option --conifg \(see loa-provision check --help\)/);
  r = await run(['show', 'extra']);
  assert.equal(r.code, 64);
  assert.match(r.err, /unexpected argument "extra" \(see loa-provision show --help\)/);
  r = await run(['register', '--timeout']);
  assert.equal(r.code, 64);
  assert.match(r.err, /--timeout needs a value/);
  r = await run(['register', '--timeout', '-3']);
  assert.equal(r.code, 64);
  assert.match(r.err, /--timeout "-3" is not a positive number of seconds/);
  r = await run(['frobnicate']);
  assert.equal(r.code, 64);
  r = await run([]);
  assert.equal(r.code, 64);
});

test('the parser: a one-letter alias for a boolean, lists, and -h', () => {
  const spec = {
    yes: { kind: 'boolean', short: 'y' },
    'trusted-key': { kind: 'list' },
    config: { kind: 'string' },
  } as const;
  const p = parseArgs(
    ['-y', '--trusted-key', 'a=1', '--trusted-key=b=2', '--config', 'c.json'],
    spec,
    'loa-provision init',
  );
  assert.deepEqual(p.opts, { yes: true, 'trusted-key': ['a=1', 'b=2'], config: 'c.json' });
  assert.equal(parseArgs(['-h'], spec, 'loa-provision init').help, true);
  assert.throws(
    () => parseArgs(['-x'], spec, 'loa-provision init'),
    (e: unknown) => e instanceof UsageError && /unknown option -x/.test(e.message),
  );
  // noc refuses a repeated value; loa-provision lets the later one win (a script's defaults, then the technician's).
  assert.throws(() => parseArgs(['--config', 'a', '--config', 'b'], spec, 'noc x'), /--config given twice/);
  assert.equal(
    parseArgs(['--config', 'a', '--config', 'b'], spec, 'loa-provision init', { repeated: 'last' }).opts.config,
    'b',
  );
  assert.equal(secondsFlag(undefined, 'timeout', 20), 20);
  assert.equal(secondsFlag('2.5', 'timeout', 20), 2.5);
});

test('withTimeout: the value, or an error with the code after the time', async () => {
  assert.equal(await withTimeout(Promise.resolve(7), 1000), 7);
  await assert.rejects(
    withTimeout(new Promise(() => {}), 20, 'EAI_AGAIN'),
    (e: Error & { code?: string }) => e.code === 'EAI_AGAIN' && /no answer within 20 ms/.test(e.message),
  );
});
