// The checkout's root, for helpers that start its programs or read its files. A leaf
// module: built.ts and agent-process.ts both need it, and agent-process.ts imports built.ts.
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
