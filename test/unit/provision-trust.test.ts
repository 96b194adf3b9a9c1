// The trusted-key answer takes what `noc keys` prints, as printed (issue 30 item 3): the
// real command's output, one object or a list, with or without roles; kid=publicKey
// still works; a multi-line paste is read on until it closes; and a config with no key
// for schedules or commands is a failed check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keysCommand } from '../../noc/keys.js';
import { memoryIo as nocIo } from '../../noc/io.js';
import { problemsAt } from '../../provisioning/draft.js';
import { describeKeys, mergeKeys, parseTrustedKeys, trustGaps, trustOutcome } from '../../provisioning/trust.js';
import { tempDir } from '../helpers/tmp.js';
import { say, type Text } from '../../provisioning/text.js';

/** What the report, the JSON and the tests read: the English of a Text. */
const en = (t: Text) => say('en', t);

const T = { timeout: 10_000 };

/** What `noc keys` prints on its standard output, exactly. */
async function nocKeys(argv: string[]): Promise<string> {
  const io = nocIo();
  assert.equal(await keysCommand([...argv, '--out', tempDir('noc-keys')], io), 0);
  assert.equal(io.stdout.length, 1);
  return io.stdout[0]!;
}

test('the line "noc keys" prints is accepted as it is, roles included, and the agent schema agrees', T, async () => {
  const plain = await nocKeys(['--kid', 'centre-2026']);
  const r = parseTrustedKeys(plain);
  assert.ok('keys' in r, JSON.stringify(r));
  assert.equal(r.keys.length, 1);
  assert.equal(r.keys[0]!.kid, 'centre-2026');
  assert.equal(r.keys[0]!.roles, undefined);
  assert.deepEqual(
    problemsAt({ deviceId: 'a', mqtt: { url: 'mqtt://h' }, trustedKeys: r.keys }, ['trustedKeys'], '/'),
    [],
  );

  const release = await nocKeys(['--kid', 'release-2026', '--roles', 'release']);
  const rr = parseTrustedKeys(`  ${release}  `);
  assert.ok('keys' in rr);
  assert.deepEqual(rr.keys[0]!.roles, ['release']);

  // A list (two `noc keys` lines made into an array), and a config's {"trustedKeys": [...]}.
  const both = parseTrustedKeys(`[${plain},${release}]`);
  assert.ok('keys' in both);
  assert.deepEqual(
    both.keys.map((k) => k.kid),
    ['centre-2026', 'release-2026'],
  );
  const fromConfig = parseTrustedKeys(JSON.stringify({ trustedKeys: both.keys }));
  assert.ok('keys' in fromConfig);
  assert.equal(fromConfig.keys.length, 2);
});

test('kid=publicKey, kid:key and "kid key" still work; what is not a key says why', T, () => {
  for (const s of ['centre-2026=abc', 'centre-2026:abc', 'centre-2026 abc'])
    assert.deepEqual(parseTrustedKeys(s), { keys: [{ kid: 'centre-2026', publicKey: 'abc' }] });
  const bad = (s: string) => {
    const r = parseTrustedKeys(s);
    assert.ok('problem' in r, `${s}: ${JSON.stringify(r)}`);
    return r.problem;
  };
  assert.match(
    en(bad('no-key-here')),
    /is not \{"kid":"…","publicKey":"…"\} as "noc keys" prints it, or kid=publicKey/,
  );
  assert.match(en(bad('{"kid":"a"}')), /"kid" and "publicKey" must both be there/);
  assert.match(en(bad('{"kid":"a","publicKey":"b","role":["x"]}')), /"role" is not a field of a trusted key/);
  assert.match(en(bad('{"kid":"a","publicKey":"b","roles":"release"}')), /"roles" is not a list/);
  assert.match(en(bad('[]')), /empty list/);
  assert.match(en(bad('{"kid": nope}')), /not valid JSON/);
  assert.match(en(bad('[{"kid":"a","publicKey":"b"}, 7]')), /^key 2: 7 is not a key/);
});

test('a JSON paste cut into lines is incomplete until its brackets close', T, () => {
  assert.deepEqual(parseTrustedKeys('['), { incomplete: true });
  assert.deepEqual(parseTrustedKeys('[{"kid":"a","publicKey":"b"},'), { incomplete: true });
  assert.deepEqual(
    parseTrustedKeys('{"kid":"a]","publicKey":"b"'),
    { incomplete: true },
    'a bracket in a string does not count',
  );
  assert.ok('keys' in parseTrustedKeys('[{"kid":"a","publicKey":"b"},' + '{"kid":"c","publicKey":"d"}]'));
});

test('a rotated key replaces the one of the same kid; keys are described with their roles', T, () => {
  const merged = mergeKeys(
    [
      { kid: 'a', publicKey: '1' },
      { kid: 'b', publicKey: '2' },
    ],
    [{ kid: 'a', publicKey: '3', roles: ['schedule'] }],
  );
  assert.deepEqual(merged, [
    { kid: 'b', publicKey: '2' },
    { kid: 'a', publicKey: '3', roles: ['schedule'] },
  ]);
  assert.equal(describeKeys(merged), 'b (schedule, command), a (schedule)');
  assert.equal(describeKeys([]), 'none');
});

test('no key for schedules or commands fails the check, with the fix; a release key alone is not enough', T, () => {
  assert.deepEqual(trustGaps([]), ['schedules', 'commands']);
  assert.deepEqual(trustGaps([{ roles: ['release'] }]), ['schedules', 'commands']);
  assert.deepEqual(trustGaps([{ roles: ['schedule'] }]), ['commands']);
  assert.deepEqual(trustGaps([{}]), [], 'no roles: schedules and commands');

  const none = trustOutcome([], ' --config /tmp/a.json');
  assert.equal(none.status, 'fail');
  assert.equal(en(none.detail), 'none: every schedule and every command will be refused');
  assert.match(
    en(none.hint!),
    /sudo loa-provision init --yes --config \/tmp\/a\.json --trusted-key '<the line "noc keys" printed>'/,
  );
  const rel = trustOutcome([{ kid: 'release-2026', roles: ['release'] }]);
  assert.equal(rel.status, 'fail');
  assert.match(en(rel.detail), /none signs schedules or commands \(release-2026 \(release\)\)/);
  assert.deepEqual(trustOutcome([{ kid: 'centre-2026' }]), { status: 'ok', detail: 'centre-2026 (schedule, command)' });
});
