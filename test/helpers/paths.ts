// The checkout's root, for helpers that start its programs or read its files. A leaf
// module: built.ts and agent-process.ts both need it, and agent-process.ts imports built.ts.
import { fileURLToPath } from 'node:url';

// Under `npm test` the tests run compiled, from a tree of links under the temp dir
// (test/helpers/test-tree.mjs): LOA_REPO_ROOT names the checkout, so what they start, read
// or write is the checkout's. With a trailing slash, as computed here.
export const REPO_ROOT = process.env.LOA_REPO_ROOT
  ? process.env.LOA_REPO_ROOT.replace(/\/?$/, '/')
  : fileURLToPath(new URL('../../', import.meta.url));
