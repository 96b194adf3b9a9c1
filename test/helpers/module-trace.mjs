// Preloaded (NODE_OPTIONS=--import <this file>) into an agent process by
// test/integration/lazy-modules.test.ts: registers a module hook that appends the URL of
// every module the process loads, one a line, to the file named by LOA_MODULE_TRACE.
// Plain JavaScript: module hooks run on their own thread, before tsx is in place.
import { register } from 'node:module';

if (process.env.LOA_MODULE_TRACE)
  register('./module-trace-hooks.mjs', import.meta.url, { data: { file: process.env.LOA_MODULE_TRACE } });
