// Checking the topic-related flags of the centre's commands (--root, the --device,
// --group and --kid ids; --share, a subscription option, is in mqtt.ts). The topics
// themselves are built and parsed in one place for the box and the centre alike:
// contract/topics.ts, through contract/index.ts.
import { ID_RE } from '../contract/index.js';
import { UsageError } from '../cli-kit/index.js';

export function checkRoot(root: string): string {
  if (root === '' || /[#+]/.test(root) || root.startsWith('/') || root.endsWith('/') || root.startsWith('$')) {
    throw new UsageError(
      `--root "${root}" is not a topic prefix (no wildcards, no leading or trailing "/"), e.g. --root loa/v1`,
    );
  }
  return root;
}

export function checkId(value: string, flag: string): string {
  if (!ID_RE.test(value))
    throw new UsageError(`${flag} "${value}" is not a valid id (expected ${ID_RE.source}, e.g. vn-79-26734-01)`);
  return value;
}
