// The clicks a live test speaks through the real `noc live` (test/integration/live*.test.ts):
// a WAV of marker clicks, the session it opened and its first chunk. Not a test file itself.
import { join } from 'node:path';
import { clickTimes, clicksWav, liveArgs, type LiveRig } from '../helpers/live-rig.js';
import { spawnNoc } from './noc-cli.js';

export const LATENCY_MS = 1500;

/** `noc live` speaking `count` clicks `everyS` apart (a WAV of `seconds`) to `device`; its session and first chunk. */
export async function speakClicks(r: LiveRig, device: string, count: number, everyS: number, seconds: number) {
  const wav = join(r.dir, 'clicks.wav');
  const clicks = clickTimes(count, everyS);
  clicksWav(wav, seconds, clicks);
  const archive = join(r.dir, 'archive');
  const noc = spawnNoc(liveArgs(r, { file: wav, latencyMs: LATENCY_MS, device }));
  const first = await r.watcher.waitFor((m) => m.topic.startsWith('loa/v1/live/'), 20_000, 'the first live chunk');
  const chunk = JSON.parse(Buffer.from(first.payload.toString().split('.')[1]!, 'base64url').toString()) as {
    t: number;
    f: string[];
  };
  return { clicks, archive, noc, first, sessionId: first.topic.split('/').pop()!, chunk };
}
