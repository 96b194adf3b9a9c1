// cli-kit/: the kit noc and loa-provision share, in one import: the argv parser, the exit codes
// and errors, the bounded wait, the entry runner, and the MQTT version-refusal rule.
export * from './args.js';
export * from './entry.js';
export * from './errors.js';
export * from './mqtt.js';
export * from './timeout.js';
