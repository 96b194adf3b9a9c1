// The native modules load and work on this machine's architecture (run by test/arm64/run.sh
// inside the arm64 root, with plain node: no tsx, as on a box). Exits non-zero on any failure.
//   node test/arm64/load-check.mjs [expected process.arch]
import { createRequire } from 'node:module';
import { mkdtempSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const expected = process.argv[2];
const dir = mkdtempSync(join(tmpdir(), 'loa-load-check-'));
const t0 = performance.now();
const ok = (what) => console.log(`load-check: ok ${what}`);

try {
  console.log(
    `load-check: node ${process.version} ${process.platform}-${process.arch} abi ${process.versions.modules}`,
  );
  if (expected) assert.equal(process.arch, expected, 'process.arch');

  // better-sqlite3: a file database in WAL mode, written, closed, reopened and read back.
  const Database = require('better-sqlite3');
  const file = join(dir, 'check.db');
  let db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
  const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 1000; i++) ins.run(`row ${i}`);
  })();
  db.close();
  db = new Database(file, { readonly: true });
  assert.equal(db.prepare('SELECT count(*) AS n FROM t').get().n, 1000);
  assert.equal(db.prepare('SELECT v FROM t WHERE id = 1000').get().v, 'row 999');
  const version = db.prepare('SELECT sqlite_version() AS v').get().v;
  db.close();
  ok(
    `better-sqlite3 ${require('better-sqlite3/package.json').version} (SQLite ${version}): 1000 rows written and read back from ${file}`,
  );

  // serialport: its binding is the shipped prebuild for this platform.
  const bindingsDir = dirname(require.resolve('@serialport/bindings-cpp/package.json'));
  const chosen = require('node-gyp-build').resolve(bindingsDir);
  assert.match(chosen, new RegExp(`prebuilds/linux-${process.arch}/`), 'serialport binding path');
  const { autoDetect } = require('@serialport/bindings-cpp');
  assert.equal(typeof autoDetect().open, 'function');
  const { SerialPort } = require('serialport');
  assert.equal(typeof SerialPort, 'function');
  ok(`serialport binding ${chosen.slice(bindingsDir.length + 1)}`);

  // epoll (onoff's): a FIFO made readable wakes the watcher.
  const { Epoll } = require('epoll');
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, 'r+');
  const woke = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('epoll: no event within 10 s')), 10_000);
    const poller = new Epoll((err, readyFd, events) => {
      clearTimeout(timer);
      poller.close();
      if (err) reject(err);
      else resolve({ readyFd, events });
    });
    poller.add(fd, Epoll.EPOLLIN);
    writeSync(fd, 'x');
  });
  closeSync(fd);
  assert.equal(woke.readyFd, fd);
  assert.ok(woke.events & Epoll.EPOLLIN);
  const { Gpio } = require('onoff');
  assert.equal(typeof Gpio.accessible, 'boolean');
  ok('epoll: EPOLLIN from a FIFO; onoff loads');
  console.log(`load-check: all native modules work (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
