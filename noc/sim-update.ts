// The `update` command as a simulated box (noc simulate) takes it, so `noc rollout` can be
// exercised against a fleet without real releases (docs/ota.md). The checks of the
// signature, the release role, the envelope and the args are the agent's own
// (verifyCommand in contract/command-doc.ts); what follows at once is here, and
// SimBox (noc/fleet-box.ts) then simulates the download, the trial, and the commit or
// the rollback.
import type { CommandDoc } from '../contract/command-doc.js';
import { downgradeRefusal } from '../contract/versions.js';

export type UpdateDoc = Extract<CommandDoc, { action: 'update' }>;

/** The box's immediate answer to a verified update, as the agent gives it (runtime/updater.ts accept). */
export function acceptUpdate(
  doc: UpdateDoc,
  arch: string,
  running: string,
  inProgress: boolean,
): { ok: true; result: Record<string, unknown> } | { ok: false; code: string; message: string } {
  const a = doc.args;
  if (a.arch !== undefined && a.arch !== arch)
    return { ok: false, code: 'invalid', message: `the release is for ${a.arch}; this box is ${arch}` };
  if (a.version === running) return { ok: true, result: { version: a.version, state: 'running' } };
  const older = downgradeRefusal(a.version, running, a.allowDowngrade === true);
  if (older) return { ok: false, code: 'invalid', message: older };
  if (inProgress) return { ok: false, code: 'busy', message: 'another update is in progress' };
  return { ok: true, result: { version: a.version, state: 'queued', from: running } };
}
