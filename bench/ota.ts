// Issue [5/8]: an over-the-air update of a real agent on loopback (the real launcher under
// the Restart=always stand-in, Mosquitto, HTTP), each time next to its anchors measured in
// the same run: curl of the same artifact, a bare tar -xzf of it, the new release's
// --check-config alone, and a bare `node -e 0`.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { otaRig } from '../test/helpers/ota-rig.js';
import { packRelease } from '../test/helpers/releases.js';
import { tempDir } from '../test/helpers/tmp.js';
import { size } from './smoke.js';

type Add = (metric: string, value: string, target?: string, ok?: boolean) => void;
const ROUNDS = size(3, 1);

const run = promisify(execFile);

/** Asynchronously: curl fetches from the HTTP server in this very process. */
async function timed(cmd: string, args: string[]): Promise<number> {
  const t0 = performance.now();
  await run(cmd, args);
  return performance.now() - t0;
}

async function median3(cmd: string, args: () => string[]): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < size(3, 1); i++) xs.push(await timed(cmd, args()));
  return median(xs);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchOta(add: Add): Promise<void> {
  const r = await otaRig({ deviceId: 'bench-ota' });
  try {
    await r.birth('1.0.0', 60_000);
    const done: number[] = [];
    let last = packRelease('1.0.0');
    for (let i = 1; i <= ROUNDS; i++) {
      last = packRelease(`1.${i}.0`);
      const t0 = Date.now();
      const id = await r.update(last);
      await r.event('update.committed', id, 120_000);
      done.push(Date.now() - t0);
    }
    const url = r.serve(last);
    const curl = await median3('curl', () => ['-sf', '-o', '/dev/null', url]);
    const tar = await median3('tar', () => ['-xzf', last.path, '-C', tempDir('bench-tar')]);
    const current = join(r.root, 'current/dist/agent/main.js');
    const check = await median3(process.execPath, () => [
      current,
      '--check-config',
      '--config',
      join(r.dir, 'agent.json'),
    ]);
    const bare = await median3(process.execPath, () => ['-e', '0']);
    add(
      `ota: update sent -> committed, median of ${ROUNDS} (${Math.round(last.bytes / 1024)} KB test release, commitAfterS 2)`,
      `${median(done)} ms`,
      'download+unpack+check+switch+restart+trial',
    );
    add(
      'ota: anchor curl of the artifact / tar -xzf / --check-config / node -e 0',
      `${curl.toFixed(0)} / ${tar.toFixed(0)} / ${check.toFixed(0)} / ${bare.toFixed(0)} ms`,
      '',
    );
    add(
      'ota: committed / (tar + check-config + node -e 0 + commitAfterS)',
      `${(median(done) / (tar + check + bare + 2000)).toFixed(2)}x`,
      '',
    );
    const bad = packRelease(`9.0.0`, 'exits');
    const id = await r.update(bad);
    await r.event('update.installed', id, 120_000);
    const t0 = Date.now();
    await r.event('update.rolledback', id, 120_000);
    add(
      'ota: release that exits at start -> update.rolledback (RestartSec 0.5 s here; 5 s in the unit)',
      `${Date.now() - t0} ms`,
      '<= 120 s',
      Date.now() - t0 <= 120_000,
    );
  } finally {
    await r.close();
  }
}
