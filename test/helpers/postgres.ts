// A real PostgreSQL for the archive's tests and bench: Debian's package (postgresql-15:
// /usr/lib/postgresql/15/bin), a throwaway cluster made by the test (initdb) in its own
// temporary directory, listening on a free loopback port and on a unix socket inside
// that directory. Where PostgreSQL is missing, `postgresMissing()` gives the reason a
// test skips with; under CI=true the caller fails instead.
//
// initdb and postgres refuse to run as root: as root, the cluster's directory is given to
// the `postgres` system user (Debian's package creates it; `nobody` otherwise) and the
// programs are spawned with that uid (node's spawn `uid`/`gid`, not runuser: runuser stays
// as the parent, and a kill -9 must reach the postmaster itself). The postmaster leads its
// own process group, so kill() takes its backends with it, as a crash of the server would.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './broker.js';
import { tempDir } from './tmp.js';
import { until } from './wait.js';

/** The newest PostgreSQL's bin directory (Debian keeps them off PATH), or undefined. */
export function postgresBin(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')) && existsSync(join(base, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin');
}

export const PSQL = '/usr/bin/psql';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

/** Why PostgreSQL tests cannot run here, or undefined. */
export function postgresMissing(): string | undefined {
  if (!postgresBin()) return 'PostgreSQL not installed (Debian package "postgresql"; .ci/run installs it)';
  if (!existsSync(PSQL)) return 'psql not found (Debian package "postgresql-client")';
  return undefined;
}

/** Skip reason for a test file, or false; under CI=true a missing PostgreSQL throws instead. */
export function postgresSkip(): string | false {
  const why = postgresMissing();
  if (why && process.env.CI === 'true') throw new Error(`${why}; CI must install it`);
  return why ?? false;
}

export interface PgOptions {
  /**
   * Keep PostgreSQL's durability defaults (fsync, synchronous_commit, full_page_writes):
   * for the kill -9 test. Without it fsync is off: a test cluster needs no crash safety
   * unless the test is about a crash.
   */
  durable?: boolean;
  /** Put the cluster here instead of a fresh temp dir (a small tmpfs for the full-disk test). */
  dir?: string;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

export interface TestPostgres {
  /** postgres://loa@127.0.0.1:PORT/loa */
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly dataDir: string;
  /** Start again on the same port after stop() or kill() (or after the server exited by itself). */
  start(): Promise<void>;
  /** The postmaster is running (it exits by itself when it cannot recover, e.g. on a full disk). */
  running(): boolean;
  /** A fast shutdown (SIGINT): sessions rolled back, the server gone when it resolves. */
  stop(): Promise<void>;
  /** kill -9 of the postmaster and every backend: a crash. */
  kill(): Promise<void>;
  close(): Promise<void>;
  /** psql -c SQL as the superuser (on `url`, default this cluster's loa); unaligned tuples-only output, or throws with psql's error. */
  psql(sql: string, url?: string): string;
  /** The server's stderr so far (its log). */
  log(): string;
}

interface Owner {
  uid: number;
  gid: number;
}

function owner(): Owner | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    const u = spawnSync('id', ['-u', user], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', user], { encoding: 'utf8' });
    if (u.status === 0 && g.status === 0) return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  }
  throw new Error('running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as');
}

export async function startPostgres(o: PgOptions = {}): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error(postgresMissing());
  const who = owner();
  const dir = o.dir ?? tempDir('pg');
  const dataDir = join(dir, 'data');
  const sockDir = join(dir, 'sock');
  mkdirSync(sockDir, { recursive: true });
  if (who) for (const d of [dir, sockDir]) chownSync(d, who.uid, who.gid);
  const as = who ? { uid: who.uid, gid: who.gid } : {};
  const init = spawnSync(
    join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'loa', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'],
    { encoding: 'utf8', cwd: dir, ...as },
  );
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: sockDir,
    max_connections: '50',
    shared_buffers: '32MB',
    ...(o.durable ? {} : { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' }),
    ...o.settings,
  };
  const args = [
    '-D',
    dataDir,
    '-p',
    String(port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  let proc: ChildProcess | undefined;
  let stderr = '';
  const url = `postgres://loa@127.0.0.1:${port}/loa`;
  const ready = (db: string) =>
    spawnSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-d', db, '-U', 'loa']).status ===
    0;
  const alive = () => proc !== undefined && proc.exitCode === null && proc.signalCode === null;
  const start = async () => {
    if (alive()) throw new Error('postgres is already running');
    // Through setpriv (util-linux, which execs: the same pid) where it exists, for its
    // parent-death signal: a test process that dies any way at all (a timeout's SIGKILL
    // included, where no exit handler runs) takes its postmaster with it.
    const [cmd, argv, opts] = SETPRIV
      ? [
          SETPRIV,
          [
            ...(who ? [`--reuid=${who.uid}`, `--regid=${who.gid}`, '--clear-groups'] : []),
            '--pdeathsig=KILL',
            '--',
            join(bin, 'postgres'),
            ...args,
          ],
          {},
        ]
      : [join(bin, 'postgres'), args, as];
    const p = spawn(cmd, argv, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...opts });
    proc = p;
    spawned.add(p);
    p.once('exit', () => spawned.delete(p));
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (b: string) => (stderr = (stderr + b).slice(-50_000)));
    await until(
      () => {
        if (p.exitCode !== null) throw new Error(`postgres exited ${p.exitCode}: ${stderr.slice(-2000)}`);
        return ready('postgres');
      },
      30_000,
      'postgres accepting connections',
      50,
    );
  };
  const signal = async (sig: NodeJS.Signals, group: boolean) => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    process.kill(group ? -p.pid! : p.pid!, sig);
    await gone;
    // A crash leaves orphaned backends for a moment; the next start waits for them.
    if (group) await until(() => !processGroupAlive(p.pid!), 10_000, 'the killed backends gone', 20);
  };
  const psql = (sql: string, db = url) => {
    const r = spawnSync(PSQL, ['-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`psql: ${r.stderr.trim()}`);
    return r.stdout;
  };
  await start();
  const created = spawnSync(PSQL, ['-X', '-q', '-d', url.replace(/\/loa$/, '/postgres'), '-c', 'CREATE DATABASE loa'], {
    encoding: 'utf8',
  });
  if (created.status !== 0) throw new Error(`CREATE DATABASE: ${created.stderr}`);
  return {
    url,
    port,
    dir,
    dataDir,
    start,
    running: alive,
    stop: () => signal('SIGINT', false),
    kill: () => signal('SIGKILL', true),
    close: () => signal('SIGINT', false),
    psql,
    log: () => stderr,
  };
}

// A test that fails half-way must not leave a postmaster behind (it would hold its port and
// directory, and keep this process's event loop alive through its stderr pipe).
const spawned = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of spawned)
    try {
      process.kill(-p.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
});

function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
