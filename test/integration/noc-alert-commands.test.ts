// The commands the alert rules tell the on-duty operator to run must work as written.
// Each `noc events export ...` in an action of noc/prometheus/*.yml is taken from the rule
// text, its template rendered as Prometheus would for a firing alert (labels, the
// time() queries), and run (node --import tsx noc/cli.ts) against an events archive of a
// box that missed a broadcast ten minutes ago and played one unheard five minutes ago;
// only the --db path is swapped for the fixture's. It must print that box's rows, not a
// bare header, with what the alert's action says to read in them. And a group that
// matches no device (26734 for c26734, the old action's mistake) gets a warning on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventStore } from '../../noc/events-store.js';
import { REPO_ROOT } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';
import { runNoc, spawnNoc } from './noc-cli.js';
import { startBroker } from '../helpers/broker.js';

const DIR = join(REPO_ROOT, 'noc/prometheus');
const utcDate = (s: number) => new Date(s * 1000).toISOString().slice(0, 10);

/** Prometheus's rendering of the two template forms the actions use. */
function render(text: string, labels: Record<string, string>, nowS: number): string {
  return text
    .replace(
      /\{\{ with query "time\(\) ([-+]) (\d+)" \}\}\{\{ \(\. \| first \| value \| toTime\)\.Format "2006-01-02" \}\}\{\{ end \}\}/g,
      (_, op: string, n: string) => utcDate(op === '-' ? nowS - Number(n) : nowS + Number(n)),
    )
    .replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, k: string) => labels[k] ?? `<no label ${k}>`);
}

/** Every `noc events export ...` of an action (folded YAML: the lines joined by spaces). */
function exportCommands(): { alert: string; command: string }[] {
  const out: { alert: string; command: string }[] = [];
  for (const f of readdirSync(DIR).filter((x) => x.endsWith('.yml') && !x.endsWith('.test.yml'))) {
    const text = readFileSync(join(DIR, f), 'utf8');
    for (const block of text.split(/^\s+- alert: /m).slice(1)) {
      const alert = block.split('\n')[0]!.trim();
      const action =
        /^\s+action: >-\n((?:\s{12}.*\n?)+)/m.exec(block)?.[1] ?? /^\s+action: (.*)$/m.exec(block)?.[1] ?? '';
      const folded = action
        .split('\n')
        .map((l) => l.trim())
        .join(' ');
      for (const m of folded.matchAll(/`(noc (?:events export|send) [^`]+)`/g)) out.push({ alert, command: m[1]! });
    }
  }
  return out;
}

function fixture(nowMs: number): string {
  const db = join(tempDir('alert-commands'), 'events.sqlite');
  const s = new EventStore(db);
  const birth = {
    online: true,
    ts: new Date(nowMs - 86_400_000).toISOString(),
    bootId: 'b1',
    epoch: 'E1',
    groups: ['all', 'c26734'],
  };
  s.addBirth('vn-01', birth, nowMs - 86_400_000);
  const occurrence = new Date(nowMs - 600_000).toISOString();
  const failed = {
    epoch: 'E1',
    seq: 1,
    ts: occurrence,
    type: 'play.skipped',
    itemId: 'news',
    docId: 'c26734-daily',
    occurrence,
    reason: 'media-missing',
  };
  s.addEvent('vn-01', failed, nowMs - 600_000, JSON.stringify(failed));
  // Five minutes ago a play whose speakers were silent for 12.5 s (contract v1.2 §9).
  const at = new Date(nowMs - 300_000).toISOString();
  const silent = {
    epoch: 'E1',
    seq: 2,
    ts: at,
    type: 'play.finished',
    itemId: 'music',
    docId: 'c26734-daily',
    occurrence: at,
    playedMs: 60_000,
    output: { measured: true, levelDb: -31.5, silentMs: 12_500 },
  };
  s.addEvent('vn-01', silent, nowMs - 300_000, JSON.stringify(silent));
  s.close();
  return db;
}

/** What the box's rows must show for the operator to act on each alert: the miss, or the silence. */
const EXPECTED: Record<string, (row: string) => boolean> = {
  LoaPlaysSilent: (row) => row.endsWith(',-31.5,12500'),
};
const missed = (row: string) => row.includes('media-missing');

test(
  "every `noc events export` in the alerts' actions runs as written and prints the box's rows",
  { timeout: 120_000 },
  async () => {
    const now = Date.now();
    const db = fixture(now);
    const commands = exportCommands().filter((c) => c.command.startsWith('noc events export'));
    for (const alert of ['LoaOccurrencesMissed', 'LoaPlaysSilent'])
      assert.ok(
        commands.some((c) => c.alert === alert),
        `${alert} names its export command`,
      );
    for (const { alert, command } of commands) {
      const line = render(
        command,
        { device: 'vn-01', commune: 'Xa An Binh', commune_code: '26734', groups: 'all,c26734' },
        Math.floor(now / 1000),
      );
      assert.doesNotMatch(line, /\{\{|<no label/, `${alert}: template left in ${line}`);
      const args = line.split(/\s+/).slice(1); // after "noc"
      const i = args.indexOf('--db');
      assert.ok(i >= 0, `${alert}: ${line} has no --db`);
      args[i + 1] = db;
      const r = await runNoc(args);
      assert.equal(r.code, 0, `${alert}: ${line}\n${r.stderr}`);
      assert.equal(r.stderr, '', `${alert}: ${line}`);
      const rows = r.stdout.split('\r\n').slice(1, -1);
      assert.ok(rows.length >= 1, `${alert}: ${line} printed only a header`);
      const wanted = EXPECTED[alert] ?? missed;
      assert.ok(
        rows.some((l) => l.startsWith('vn-01,') && wanted(l)),
        `${alert}: ${rows.join('\n')}`,
      );
    }
  },
);

test(
  'noc events export --group that matches no device warns on stderr (the file has only its header)',
  { timeout: 60_000 },
  async () => {
    const now = Date.now();
    const db = fixture(now);
    const day = utcDate(now / 1000);
    const r = await runNoc(['events', 'export', '--db', db, '--from', day, '--to', day, '--group', '26734']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split('\r\n').length, 2);
    assert.match(r.stderr, /warning: no device's newest birth lists group "26734".*c26734/);
  },
);

// The `noc send` actions, as the on-duty shell runs them (docs/noc.md §6.2: NOC_BROKER and
// NOC_KEY set): against `noc simulate` boxes through a real Mosquitto, each answered ok.
test(
  "every `noc send` in the alerts' actions runs as written (NOC_BROKER, NOC_KEY) and is answered",
  { timeout: 180_000 },
  async () => {
    const broker = await startBroker();
    const dir = tempDir('alert-send');
    const k = await runNoc(['keys', '--kid', 'centre', '--out', dir]);
    assert.equal(k.code, 0, k.stderr);
    const { kid, publicKey } = JSON.parse(k.stdout) as { kid: string; publicKey: string };
    const sim = spawnNoc([
      'simulate',
      '--broker',
      broker.url,
      '--boxes',
      '2',
      '--prefix',
      'vn-',
      '--groups',
      'all,c26734',
      '--trust',
      `${kid}=${publicKey}`,
      '--heartbeat',
      '5',
      '--play-every',
      '0',
    ]);
    try {
      await sim.waitFor(/ready: 2 of 2 boxes connected/, 30_000);
      const env = { NOC_BROKER: broker.url, NOC_KEY: join(dir, 'centre.key.pem') };
      const commands = exportCommands().filter((c) => c.command.startsWith('noc send'));
      assert.deepEqual([...new Set(commands.map((c) => c.alert))].sort(), [
        'LoaBoxFault',
        'LoaBoxOutputFault',
        'LoaClockBoundAhead',
        'LoaEmergencyNoOutput',
        'LoaEmergencyNotPlayed',
        'LoaGroupBoxesFaulty',
      ]);
      for (const { alert, command } of commands) {
        const line = render(
          command,
          { device: 'vn-0001', group: 'c26734', commune_code: '26734' },
          Math.floor(Date.now() / 1000),
        );
        assert.doesNotMatch(line, /\{\{|<no label|<id>/, `${alert}: template left in ${line}`);
        const r = await runNoc([...line.split(/\s+/).slice(1), '--timeout', '20'], 60_000, env);
        assert.equal(r.code, 0, `${alert}: ${line}\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /vn-0001: ok in \d+ ms/, `${alert}: ${line}\n${r.stdout}`);
      }
    } finally {
      await sim.stop();
      await broker.close();
    }
  },
);
