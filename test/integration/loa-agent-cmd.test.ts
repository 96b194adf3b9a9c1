// `loa-agent` on an installed box (systemd/loa-agent-cmd; install.sh puts it in
// /usr/local/bin, the .deb in /usr/bin): --check-config and --version run the installed
// release as the service's user, never as root, and nothing else starts an agent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { installRelease } from '../helpers/releases.js';
import { tempDir } from '../helpers/tmp.js';

const CMD = join(REPO_ROOT, 'systemd/loa-agent-cmd');
const root = process.getuid?.() === 0;
const skip = root ? false : 'runs as root (runuser), as on a box';

function loaAgent(releaseRoot: string, user: string, args: string[]) {
  return spawnSync('sh', [CMD, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LOA_RELEASE_ROOT: releaseRoot, LOA_USER: user, LOA_NODE: process.execPath },
    timeout: 60_000,
  });
}

test('without --check-config, --version or --help it starts nothing: exit 64 and what to do', () => {
  for (const args of [[], ['--config', '/etc/loa/agent.json']]) {
    const r = loaAgent('/nonexistent', 'nobody', args);
    assert.equal(r.status, 64, r.stderr);
    assert.match(r.stderr, /the agent runs as a service: systemctl status loa-agent/);
    assert.match(r.stderr, /usage: loa-agent --check-config \[--config PATH\] \| --version \| --help/);
  }
});

test(
  'as root it runs the installed release as the service user: --version; --check-config reads agent.json with that user rights',
  { skip, timeout: 120_000 },
  () => {
    const dir = tempDir('agent-cmd');
    chmodSync(dir, 0o755); // the service user walks into it, as into /opt/loa
    const rel = join(dir, 'opt');
    installRelease(rel, '7.1.0');
    const v = loaAgent(rel, 'nobody', ['--version']);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(v.stdout.trim(), '7.1.0');

    const cfg = join(dir, 'agent.json');
    writeFileSync(cfg, JSON.stringify({ deviceId: 'box-cmd', mqtt: { url: 'mqtt://127.0.0.1:1883' } }));
    chmodSync(cfg, 0o600); // root's alone: the service user cannot read it
    const refused = loaAgent(rel, 'nobody', ['--check-config', '--config', cfg]);
    assert.equal(refused.status, 78, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /CONFIG_UNREADABLE[\s\S]*is not readable by this user/);
    chmodSync(cfg, 0o644);
    const ok = loaAgent(rel, 'nobody', ['--check-config', '--config', cfg]);
    assert.equal(ok.status, 0, `${ok.stdout}\n${ok.stderr}`);
  },
);
