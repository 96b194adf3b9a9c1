import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyAddress, FORBIDDEN_AFTER_PUBLIC } from '../../agent/domain/address-class.js';

test('loopback, link-local and unspecified addresses, in every notation', () => {
  for (const a of ['127.0.0.1', '127.255.0.9', '::1', '[::1]', '::ffff:127.0.0.1', '::ffff:7f00:1'])
    assert.equal(classifyAddress(a), 'loopback', a);
  for (const a of ['169.254.169.254', '169.254.0.1', 'fe80::1', 'febf::1', '::ffff:a9fe:a9fe'])
    assert.equal(classifyAddress(a), 'link-local', a);
  for (const a of ['0.0.0.0', '0.1.2.3', '::']) assert.equal(classifyAddress(a), 'unspecified', a);
});

test('private ranges are told apart from public ones, and are not forbidden', () => {
  for (const a of [
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    'fd12::1',
    '::ffff:192.168.1.1',
  ])
    assert.equal(classifyAddress(a), 'private', a);
  for (const a of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '2001:db8::1', '::ffff:8.8.8.8', '1.1.1.1'])
    assert.equal(classifyAddress(a), 'public', a);
  assert.equal(FORBIDDEN_AFTER_PUBLIC.has('private'), false);
  assert.deepEqual([...FORBIDDEN_AFTER_PUBLIC].sort(), ['link-local', 'loopback', 'unspecified']);
});

test('a host name is not an address: the fetcher classifies what it resolves to', () => {
  assert.equal(classifyAddress('localhost'), 'public');
});
