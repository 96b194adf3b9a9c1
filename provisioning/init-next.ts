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
import { gapsText } from './trust.js';
import { msg, type Lang } from './text.js';

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
  lang: Lang = 'en',
): CertState {
  const t = (k: Parameters<typeof msg>[0], v?: Parameters<typeof msg>[1]) => msg(k, v)(lang);
  const certPath = join(dir, FILES.cert);
  const from = plan.certFrom ?? (existsSync(certPath) ? certPath : undefined);
  const custom = getAt(draft, ['mqtt', 'cert']) !== undefined && getAt(draft, ['mqtt', 'cert']) !== FILES.cert;
  // A certificate of its own path is kept unless --cert replaces it.
  if (custom && !plan.certFrom) return 'configured';
  if (!from) return custom ? 'configured' : (clearCert(draft), 'awaiting');
  if (!key) {
    if (plan.certFrom)
      throw new CliError(t('next.noKey', { path: join(dir, FILES.key) }), EXIT.FAIL, [t('next.noKey.hint')]);
    clearCert(draft);
    return 'mismatch';
  }
  let cert;
  try {
    cert = readCertificate(from);
  } catch (err) {
    throw new CliError(t('next.badCert', { path: from, error: errorMessage(err) }), EXIT.FAIL, [
      t('next.badCert.hint'),
    ]);
  }
  if (!certMatchesKey(cert, key)) {
    if (plan.certFrom)
      throw new CliError(t('next.mismatch', { path: from, key: join(dir, FILES.key) }), EXIT.FAIL, [
        t('next.mismatch.hint', { subject: certInfo(cert).subject }),
      ]);
    clearCert(draft);
    return 'mismatch';
  }
  const info = certInfo(cert);
  if (plan.certFrom && info.validTo.getTime() < Date.now())
    throw new CliError(t('next.expired', { path: from, date: info.validTo.toISOString() }), EXIT.FAIL, [
      t('next.expired.hint'),
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
  o: {
    configPath: string;
    dir: string;
    cert: CertState;
    deviceId: string;
    keyGaps: readonly ('schedules' | 'commands')[];
  },
): void {
  const config = o.configPath === DEFAULT_CONFIG_PATH ? '' : ` --config ${o.configPath}`;
  const t = ui.t;
  const step = (n: number, text: string, why?: string) => {
    ui.out(`  ${n}. ${text}`, { indent: 5 });
    if (why) ui.out(`     (${why})`, { indent: 6 });
  };
  ui.out('');
  ui.out(t('next.title'));
  let n = 1;
  if (o.cert === 'awaiting' || o.cert === 'mismatch') {
    if (o.cert === 'mismatch') ui.out(t('next.otherKey', { path: join(o.dir, FILES.cert) }));
    step(n++, t('next.csr', { csr: join(o.dir, FILES.csr), config }), t('next.csr.why'));
  }
  if (o.keyGaps.length > 0)
    step(n++, t('next.key', { config }), t('next.key.why', { gaps: gapsText(o.keyGaps, 'or') }));
  step(n++, t('next.check', { config }), t('next.check.why'));
  step(n++, t('next.restart'), t('next.restart.why'));
  step(n++, t('next.register', { config }), t('next.register.why', { deviceId: o.deviceId }));
}
