// Stage one of the composition graph: every port of the agent, built from the
// configuration (or taken from AgentDeps where the caller gives its own), here and
// nowhere else. In this order: the clock; the board, put in its safe state before anything
// else (after a crash the relays may be in any state: amplifier off first); the stores,
// opened and restored (stores.ts: a broken SD card degrades the box, it does not stop it);
// the trusted keys; the MQTT link with the box's last will (built, not connected: the last
// step of services.ts connects it); the player; the media fetcher; the time services and
// the system stats; the clock's checkpoint beside the database; the launcher's release files; the
// commissioning level's files.
import { join } from 'node:path';
import { systemClock, type Clock } from '../adapters/clock.js';
import type { Board } from '../adapters/board.js';
import type { Player } from '../adapters/player.js';
import { MqttLink, type Link } from '../adapters/mqtt-link.js';
import { createHttpFetcher, type MediaFetcher } from '../adapters/media-fetch.js';
import { createSystemStats, type SystemStats } from '../adapters/system-stats.js';
import { createClockSources, type ClockSources } from '../adapters/clock-sources.js';
import { ClockCheckpoint } from '../adapters/clock-checkpoint.js';
import { ReleaseFiles, launcherPaths } from '../adapters/release-files.js';
import { soundFiles, type SoundFiles } from '../adapters/sound-files.js';
import { chimeMedia } from '../adapters/chime.js';
import { siteFile, type SiteFile } from '../adapters/site-file.js';
import { checkSite } from './site.js';
import { KeyRing } from '../../contract/verify.js';
import { buildWill } from '../../contract/telemetry.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { AgentDeps, Identity } from './deps.js';
import { createBoard, createPcmOutput, createPlayer } from './hardware.js';
import type { PcmOutput } from '../adapters/pcm-output.js';
import { openStores, restoreStores, type Stores } from './stores.js';

export interface Ports {
  clock: Clock;
  /** The monotonic time the agent started at (the heartbeat's uptime). */
  startedMono: number;
  board: Board;
  stores: Stores;
  keys: KeyRing;
  link: Link;
  player: Player;
  /** What live sessions play on (contract v1.2 §8). */
  pcmOutput: PcmOutput;
  fetcher: MediaFetcher;
  clockSources: ClockSources;
  stats: SystemStats;
  clockCheckpoint: ClockCheckpoint;
  /** The releases and the files shared with the launcher; null when not run by the launcher (no updates). */
  releaseFiles: ReleaseFiles | null;
  /** The commissioning level and the last measured play (state directory). */
  soundFiles: SoundFiles;
  /** The test chime, a built-in media (the page's tone); null where the release lacks it. */
  chime: ReturnType<typeof chimeMedia>;
  /** The site the technician set on the page, over the configuration's. */
  siteFile: SiteFile;
}

/** Build every port; what was opened before a failure (the board) is closed again before it is thrown. */
export async function buildPorts(d: AgentDeps, id: Identity): Promise<Ports> {
  const { config: c, log } = d;
  const clock = d.clock ?? systemClock;
  const startedMono = clock.monoMs();
  const board = d.board ?? (await createBoard(c, log.child({ mod: 'board' }), clock));
  try {
    await board.init();
    const keys = new KeyRing(c.trustedKeys);
    const stores = openStores(c, log, clock, [id.topics.deviceSchedule, ...id.topics.groupSchedules]);
    restoreStores(stores, keys, log);
    const will = { topic: id.topics.status, payload: JSON.stringify(buildWill(id.bootId)) };
    const clockSources = d.clockSources ?? clockSourcesOf(c, d.stats);
    const paths = launcherPaths();
    return {
      clock,
      startedMono,
      board,
      stores,
      keys,
      link: d.makeLink?.(will) ?? createLink(c, log, clock, will),
      player: d.player ?? createPlayer(c, log.child({ mod: 'player' }), standInDurations(stores)),
      pcmOutput: d.pcmOutput ?? createPcmOutput(c, clock, log.child({ mod: 'player' })),
      fetcher: createHttpFetcher({ minRateBps: c.cache.minRateBps }),
      clockSources,
      stats: d.stats ?? createSystemStats({ diskPath: c.stateDir, clock: clockSources }),
      clockCheckpoint: new ClockCheckpoint(join(c.stateDir, 'clock.json'), log.child({ mod: 'clock' }), () =>
        clock.now(),
      ),
      releaseFiles: paths ? new ReleaseFiles(paths) : null,
      soundFiles: soundFiles(c.stateDir),
      chime: chimeMedia(),
      siteFile: siteFile(c.stateDir, checkSite),
    };
  } catch (err) {
    await board.close().catch(() => undefined);
    throw err;
  }
}

/** The time services of the configuration; a test's stats, when given, say whether the clock is synchronised. */
function clockSourcesOf(c: Config, stats: SystemStats | undefined): ClockSources {
  if (!stats) return createClockSources(c.clock);
  return {
    read: async () =>
      ((synced) => ({ synced, source: synced === null ? 'none' : 'timesyncd' }) as const)(await stats.clockSynced()),
  };
}

/** The stand-in plays a file for the length the document (or the repeat series) gives its media. */
function standInDurations(stores: Stores): (paths: readonly string[]) => number | null {
  return (paths) => {
    const known = new Map(
      [
        ...stores.schedules.inForce().flatMap(({ doc }) => doc.media),
        ...stores.replay.allSeries().flatMap((sr) => sr.media),
      ].map((m) => [m.sha256, m.durationMs] as const),
    );
    let total = 0;
    for (const p of paths) {
      const ms = known.get(p.slice(-64));
      if (ms === undefined) return null;
      total += ms;
    }
    return total;
  };
}

/** The MQTT link of the configuration, with the box's last will. */
export function createLink(c: Config, log: Logger, clock: Clock, will: { topic: string; payload: string }): Link {
  const { mqtt: m } = c;
  return new MqttLink({
    url: m.url,
    clientId: m.clientId ?? c.deviceId,
    ...(m.username !== undefined ? { username: m.username } : {}),
    ...(m.passwordValue !== undefined ? { password: m.passwordValue } : {}),
    ...(m.ca !== undefined ? { ca: m.ca } : {}),
    ...(m.cert !== undefined ? { cert: m.cert } : {}),
    ...(m.key !== undefined ? { key: m.key } : {}),
    insecureSkipVerify: m.insecureSkipVerify,
    version: m.version,
    keepaliveS: m.keepaliveS,
    sessionExpiryS: m.sessionExpiryS,
    connectTimeoutS: m.connectTimeoutS,
    backoff: { minMs: m.reconnect.minS * 1000, maxMs: m.reconnect.maxS * 1000 },
    will,
    log: log.child({ mod: 'mqtt' }),
    clock,
    // The largest accepted document, plus room for the topic and the packet's headers.
    maxPacketBytes: c.schedule.maxBytes + 4096,
  });
}
