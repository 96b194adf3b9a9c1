// Preloaded into the agent by `npm run bench -- planning` (NODE_OPTIONS=--require this):
// the event-loop delay seen from outside the agent's code, with perf_hooks'
// histogram (resolution 5 ms). Every second one line on stderr:
//   LOOPDELAY {"origin":<performance.timeOrigin>,"t":<ms since process start>,"winMaxMs":..,"winP99Ms":..,"maxMs":..,"p99Ms":..,"stalls":[[t,ms],..]}
// win* cover the last second, maxMs/p99Ms everything since the preload ran, and
// `stalls` lists the 50 ms sub-windows whose worst delay was >= 10 ms, each with the
// time it was read (a stall ends just before it), so the bench can tell module loading
// (the first stall) from planning. A last line is printed at exit. CommonJS: --require.
'use strict';
const { monitorEventLoopDelay, performance } = require('node:perf_hooks');

const ms = (ns) => Math.round((ns / 1e6) * 10) / 10;
const total = monitorEventLoopDelay({ resolution: 5 });
const second = monitorEventLoopDelay({ resolution: 5 });
const slice = monitorEventLoopDelay({ resolution: 5 });
total.enable();
second.enable();
slice.enable();
let stalls = [];

const sub = setInterval(() => {
  const m = slice.max;
  if (m >= 10e6) stalls.push([Math.round(performance.now()), ms(m)]);
  slice.reset();
}, 50);
sub.unref();

function line() {
  const rec = {
    origin: performance.timeOrigin,
    t: Math.round(performance.now()),
    winMaxMs: ms(second.max),
    winP99Ms: ms(second.percentile(99)),
    maxMs: ms(total.max),
    p99Ms: ms(total.percentile(99)),
    stalls,
  };
  stalls = [];
  second.reset();
  try {
    require('node:fs').writeSync(2, `LOOPDELAY ${JSON.stringify(rec)}\n`);
  } catch {
    // stderr gone: nothing to report to
  }
}

const every = setInterval(line, 1000);
every.unref();
process.on('exit', line);
