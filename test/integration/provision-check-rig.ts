// The rig of the `loa-provision check` tests (provision-check.test.ts: the broker and the
// box's files; provision-check-board.test.ts: the IO board as its own process): the file's
// Mosquitto with TLS and the centre's PKI, a box provisioned by `init` with the certificate
// signed for its CSR, and the report's lines. Registers the file's hooks.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBroker, mosquittoPath, type TestBroker } from '../helpers/broker.js';
import { makePki, type Pki } from '../helpers/certs.js';
import { tempDir } from '../helpers/tmp.js';
import { centreKey, runCli, signCsr, syncedRunRoot } from './provision-rig.js';

export const haveMosquitto = mosquittoPath() !== undefined || process.env.CI === 'true';
export const skip = haveMosquitto ? false : 'needs mosquitto (TLS listener)';

export let broker: TestBroker;
export let pki: Pki;
export const runRoot = syncedRunRoot();
export const deps = { runRoot, account: null };

before(async () => {
  if (!haveMosquitto) return;
  pki = makePki(tempDir('check-pki'));
  broker = await startBroker({
    tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
  });
});
after(async () => {
  await broker?.close();
});

/** A box as a technician leaves it: init with flags, CSR signed by the centre, certificate installed. */
export async function provisionedBox(
  o: { serial?: string; url?: string; ca?: string; board?: string[]; trustedKey?: boolean } = {},
): Promise<{ dir: string; config: string }> {
  const dir = tempDir('check-box');
  const config = join(dir, 'etc/agent.json');
  const base = [
    'init',
    '--yes',
    '--config',
    config,
    '--device-id',
    `box-${Math.random().toString(36).slice(2, 8)}`,
    '--broker',
    o.url ?? broker.url,
    '--ca',
    o.ca ?? pki.ca,
    ...(o.board ?? ['--board', 'mcu', '--serial', o.serial ?? 'sim']),
    '--state-dir',
    join(dir, 'state'),
    '--cache-dir',
    join(dir, 'cache'),
    '--audio-output',
    'paced',
    // As `noc keys` prints it; without one the box refuses everything and check fails.
    ...(o.trustedKey === false
      ? []
      : ['--trusted-key', JSON.stringify({ kid: 'centre-2026', publicKey: await centreKey() })]),
  ];
  const r = await runCli(base, deps);
  assert.equal(r.code, 0, r.out + r.err);
  signCsr(pki, join(dir, 'etc/device.csr'), join(dir, 'signed.crt'));
  const r2 = await runCli(['init', '--yes', '--config', config, '--cert', join(dir, 'signed.crt')], deps);
  assert.equal(r2.code, 0, r2.out + r2.err);
  return { dir, config };
}

/** The checklist line whose name column is `name` (mark, padded name, detail). */
export const isLine = (name: string) => (x: string) =>
  x.startsWith('[') && x.slice(7, 7 + name.length + 1) === `${name} `;

export function line(out: string, name: string): string {
  const l = out.split('\n').find(isLine(name));
  assert.ok(l, `no "${name}" line in:\n${out}`);
  return l;
}

/** The line for `name` and the hint line under it. */
export function withHint(out: string, name: string): string {
  const lines = out.split('\n');
  const i = lines.findIndex(isLine(name));
  assert.ok(i >= 0, `no "${name}" line in:\n${out}`);
  return `${lines[i]}\n${lines[i + 1] ?? ''}`;
}
