// cli-kit/: the kit noc and loa-provision share, in one import: the argv parser, the exit codes
// and errors, the bounded wait, and the entry runner.
export * from './args.js';
export * from './entry.js';
export * from './errors.js';
export * from './timeout.js';
