// Birth on every (re)connection and death on clean shutdown (docs/protocol.md §5). The
// will is set on the link; this service publishes the retained birth first thing on
// each connection, and the retained shutdown death when the agent stops.
import type { Link } from '../adapters/mqtt-link.js';
import type { Clock } from '../adapters/clock.js';
import type { Logger } from '../log.js';
import { PUBLISH_OPTS } from '../../contract/topics.js';
import { buildBirth, buildShutdown, type BirthFacts, type DocRef, type UpdateState } from '../../contract/telemetry.js';

export interface PresenceDeps extends Omit<BirthFacts, 'schedule'> {
  link: Link;
  clock: Clock;
  log: Logger;
  topic: string;
  /** The documents in force at the moment of each birth. */
  schedule: () => readonly DocRef[];
  /** Called after each birth was acknowledged (start-up timing, systemd STATUS, an update's trial). */
  onBirth?: () => void;
  /** A release on trial or an update in progress, at the moment of each birth (docs/ota.md). */
  updateState?: () => UpdateState;
}

export class Presence {
  private readonly onUp = () => this.publishBirth();
  private siteNow: BirthFacts['site'];

  constructor(private readonly d: PresenceDeps) {
    this.siteNow = d.site;
  }

  /** The site as the birth reports it. */
  get site(): BirthFacts['site'] {
    return this.siteNow;
  }

  /** The technician set the site on the box's page: the centre hears it with a new birth. */
  setSite(site: BirthFacts['site']): void {
    this.siteNow = site;
    if (this.d.link.connected) this.publishBirth();
  }

  start(): void {
    // Registered before any other 'up' listener so birth is the first publish.
    this.d.link.prependListener('up', this.onUp);
  }

  /** The birth as it would be published now (also the `ping` command's result). */
  birth() {
    const d = this.d;
    return buildBirth({
      ...d,
      site: this.siteNow,
      now: new Date(d.clock.now()),
      schedule: d.schedule(),
      ...(d.updateState ? { update: d.updateState() } : {}),
    });
  }

  /** Re-announce (e.g. when the documents in force change). */
  publishBirth(): void {
    const d = this.d;
    const birth = this.birth();
    d.link.publish(d.topic, JSON.stringify(birth), PUBLISH_OPTS.status).then(
      () => {
        d.log.info({ bootId: d.bootId }, 'birth published');
        d.onBirth?.();
      },
      (err: unknown) => d.log.warn({ code: 'MQTT_PUBLISH', err }, 'birth not acknowledged; will repeat on reconnect'),
    );
  }

  stop(): void {
    this.d.link.off('up', this.onUp);
  }

  /** The death this boot leaves behind on a clean stop; the link publishes it before disconnecting. */
  shutdownMessage() {
    return {
      topic: this.d.topic,
      payload: JSON.stringify(buildShutdown(new Date(this.d.clock.now()), this.d.bootId)),
      opts: PUBLISH_OPTS.status,
    };
  }
}
