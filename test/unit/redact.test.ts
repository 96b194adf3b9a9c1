import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { redact, redactDeep, redactingSink } from '../../agent/domain/redact.js';
import type { EventSink } from '../../contract/events.js';
import { REPO_ROOT } from '../helpers/agent-process.js';

test('URL userinfo is replaced, host and path kept', () => {
  assert.equal(redact('mqtt://user:pw@broker:1883'), 'mqtt://***@broker:1883');
  assert.equal(redact('got https://u@cdn.vn/a.mp3: HTTP 404'), 'got https://***@cdn.vn/a.mp3: HTTP 404');
  // An unencoded '@' in the password: the whole userinfo goes, up to the last '@'.
  assert.equal(redact('http://u:p@ss@host/x'), 'http://***@host/x');
  assert.equal(
    redact('{"url":"http://a:b@h/x","detail":"http://c:d@h2/y: ECONNREFUSED"}'),
    '{"url":"http://***@h/x","detail":"http://***@h2/y: ECONNREFUSED"}',
  );
  assert.equal(
    redact('https://cdn.vn/a.mp3?from=user@example.vn'),
    'https://cdn.vn/a.mp3?from=user@example.vn',
    'an @ in the query is not userinfo',
  );
});

test('secret-looking query values are replaced, others kept', () => {
  assert.equal(
    redact('https://cdn.vn/a.mp3?expires=99&token=abc.def&x=1'),
    'https://cdn.vn/a.mp3?expires=99&token=***&x=1',
  );
  assert.equal(
    redact('https://s3/a?X-Amz-Credential=AK%2F1&X-Amz-Signature=f00d'),
    'https://s3/a?X-Amz-Credential=***&X-Amz-Signature=***',
  );
  assert.equal(redact('https://cdn/a?api_key=k&sig=s#frag'), 'https://cdn/a?api_key=***&sig=***#frag');
  assert.equal(redact('plain text, nothing to hide'), 'plain text, nothing to hide');
});

test('events: every string field of an event is redacted before it is stored', () => {
  const got: unknown[] = [];
  const sink: EventSink = { emit: (_t, f) => (got.push(f), 1) };
  redactingSink(sink).emit('play.failover', {
    itemId: 'i',
    docId: 'd',
    docVersion: 1,
    occurrence: 'o',
    lateMs: 0,
    source: 'stream',
    priority: 50,
    from: 'https://u:p@radio/live?token=t',
    to: 'fallback:fm',
    reason: 'http://u:p@radio/live: 403',
  });
  assert.deepEqual(got[0], {
    itemId: 'i',
    docId: 'd',
    docVersion: 1,
    occurrence: 'o',
    lateMs: 0,
    source: 'stream',
    priority: 50,
    from: 'https://***@radio/live?token=***',
    to: 'fallback:fm',
    reason: 'http://***@radio/live: 403',
  });
  assert.deepEqual(redactDeep({ a: ['http://x:y@h'], n: 3, z: null }), { a: ['http://***@h'], n: 3, z: null });
});

test('the logger redacts every line it writes, whatever field holds the URL', () => {
  const script = `
    import { createLogger } from './agent/log.ts';
    const log = createLogger({ pretty: false });
    log.warn({ code: 'MEDIA_FETCH', detail: 'http://user:Pw-1@cdn/x?token=Tk-2: ECONNREFUSED' }, 'media fetch failed');
    log.error({ err: new Error('connect to mqtt://u:Pw-3@broker failed') }, 'boom');`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  // A value runs to the next & # or space: the ":" after it goes too (over-redacting is fine).
  assert.match(r.stdout, /"detail":"http:\/\/\*\*\*@cdn\/x\?token=\*\*\* ECONNREFUSED"/);
  assert.match(r.stdout, /mqtt:\/\/\*\*\*@broker failed/);
  for (const s of ['Pw-1', 'Tk-2', 'Pw-3']) assert.ok(!r.stdout.includes(s), r.stdout);
});
