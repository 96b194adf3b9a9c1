// After init has the answers: whether the device certificate can be configured (it
// must match the device key, and mqtt.cert and mqtt.key go together), and the steps the
// technician is given next, in the order that works.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../agent/config.js';
import { CliError, errorMessage, EXIT } from '../cli-kit/index.js';
import { getAt, setAt, type Draft } from './draft.js';
import { FILES } from './files.js';
import type { Plan } from './init-ask.js';
import type { Ui } from './io.js';
import { certInfo, certMatchesKey, readCertificate, type readPrivateKey } from './keys.js';

export type CertState = 'configured' | 'installed' | 'awaiting' | 'mismatch';

/**
 * mqtt.cert and mqtt.key go together (the agent's schema), and loadConfig refuses a
 * cert file that does not exist. So they are set only once a certificate that matches
 * the device key is in place; until then the config has neither and the next steps
 * say how to install the signed certificate.
 */
export function planCertificate(
  draft: Draft,
  plan: Plan,
  dir: string,
  key: ReturnType<typeof readPrivateKey> | undefined,
): CertState {
  const certPath = join(dir, FILES.cert);
  const from = plan.certFrom ?? (existsSync(certPath) ? certPath : undefined);
  const custom = getAt(draft, ['mqtt', 'cert']) !== undefined && getAt(draft, ['mqtt', 'cert']) !== FILES.cert;
  // A certificate of its own path is kept unless --cert replaces it.
  if (custom && !plan.certFrom) return 'configured';
  if (!from) return custom ? 'configured' : (clearCert(draft), 'awaiting');
  if (!key) {
    if (plan.certFrom)
      throw new CliError(`--cert: there is no device key yet (${join(dir, FILES.key)})`, EXIT.FAIL, [
        '  run init first, have the CSR it makes signed, then install the certificate with --cert',
      ]);
    clearCert(draft);
    return 'mismatch';
  }
  let cert;
  try {
    cert = readCertificate(from);
  } catch (err) {
    throw new CliError(`certificate ${from}: ${errorMessage(err)}`, EXIT.FAIL, [
      '  expected the PEM certificate the centre signed for device.csr',
    ]);
  }
  if (!certMatchesKey(cert, key)) {
    if (plan.certFrom)
      throw new CliError(`certificate ${from} was not made for this box's key (${join(dir, FILES.key)})`, EXIT.FAIL, [
        `  its subject: ${certInfo(cert).subject}; send device.csr of THIS box to the centre`,
      ]);
    clearCert(draft);
    return 'mismatch';
  }
  const info = certInfo(cert);
  if (plan.certFrom && info.validTo.getTime() < Date.now())
    throw new CliError(`certificate ${from} expired on ${info.validTo.toISOString()}`, EXIT.FAIL, [
      '  ask the centre for a new one (or check the clock: date)',
    ]);
  setAt(draft, ['mqtt', 'cert'], FILES.cert);
  setAt(draft, ['mqtt', 'key'], FILES.key);
  return plan.certFrom ? 'installed' : 'configured';
}

function clearCert(draft: Draft): void {
  setAt(draft, ['mqtt', 'cert'], undefined);
  setAt(draft, ['mqtt', 'key'], undefined);
}

/**
 * The order that works: the self-test drives the IO board, so it runs with the agent
 * stopped; the agent reads its configuration only when it starts, so it is (re)started
 * after the last init; register then finds the birth of that agent.
 */
export function printNextSteps(
  ui: Ui,
  o: { configPath: string; dir: string; cert: CertState; deviceId: string; keyGaps: readonly string[] },
): void {
  const cfg = o.configPath === DEFAULT_CONFIG_PATH ? '' : ` --config ${o.configPath}`;
  const step = (n: number, text: string, why?: string) => {
    ui.out(`  ${n}. ${text}`, { indent: 5 });
    if (why) ui.out(`     (${why})`, { indent: 6 });
  };
  ui.out('');
  ui.out('Next:');
  let n = 1;
  if (o.cert === 'awaiting' || o.cert === 'mismatch') {
    if (o.cert === 'mismatch') ui.out(`  (${join(o.dir, FILES.cert)} was made for another key: it is not used)`);
    step(
      n++,
      `send ${join(o.dir, FILES.csr)} to the centre's CA (cat it and paste it), then install what comes back: sudo loa-provision init --yes${cfg} --cert /path/to/signed.crt`,
      'until then the box connects with its password only, if the broker allows that',
    );
  }
  if (o.keyGaps.length > 0)
    step(
      n++,
      `add the centre's key: sudo loa-provision init --yes${cfg} --trusted-key '<the line "noc keys" printed>'`,
      `without a key for ${o.keyGaps.join(' or ')} the box refuses every one of them; check fails until then`,
    );
  step(
    n++,
    `sudo systemctl stop loa-agent; sudo loa-provision check${cfg} --tone`,
    'the self-test drives the IO board itself; the tone is heard in the commune',
  );
  step(n++, 'sudo systemctl restart loa-agent', 'the agent reads this configuration only when it starts');
  step(
    n++,
    `sudo loa-provision register${cfg}`,
    `tells the centre ${o.deviceId} is installed; confirms the agent now running uses this configuration`,
  );
}
