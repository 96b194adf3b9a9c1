// What the composition graph (agent/compose/) is built from: the configuration and the
// logger, what a caller may give in place of a port (tests: a clock, stats, time services,
// a fake link, a sim board, a stand-in player) and the hooks of the process that runs the
// agent (main.ts: the lifecycle commands, systemd).
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../adapters/clock.js';
import type { SystemStats } from '../adapters/system-stats.js';
import type { ClockSources } from '../adapters/clock-sources.js';
import type { Link } from '../adapters/mqtt-link.js';
import type { Board } from '../adapters/board.js';
import type { Player } from '../adapters/player.js';
import type { PcmOutput } from '../adapters/pcm-output.js';
import type { TopicMap } from '../../contract/topics.js';

export interface AgentDeps {
  config: Config;
  log: Logger;
  clock?: Clock;
  stats?: SystemStats;
  /** Whether the clock is synchronised (tests); default from config.clock, or from `stats` when that is given. */
  clockSources?: ClockSources;
  /** Build the link (tests pass a fake); defaults to mqtt.js. */
  makeLink?: (will: { topic: string; payload: string }) => Link;
  onBirth?: () => void;
  /** Hardware for tests; default from config (hardware.board, audio.player). */
  board?: Board;
  player?: Player;
  pcmOutput?: PcmOutput;
  /**
   * A `restart` or `reboot` command was answered: the caller stops the agent and does
   * it (main.ts). Without this, both commands are refused as unsupported.
   */
  onLifecycle?: (action: 'restart' | 'reboot') => void;
  /** Whether a service manager restarts the agent (systemd); default: INVOCATION_ID is set. */
  underSystemd?: boolean;
  /** The configuration file, for a new release's `--check-config` before an update switches to it. */
  configPath?: string;
}

/** Who this run of the agent is: its boot id and its topics (agent.ts makes them at construction). */
export interface Identity {
  bootId: string;
  topics: TopicMap;
}
