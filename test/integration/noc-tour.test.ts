// The tour of the centre, as a new user meets it: `npm start` (demo/main.ts: the agent,
// its embedded MQTT 3.1.1 broker on a free port through LOA_DEMO_PORT=0), then the
// three `noc` commands the demo prints once the box is up, parsed from its output and
// run through a real shell exactly as printed, from another directory, with no protocol
// flag. Only the launcher the demo prints (`npx --prefix <repo> noc`, or `npm --prefix
// <repo> run -s noc --` without dist/) is pointed at the sources (node --import tsx
// noc/cli.ts): the built bin is the same code, and a stale dist/ must not decide this.
//
// Timeline of the demo's schedule (seconds after start): bulletin 12, FM relay 22-52,
// typhoon warning 32 (preempts the relay, which resumes after it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDemo, REPO_ROOT } from '../helpers/agent-process.js';
import { tempDir } from '../helpers/tmp.js';
import type { BoxRow } from '../../noc/watch-row.js';

interface Printed {
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Ctrl-C, as in a terminal: SIGINT to the process group. */
  interrupt(): Promise<number | null>;
}

const LAUNCHER = /^(npx --prefix (\S+) noc|npm --prefix (\S+) run -s noc --) /;

/** A command line as the demo printed it, through bash; its noc launcher runs noc/cli.ts. */
function runPrinted(line: string, cwd: string): Printed {
  // tsx by its resolved URL: the shell runs in a temp dir, outside the repository.
  const noc = `exec node --import "${import.meta.resolve('tsx')}" "${join(REPO_ROOT, 'noc/cli.ts')}" "$@"`;
  const script = [
    `npx() { [ "$1" = --prefix ] && [ "$3" = noc ] || { echo "unexpected: npx $*" >&2; return 127; }; shift 3; ${noc}; }`,
    `npm() { [ "$1 $3 $4 $5 $6" = "--prefix run -s noc --" ] || { echo "unexpected: npm $*" >&2; return 127; }; shift 6; ${noc}; }`,
    line,
  ].join('\n');
  const proc = spawn('bash', ['-c', script], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  const timer = setTimeout(() => process.kill(-proc.pid!, 'SIGKILL'), 90_000);
  void exited.then(() => clearTimeout(timer));
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    async interrupt() {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, 'SIGINT');
      return exited;
    },
  };
}

test(
  'npm start prints the tour of the centre; watch, an emergency play and the proof-of-play export work as printed',
  { timeout: 180_000 },
  async () => {
    const cwd = tempDir('noc-tour');
    const demo = spawnDemo({ LOA_DEMO_PORT: '0' });
    const printed: Printed[] = [];
    try {
      await demo.waitForLog(/The box is up[\s\S]* noc\b[^\n]* events export [^\n]*\n/, 60_000);
      const lines = demo
        .output()
        .split('\n')
        .filter((l) => LAUNCHER.test(l.trim()))
        .map((l) => l.trim());
      assert.equal(lines.length, 3, demo.output().slice(-3000));
      // The launcher names this repository: runnable from any directory, never a registry package.
      for (const l of lines) {
        const m = LAUNCHER.exec(l)!;
        assert.equal(m[2] ?? m[3], REPO_ROOT.replace(/\/$/, ''), l);
      }
      const [watchLine, sendLine, exportLine] = lines as [string, string, string];
      const rest = (l: string) => l.replace(LAUNCHER, '');
      assert.match(rest(watchLine), /^watch --broker mqtt:\/\/127\.0\.0\.1:\d+$/);
      assert.doesNotMatch(watchLine, /:1883\b/, 'LOA_DEMO_PORT=0 gives a free port');
      assert.match(
        rest(sendLine),
        /^send \S+emergency-play\.json --broker mqtt:\/\/127\.0\.0\.1:\d+ --device demo-box-01 --key \S+demo-centre\.key\.pem$/,
      );
      assert.match(
        rest(exportLine),
        /^events export --db \S+events\.sqlite --from \d{4}-\d\d-\d\d --to \d{4}-\d\d-\d\d --out proof-of-play\.csv$/,
      );
      assert.doesNotMatch(lines.join(' '), /mqtt-version/);
      // The key is the demo centre's, private to its owner.
      const keyFile = /--key (\S+)/.exec(sendLine)![1]!;
      const { statSync } = await import('node:fs');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);

      // 1. The watch, exactly as printed, follows the box while the rest happens.
      const watch = runPrinted(watchLine, cwd);
      printed.push(watch);

      // The relay plays again after the typhoon warning preempted it.
      await demo.waitForLog(/play\.started itemId=typhoon-warning[\s\S]*play\.started itemId=vov1-relay/, 90_000);
      // A snapshot while it plays: the printed command, once, as JSON rows.
      const once = runPrinted(`${watchLine} --once --json`, cwd);
      printed.push(once);
      assert.equal(await once.exited, 0, once.stderr());
      assert.match(once.stderr(), /refused MQTT 5 .*; connected with MQTT 3\.1\.1/, 'the fallback says so in one line');
      const rows = once
        .stdout()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as BoxRow);
      const box = rows.find((r) => r.deviceId === 'demo-box-01');
      assert.ok(box, once.stdout());
      assert.equal(box.status, 'online', JSON.stringify(box));
      assert.equal(box.state, 'playing', JSON.stringify(box));
      assert.match(box.playing ?? '', /^vov1-relay \(fm, p50\)$/);
      assert.deepEqual(
        [box.periodS, box.periodFrom],
        [10, 'birth'],
        'the period is the birth’s heartbeatS, not the gaps of change-triggered heartbeats',
      );

      // 2. The emergency play, as printed: preempts the relay, answered ok, exit 0.
      const send = runPrinted(sendLine, cwd);
      printed.push(send);
      assert.equal(await send.exited, 0, `${send.stdout()}\n${send.stderr()}`);
      assert.match(send.stdout(), /^demo-box-01: ok in \d+ ms /m);
      const cmdId = /sent command (\S+) ->/.exec(send.stderr())![1]!;
      await demo.waitForLog(
        new RegExp(
          `play\\.interrupted itemId=vov1-relay[^"\\n]*reason=preempted[\\s\\S]*play\\.finished itemId=${cmdId}`,
        ),
        30_000,
      );

      // The live watch saw the box online and never called it stale.
      assert.equal(await watch.interrupt(), 0, watch.stderr());
      assert.match(watch.stdout(), / demo-box-01 online/);
      assert.match(watch.stdout(), / demo-box-01 .*playing vov1-relay/);
      assert.doesNotMatch(watch.stdout(), /stale/, watch.stdout());

      // 3. The export, as printed: the plays so far.
      const exp = runPrinted(exportLine, cwd);
      printed.push(exp);
      assert.equal(await exp.exited, 0, exp.stderr());
      const csv = readFileSync(join(cwd, 'proof-of-play.csv'), 'utf8').trim().split('\n');
      assert.match(csv[0]!, /^device,groups,itemId,docId,docVersion,occurrence,outcome,/);
      const row = (re: RegExp) => csv.find((l) => re.test(l));
      assert.ok(row(/^demo-box-01,all p79 c26734,morning-bulletin,demo-c26734,\d+,[^,]+,finished,/), csv.join('\n'));
      assert.ok(row(/^demo-box-01,[^,]*,typhoon-warning,demo-c26734,\d+,[^,]+,finished,/), csv.join('\n'));
      assert.ok(row(/^demo-box-01,[^,]*,vov1-relay,.*,preempted,/), csv.join('\n'));
      assert.ok(row(new RegExp(`^demo-box-01,[^,]*,${cmdId},,,[^,]+,finished,.*,${cmdId},`)), csv.join('\n'));
    } finally {
      await Promise.all(printed.map((p) => p.interrupt()));
      assert.equal(await demo.term(), 0, demo.output().slice(-3000));
    }
  },
);
