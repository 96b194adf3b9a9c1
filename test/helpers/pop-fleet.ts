// A deterministic fleet's proof of play, as the boxes would send it: births listing
// commune, district and province groups, and for every box and day its scheduled plays with
// every outcome the export knows (finished with the board's measurement, failed, skipped,
// a relay interrupted and resumed, a play still without end, CAP emergencies that did or
// did not sound). For the export test run on both archives and for the bench.
export interface FleetSpec {
  provinces: number;
  /** Districts per province, communes per district, boxes per commune. */
  districts: number;
  communes: number;
  boxes: number;
  days: number;
  /** Occurrences per box and day (about two events each). */
  playsPerDay: number;
  /** Midnight UTC of the first day. */
  startMs: number;
}

export interface FleetMessage {
  device: string;
  leaf: 'status' | 'events';
  body: Record<string, unknown>;
}

/** Ids as the boxes name their groups: p79 (province), d79-01 (district), c79-01-01 (commune). */
export function fleetIds(s: FleetSpec): { device: string; groups: string[] }[] {
  const out: { device: string; groups: string[] }[] = [];
  for (let p = 1; p <= s.provinces; p++)
    for (let d = 1; d <= s.districts; d++)
      for (let c = 1; c <= s.communes; c++)
        for (let b = 1; b <= s.boxes; b++) {
          const pp = String(p).padStart(2, '0');
          const dd = `${pp}-${String(d).padStart(2, '0')}`;
          const cc = `${dd}-${String(c).padStart(2, '0')}`;
          out.push({ device: `vn-${cc}-${String(b).padStart(2, '0')}`, groups: ['all', `p${pp}`, `d${dd}`, `c${cc}`] });
        }
  return out;
}

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Births first, then each box's events day by day (seq in order within its epoch). */
export function* fleetMessages(s: FleetSpec): Generator<FleetMessage> {
  const ids = fleetIds(s);
  for (const { device, groups } of ids)
    yield {
      device,
      leaf: 'status',
      body: {
        online: true,
        ts: new Date(s.startMs).toISOString(),
        bootId: `boot-${device}`,
        epoch: `E-${device}`,
        groups,
      },
    };
  const iso = (ms: number) => new Date(ms).toISOString();
  for (const [n, { device }] of ids.entries()) {
    const rnd = rng(n + 1);
    const epoch = `E-${device}`;
    let seq = 0;
    const ev = (ts: number, type: string, f: Record<string, unknown>): FleetMessage => ({
      device,
      leaf: 'events',
      body: { epoch, seq: ++seq, ts: iso(ts), type, ...f },
    });
    for (let day = 0; day < s.days; day++) {
      const step = 86_400_000 / s.playsPerDay;
      for (let k = 0; k < s.playsPerDay; k++) {
        const occ = s.startMs + day * 86_400_000 + Math.floor(k * step);
        const emergency = rnd() < 0.02;
        const item = {
          itemId: emergency ? `cap-${day}-${k}` : `news-${k % 7}`,
          docId: emergency ? null : 'daily',
          docVersion: emergency ? null : 3,
          occurrence: iso(occ),
          lateMs: Math.floor(rnd() * 50),
          source: k % 5 === 0 ? 'fm' : 'file',
          priority: emergency ? 100 : 50,
          ...(emergency ? { cmdId: `cmd-${day}-${k}`, repeat: 1 + (k % 3), capId: `VN-KTTV-${day}-${k}` } : {}),
        };
        const played = 60_000 + Math.floor(rnd() * 120_000);
        const out = (silentMs: number) => ({ measured: true, levelDb: Math.round(-90 + rnd() * 60) / 10, silentMs });
        const r = rnd();
        const t0 = occ + item.lateMs;
        if (r < 0.8) {
          yield ev(t0, 'play.started', item);
          yield ev(t0 + played, 'play.finished', {
            ...item,
            playedMs: played,
            output: out(emergency && r < 0.05 ? played : 0),
          });
        } else if (r < 0.86) {
          yield ev(t0, 'play.started', item);
          yield ev(t0 + 3000, 'play.failed', { ...item, reason: 'decode', message: 'bad frame, at "3 s"' });
        } else if (r < 0.92) {
          yield ev(occ + 1000, 'play.skipped', { ...item, reason: r < 0.89 ? 'busy' : 'missed' });
        } else if (r < 0.97) {
          yield ev(t0, 'play.started', item);
          yield ev(t0 + 20_000, 'play.interrupted', {
            ...item,
            playedMs: 20_000,
            reason: 'preempted',
            output: out(500),
          });
          yield ev(t0 + 60_000, 'play.started', { ...item, resumed: true });
          yield ev(t0 + 60_000 + played, 'play.finished', { ...item, playedMs: played, resumed: true, output: out(0) });
        } else yield ev(t0, 'play.started', item);
      }
    }
  }
}
