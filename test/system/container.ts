// A Debian container with systemd as PID 1, for the system test: a bootstrapped root
// (cached between local runs under /var/cache/loa-test/, keyed by its package list),
// an overlay on it per run (the cache stays pristine), booted with systemd-nspawn.
// Measured facts behind each choice: /work/shared/FINDINGS.md, "A real systemd".
//
// - cgroups: nspawn runs from a shell that first moved itself into cgroups of its own
//   (hybrid v1 host: name=systemd and unified; pure v2 host: one directory), so the
//   container's processes can be found and the directories removed at the end.
// - SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 with --capability=all --system-call-filter=bpf:
//   a pure cgroup v2 tree inside, as on Raspberry Pi OS, so DevicePolicy=/DeviceAllow=
//   are enforced (BPF device programs); trixie's systemd 257 wants it anyway.
// - --private-network: the container's Mosquitto stays off the host's 127.0.0.1:1883.
// - A reboot inside ends nspawn with exit status 133; boot() again on the same overlay.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export const SUITE = process.env.LOA_TEST_SUITE ?? 'trixie';
export const MIRROR = process.env.LOA_TEST_MIRROR ?? 'http://deb.debian.org/debian';
/** What the container needs besides minbase: systemd as init, a broker, Debian's nodejs (the .deb's dependency). */
export const PACKAGES = [
  'systemd',
  'systemd-sysv',
  'dbus',
  'udev',
  'adduser',
  'procps',
  'mosquitto',
  'mosquitto-clients',
  'nodejs',
];
const CACHE = process.env.LOA_TEST_CACHE ?? '/var/cache/loa-test';
const PATH_INSIDE = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Why the system test cannot run here, or null. */
export function containerUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn, debootstrap, mount)';
  if (spawnSync('sh', ['-c', 'command -v mmdebstrap || command -v debootstrap'], { stdio: 'ignore' }).status !== 0)
    return 'neither mmdebstrap nor debootstrap found (apt-get install mmdebstrap)';
  for (const [bin, pkg] of [
    ['systemd-nspawn', 'systemd-container'],
    ['nsenter', 'util-linux'],
    ['dpkg-deb', 'dpkg'],
  ]) {
    if (spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status !== 0)
      return `${bin} not found (apt-get install ${pkg})`;
  }
  if (!existsSync('/sys/fs/cgroup/unified') && !existsSync('/sys/fs/cgroup/cgroup.controllers'))
    return 'no cgroup v2 hierarchy (/sys/fs/cgroup/unified or a unified /sys/fs/cgroup)';
  return null;
}

function run(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0)
    throw new Error(`${what} failed (${r.status ?? r.signal}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** The bootstrapped root for SUITE + PACKAGES: from the cache, or made now (minutes). */
export function preparedRoot(log: (s: string) => void): { root: string; seconds: number } {
  const key = createHash('sha256')
    .update(JSON.stringify([SUITE, MIRROR, PACKAGES, 1]))
    .digest('hex')
    .slice(0, 12);
  const dir = join(CACHE, `${SUITE}-${key}`);
  const root = join(dir, 'root');
  if (existsSync(join(dir, 'done'))) {
    log(`container root: cached ${root}`);
    return { root, seconds: 0 };
  }
  const t0 = performance.now();
  const tmp = join(dir, `root.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // mmdebstrap (apt's solver, parallel downloads) took 111 s where debootstrap took 311 s here.
  const tool =
    spawnSync('sh', ['-c', 'command -v mmdebstrap'], { stdio: 'ignore' }).status === 0 ? 'mmdebstrap' : 'debootstrap';
  log(`container root: ${tool} ${SUITE} from ${MIRROR} into ${tmp} (minutes)`);
  try {
    run(tool, ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, tmp, MIRROR], tool);
    // dpkg syncs every file it unpacks; the test's installs need no crash safety.
    writeFileSync(join(tmp, 'etc/dpkg/dpkg.cfg.d/loa-test-unsafe-io'), 'force-unsafe-io\n');
    // No network inside: apt must not try mirrors for a local .deb's recommends.
    writeFileSync(
      join(tmp, 'etc/apt/apt.conf.d/90loa-test'),
      'APT::Install-Recommends "false";\nAcquire::Retries "0";\n',
    );
    writeFileSync(join(tmp, 'etc/hostname'), 'loa-box\n');
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(join(dir, 'done'), `${new Date().toISOString()} ${SUITE} ${PACKAGES.join(' ')}\n`);
  const seconds = (performance.now() - t0) / 1000;
  log(`container root: made in ${seconds.toFixed(0)} s`);
  return { root, seconds };
}

export interface Exec {
  status: number | null;
  stdout: string;
  stderr: string;
}

export class Container {
  readonly merged: string;
  private readonly upper: string;
  private readonly work: string;
  private readonly cgroups: string[];
  private nspawn: ChildProcess | undefined;
  private exitPromise: Promise<number | null> | undefined;
  /** The container's systemd (PID 1 inside), as a host PID. */
  initPid = 0;
  console = '';

  constructor(
    readonly lower: string,
    readonly scratch: string,
    /** Host directories bound read-only into the container: [host, inside]. */
    private readonly binds: [string, string][] = [],
  ) {
    this.merged = join(scratch, 'merged');
    this.upper = join(scratch, 'upper');
    this.work = join(scratch, 'work');
    const name = `loa-system-test-${process.pid}`;
    this.cgroups = existsSync('/sys/fs/cgroup/unified')
      ? [`/sys/fs/cgroup/systemd/${name}`, `/sys/fs/cgroup/unified/${name}`]
      : [`/sys/fs/cgroup/${name}`];
  }

  /** Mount the overlay (the cached root stays untouched); a copy where overlayfs is refused. */
  mount(): void {
    for (const d of [this.merged, this.upper, this.work]) mkdirSync(d, { recursive: true });
    const r = spawnSync(
      'mount',
      [
        '-t',
        'overlay',
        'overlay',
        '-o',
        `lowerdir=${this.lower},upperdir=${this.upper},workdir=${this.work}`,
        this.merged,
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0)
      run('cp', ['-a', `${this.lower}/.`, this.merged], `copy of the root (overlay refused: ${r.stderr.trim()})`);
  }

  /** Boot; resolves once `systemctl is-system-running --wait` answers (running or degraded). */
  async boot(timeoutMs = 120_000): Promise<{ bootMs: number; state: string }> {
    const t0 = performance.now();
    for (const cg of this.cgroups) mkdirSync(cg, { recursive: true });
    const args = [
      '--register=no',
      '--keep-unit',
      '--private-network',
      '--console=read-only',
      '--capability=all',
      '--system-call-filter=bpf',
      ...this.binds.map(([h, c]) => `--bind-ro=${h}:${c}`),
      '-D',
      this.merged,
      '-b',
    ];
    const script = `for cg in ${this.cgroups.join(' ')}; do echo $$ > "$cg/cgroup.procs"; done; exec systemd-nspawn "$@"`;
    this.console = '';
    const p = spawn('sh', ['-c', script, 'sh', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
    });
    p.stdout!.setEncoding('utf8');
    p.stderr!.setEncoding('utf8');
    p.stdout!.on('data', (b: Buffer) => (this.console += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (this.console += b.toString()));
    this.nspawn = p;
    this.exitPromise = new Promise((resolve) => p.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (p.exitCode !== null)
        throw new Error(`systemd-nspawn exited with ${p.exitCode}:\n${this.console.slice(-3000)}`);
      const init = spawnSync('pgrep', ['-P', String(p.pid), '-x', 'systemd'], { encoding: 'utf8' }).stdout.trim();
      if (init) {
        this.initPid = Number(init.split('\n')[0]);
        break;
      }
      if (Date.now() > deadline)
        throw new Error(`no systemd under nspawn within ${timeoutMs} ms:\n${this.console.slice(-3000)}`);
      await sleep(50);
    }
    // nsenter can come before the container's namespaces are complete: ask again until
    // systemd answers with a state it settled in.
    for (;;) {
      const state = (await this.execAsync(['systemctl', 'is-system-running', '--wait'], timeoutMs)).stdout.trim();
      if (['running', 'degraded'].includes(state)) return { bootMs: performance.now() - t0, state };
      if (p.exitCode !== null)
        throw new Error(`systemd-nspawn exited with ${p.exitCode}:\n${this.console.slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`the container did not finish booting within ${timeoutMs} ms (state "${state}")`);
      await sleep(100);
    }
  }

  private enterArgs(cmd: string[]): string[] {
    return [
      '-t',
      String(this.initPid),
      '-a',
      'env',
      '-i',
      PATH_INSIDE,
      'LANG=C.UTF-8',
      'SYSTEMD_PAGER=',
      'DEBIAN_FRONTEND=noninteractive',
      ...cmd,
    ];
  }

  /** Run a command inside (all namespaces of the container's init, a clean environment). */
  exec(cmd: string[], input?: string): Exec {
    const r: SpawnSyncReturns<string> = spawnSync('nsenter', this.enterArgs(cmd), {
      encoding: 'utf8',
      input,
      maxBuffer: 64 << 20,
      timeout: 300_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** `sh -c script` inside; throws with the output unless it exits 0. */
  sh(script: string, input?: string): string {
    const r = this.exec(['sh', '-c', script], input);
    if (r.status !== 0)
      throw new Error(`inside: ${script}\nexit ${r.status}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    return r.stdout;
  }

  /** Like exec, without blocking the event loop (for commands that wait: mosquitto_sub, is-system-running --wait). */
  execAsync(cmd: string[], timeoutMs = 60_000): Promise<Exec> {
    return new Promise((resolve) => {
      const p = spawn('nsenter', this.enterArgs(cmd), { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
      let stdout = '';
      let stderr = '';
      p.stdout!.setEncoding('utf8');
      p.stderr!.setEncoding('utf8');
      p.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      p.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  }

  /** `systemctl show UNIT -p ...` as an object. */
  show(unit: string, props: string[]): Record<string, string> {
    const out = this.sh(`systemctl show ${unit} ${props.map((p) => `-p ${p}`).join(' ')}`);
    return Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }

  /** Resolves with nspawn's exit status (133: the container rebooted) within `ms`, or throws. */
  async exited(ms: number): Promise<number | null> {
    if (!this.exitPromise) throw new Error('not booted');
    const timeout = sleep(ms).then(() => 'timeout' as const);
    const r = await Promise.race([this.exitPromise, timeout]);
    if (r === 'timeout') throw new Error(`the container did not end within ${ms} ms:\n${this.console.slice(-3000)}`);
    this.nspawn = undefined;
    return r;
  }

  /** Power off (SIGRTMIN+3 to its systemd), SIGKILL after 30 s; then unmount and remove everything. Never throws. */
  async destroy(): Promise<void> {
    const p = this.nspawn;
    if (p && p.exitCode === null) {
      try {
        if (this.initPid) process.kill(this.initPid, 'SIGRTMIN+3');
      } catch {
        // already gone
      }
      const gone = await Promise.race([this.exitPromise, sleep(30_000).then(() => 'timeout')]);
      if (gone === 'timeout') this.killCgroups();
      await Promise.race([this.exitPromise, sleep(5_000)]);
    }
    this.killCgroups();
    spawnSync('umount', ['-l', this.merged]);
    rmSync(this.scratch, { recursive: true, force: true });
    for (const cg of this.cgroups) removeCgroup(cg);
  }

  private killCgroups(): void {
    for (const cg of this.cgroups) {
      for (const pid of pidsUnder(cg)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  }
}

/**
 * What a killed earlier run (SIGKILL, no after hook) left: containers in cgroups named
 * for a process that no longer exists, and their overlays. Killed, unmounted, removed.
 */
export function sweepStale(log: (s: string) => void): void {
  for (const base of ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    if (!existsSync(base)) continue;
    for (const name of readdirSync(base)) {
      const m = /^loa-system-test-(\d+)$/.exec(name);
      if (!m || existsSync(`/proc/${m[1]}`)) continue;
      const cg = join(base, name);
      const pids = pidsUnder(cg);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      log(`stale container of run ${m[1]}: ${pids.length} processes killed`);
      removeCgroup(cg);
    }
  }
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const mnt = line.split(' ')[1];
    // The test's scratch directory carries its pid: tempDir(`system-${process.pid}`).
    const m = mnt ? /\/loa-test-system-(\d+)-[^/]+\/box\/merged$/.exec(mnt) : null;
    if (m && !existsSync(`/proc/${m[1]}`)) {
      spawnSync('umount', ['-l', mnt!]);
      rmSync(mnt!.replace(/\/box\/merged$/, ''), { recursive: true, force: true });
    }
  }
}

function pidsUnder(cg: string): number[] {
  if (!existsSync(cg)) return [];
  const out: number[] = [];
  const walk = (d: string) => {
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) out.push(Number(l));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      // removed meanwhile
    }
  };
  walk(cg);
  return out;
}

/** Remove a cgroup directory tree, deepest first (cgroupfs refuses rm -r). */
function removeCgroup(cg: string): void {
  if (!existsSync(cg)) return;
  for (const e of readdirSync(cg, { withFileTypes: true })) if (e.isDirectory()) removeCgroup(join(cg, e.name));
  try {
    rmdirSync(cg);
  } catch {
    // still busy: a process outlived SIGKILL's delivery; the host reaps it
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every 100 ms until it returns a value, or throw after `ms` with `what`. */
export async function until<T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = performance.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}
