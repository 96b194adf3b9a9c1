// `loa-provision init`: from a blank box to a configuration the agent accepts, the
// device key and the CSR for mutual TLS.
//
// Order, so that a mistake costs nothing: every answer is checked by the agent's own
// schema as it is given; the whole draft is parsed again (parseConfig) and the CA and
// certificate files are read BEFORE the first byte is written. The config is written to
// a candidate file that loadConfig (what `loa-agent --check-config` runs) must accept
// with its mode checks; only then is the old config backed up and the candidate renamed
// over it. A bad answer is caught here, not at 3 a.m.
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from '../agent/config.js';
import { CliError, errorMessage, EXIT, parseArgs, positionals } from '../cli-kit/index.js';
import { askAll, readCa, type Plan } from './init-ask.js';
import { EXTRA_FIELDS, FIELDS, getAt, schemaProblems, seedDraft, setAt, type Draft } from './draft.js';
import {
  agentAccount,
  applyOwner,
  atomicWrite,
  backupFile,
  CONFIG_MODE,
  FILES,
  PUBLIC_MODE,
  SECRET_MODE,
  syncDir,
  type Account,
} from './files.js';
import { planCertificate, printNextSteps } from './init-next.js';
import type { Ui } from './io.js';
import {
  csrSubject,
  describeKey,
  fingerprintOf,
  KEY_ALGORITHM,
  readPrivateKey,
  shortFingerprint,
  writeCsr,
  writeDeviceKey,
} from './keys.js';
import { Prompter } from './prompt.js';
import { gapsText, mergeKeys, parseTrustedKeys, trustGaps, type TrustedKey } from './trust.js';
import { msg, type Lang } from './text.js';

export const INIT_HELP = `loa-provision init [--config ${DEFAULT_CONFIG_PATH}] [--yes] [flags]

Asks for the box's identity, site, broker and hardware (flags pre-fill the answers;
--yes asks nothing), checks every answer with the agent's own schema, then writes the
config (0640, a timestamped backup of the old one), the broker password (0600), the
device key (EC P-256, 0600) and device.csr for the centre's CA.

  --device-id ID  --groups all,p79,c26734  --commune-name NAME  --commune-code CODE
  --province CODE  --lat DEG  --lon DEG  --installer NAME
  --broker mqtts://host:8883  --username U  --password P  --ca ca.crt
  --trusted-key KID=PUBLICKEY (repeatable; replaces the list)
  --board mcu|gpio|sim  --serial /dev/loa-io  --pin-amp 17[:low] --pin-fm N --pin-line N --pin-fault N
  --cert device.crt   install the certificate the centre signed (must match device.key)
  --new-key           make a new device key (the old one is backed up; needs a new certificate)
  --fresh             ignore the existing config (it is still backed up)
  --state-dir --cache-dir --topic-root --mqtt-version --audio-output --audio-device
                      settings not asked, for special boxes and test rigs
  --lang vi|en        the language of the questions and lines (default: from LANG /
                      LC_ALL, else English)`;

const OPTIONS = {
  config: { kind: 'string' },
  yes: { kind: 'boolean', short: 'y' },
  fresh: { kind: 'boolean' },
  'new-key': { kind: 'boolean' },
  password: { kind: 'string' },
  ca: { kind: 'string' },
  cert: { kind: 'string' },
  'trusted-key': { kind: 'list' },
  ascii: { kind: 'boolean' },
  ...Object.fromEntries([...FIELDS, ...EXTRA_FIELDS].map((f) => [f.flag, { kind: 'string' as const }])),
} as const;

export interface InitDeps {
  now?: () => Date;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The agent's user for chown; null: never chown (default: `loa` when root and it exists). */
  account?: Account | null;
}

export async function initCommand(argv: string[], ui: Ui, deps: InitDeps = {}): Promise<number> {
  const parsed = parseArgs(argv, OPTIONS, 'loa-provision init', { repeated: 'last' });
  positionals(parsed.positional, [], 'loa-provision init');
  const flags = parsed.opts as Record<string, string | string[] | boolean | undefined>;
  if (parsed.help) {
    ui.out(INIT_HELP);
    return EXIT.OK;
  }
  const env = deps.env ?? process.env;
  const cwd = deps.cwd ?? process.cwd();
  const now = (deps.now ?? (() => new Date()))();
  const configPath = resolve(cwd, (flags.config as string | undefined) ?? DEFAULT_CONFIG_PATH);
  const dir = dirname(configPath);
  const keyPath = join(dir, FILES.key);

  const existing = !flags.fresh ? readExisting(configPath, ui) : undefined;
  let draft = seedDraft(existing);
  for (const f of [...FIELDS, ...EXTRA_FIELDS]) {
    const v = flags[f.flag];
    if (typeof v === 'string') setAt(draft, f.path, f.parse(v));
  }
  const keyFlags = (flags['trusted-key'] as string[] | undefined) ?? [];
  if (keyFlags.length > 0) {
    let keys: TrustedKey[] = [];
    const bad: string[] = [];
    for (const k of keyFlags) {
      const r = parseTrustedKeys(k);
      if ('keys' in r) keys = mergeKeys(keys, r.keys);
      else bad.push(`  ${'problem' in r ? ui.say(r.problem) : ui.t('init.jsonNotClosed')}`);
    }
    if (bad.length > 0) throw new CliError(ui.t('init.badTrustedKey'), EXIT.CONFIG, bad);
    draft.trustedKeys = keys;
  }
  const plan: Plan = { newKey: flags['new-key'] === true };
  if (typeof flags.password === 'string') plan.password = flags.password;
  if (typeof flags.ca === 'string') plan.caFrom = resolve(cwd, flags.ca);
  if (typeof flags.cert === 'string') plan.certFrom = resolve(cwd, flags.cert);

  if (!flags.yes) {
    const prompter = new Prompter(ui);
    try {
      ui.out(ui.t('init.writes', { path: configPath }));
      ui.out(ui.t('init.howto'));
      draft = await askAll(prompter, ui, draft, plan, { dir, cwd, env, keyPath });
      if (!(await prompter.confirm(ui.t('init.confirm', { path: configPath })))) {
        ui.out(ui.t('init.nothingWritten'));
        return EXIT.FAIL;
      }
    } finally {
      prompter.close();
    }
  }

  // ---- everything is checked before anything is written ----
  // The installation date is the first init's: re-provisioning keeps it (--installed-at now sets it again).
  const installedAt = getAt(draft, ['site', 'installedAt']);
  if (installedAt === undefined || installedAt === 'now') setAt(draft, ['site', 'installedAt'], now.toISOString());
  if (plan.password !== undefined) {
    setAt(draft, ['mqtt', 'password'], undefined);
    setAt(draft, ['mqtt', 'passwordFile'], plan.password === '' ? undefined : FILES.password);
  } else if (typeof getAt(draft, ['mqtt', 'password']) === 'string') {
    // An inline password from an old config moves to its own 0600 file.
    plan.password = getAt(draft, ['mqtt', 'password']) as string;
    setAt(draft, ['mqtt', 'password'], undefined);
    setAt(draft, ['mqtt', 'passwordFile'], FILES.password);
  }
  if (plan.caFrom !== undefined) {
    readCa(plan.caFrom, ui.lang);
    setAt(draft, ['mqtt', 'ca'], FILES.ca);
  }
  const key = !plan.newKey && existsSync(keyPath) ? loadKey(keyPath, ui.lang) : undefined;
  const certState = planCertificate(draft, plan, dir, key, ui.lang);
  const problems = schemaProblems(draft, dir);
  if (problems.length > 0) {
    throw new CliError(ui.t('init.invalid'), EXIT.CONFIG, [
      ...problems.map((p) => `  ${p}`),
      ...(existing !== undefined ? [ui.t('init.fromExisting')] : []),
    ]);
  }
  if (
    typeof getAt(draft, ['mqtt', 'url']) === 'string' &&
    String(getAt(draft, ['mqtt', 'url'])).startsWith('mqtt:') &&
    getAt(draft, ['mqtt', 'passwordFile'])
  ) {
    ui.out(ui.t('init.plainWarn'));
  }

  // ---- write ----
  const account = deps.account === null ? undefined : (deps.account ?? agentAccount());
  const written: string[] = [];
  try {
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      applyOwner(dir, 'config', account);
    }
    let privateKey = key;
    if (!privateKey) {
      if (existsSync(keyPath)) written.push(ui.t('init.w.oldKey', { path: backupFile(keyPath, now) }));
      privateKey = writeDeviceKey(keyPath, account);
      written.push(ui.t('init.w.newKey', { path: keyPath, alg: KEY_ALGORITHM, why: msg('init.keyWhy') }));
    } else {
      written.push(ui.t('init.w.keptKey', { path: keyPath, type: describeKey(privateKey) }));
    }
    const subject = csrSubject(
      String(getAt(draft, ['deviceId'])),
      getAt(draft, ['site', 'communeCode']) as string | undefined,
    );
    const csrPath = join(dir, FILES.csr);
    try {
      writeCsr(keyPath, csrPath, subject, account);
      written.push(ui.t('init.w.csr', { path: csrPath, subject }));
    } catch (err) {
      ui.out(ui.t('init.csrFailed', { error: errorMessage(err).split('\n')[0]! }));
      ui.out(`  openssl req -new -key ${keyPath} -subj "${subject}" -out ${csrPath}`);
    }
    if (plan.password) {
      atomicWrite(join(dir, FILES.password), plan.password + '\n', SECRET_MODE, 'secret', account);
      written.push(ui.t('init.w.password', { path: join(dir, FILES.password) }));
    }
    if (plan.caFrom && !sameFile(plan.caFrom, join(dir, FILES.ca))) {
      atomicWrite(join(dir, FILES.ca), readFileSync(plan.caFrom), PUBLIC_MODE, 'public', account);
      written.push(ui.t('init.w.ca', { path: join(dir, FILES.ca), from: plan.caFrom }));
    }
    if (plan.certFrom && !sameFile(plan.certFrom, join(dir, FILES.cert))) {
      atomicWrite(join(dir, FILES.cert), readFileSync(plan.certFrom), PUBLIC_MODE, 'public', account);
      written.push(ui.t('init.w.cert', { path: join(dir, FILES.cert), from: plan.certFrom }));
    }
    const backup = commitConfig(configPath, draft, now, account, ui.lang);
    written.push(
      ui.t('init.w.config', { path: configPath, backup: backup ? msg('init.w.backup', { path: backup }) : '' }),
    );

    ui.out('');
    ui.out(ui.t('init.written'));
    for (const w of written) ui.out(`  ${w}`);
    const fp = fingerprintOf(privateKey);
    ui.out(ui.t('init.fp', { fp: shortFingerprint(fp) }));
    ui.out(ui.t('init.fpFull', { fp }));
    const keyGaps = trustGaps((getAt(draft, ['trustedKeys']) as TrustedKey[] | undefined) ?? []);
    if (keyGaps.length > 0) ui.out(ui.t('init.noTrust', { gaps: gapsText(keyGaps, 'or') }));
    printNextSteps(ui, {
      configPath,
      dir,
      cert: certState,
      deviceId: String(getAt(draft, ['deviceId'])),
      keyGaps,
    });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CliError) throw err;
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EACCES' || e.code === 'EPERM' ? [ui.t('init.asRoot')] : [];
    throw new CliError(ui.t('init.writeFailed', { error: e.message }), EXIT.FAIL, [
      ...(written.length ? [ui.t('init.already'), ...written.map((w) => `    ${w}`)] : []),
      ...hint,
    ]);
  }
}

function readExisting(path: string, ui: Ui): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    ui.out(ui.t('init.notJson', { path, error: errorMessage(err) }));
    return undefined;
  }
}

function loadKey(path: string, lang: Lang) {
  try {
    return readPrivateKey(path);
  } catch (err) {
    throw new CliError(msg('init.badKey', { path, error: errorMessage(err) })(lang), EXIT.FAIL, [
      msg('init.badKey.hint')(lang),
    ]);
  }
}

/** Candidate file, loadConfig on it (modes and files included), backup, rename. Returns the backup path. */
export function commitConfig(
  configPath: string,
  draft: Draft,
  now: Date,
  account: Account | undefined,
  lang: Lang = 'en',
): string | undefined {
  const candidate = join(dirname(configPath), `.agent-candidate-${process.pid}.json`);
  atomicWrite(candidate, JSON.stringify(ordered(draft), null, 2) + '\n', CONFIG_MODE, 'config', account);
  try {
    loadConfig(candidate);
  } catch (err) {
    unlinkSync(candidate);
    if (err instanceof ConfigError)
      throw new CliError(
        msg('init.refused', { code: err.code })(lang),
        EXIT.CONFIG,
        err.problems.map((p) => `  ${p}`),
      );
    throw err;
  }
  const backup = existsSync(configPath) ? backupFile(configPath, now) : undefined;
  renameSync(candidate, configPath);
  syncDir(dirname(configPath));
  return backup;
}

/** The fields in the README's order, so a technician reading the file finds the identity first. */
const ORDER = [
  'deviceId',
  'groups',
  'site',
  'mqtt',
  'topicRoot',
  'trustedKeys',
  'stateDir',
  'cacheDir',
  'hardware',
  'audio',
];
function ordered(d: Draft): Draft {
  const out: Draft = {};
  for (const k of ORDER) if (k in d) out[k] = d[k];
  for (const [k, v] of Object.entries(d)) if (!(k in out)) out[k] = v;
  return out;
}

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}
