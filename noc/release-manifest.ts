// The signed release manifest (docs/ota.md, "The centre"): what `noc release` signs and
// `noc rollout` reads. A JWS like every signed document (contract §2), typ
// `loa-release+json`, signed by a key with the role `release`, payload:
//   {type:"release", id, issuedAt, version,
//    artifacts: {<arch>: {url, sha256, bytes, tarSha256, installedBytes,
//                         delta?: {from, url, sha256, bytes}}}}
// Boxes never see the manifest: rollout turns it into one `update` command per box (the
// args for that box's arch, with the delta when the box runs `delta.from`).
import { z } from 'zod';
import { ID_RE } from '../contract/index.js';
import { KeyRing, verifyJws, type TrustedKey } from '../contract/verify.js';
import { Failure } from '../cli-kit/index.js';

export const RELEASE_TYP = 'loa-release+json';
export const ARCHES = ['amd64', 'arm64', 'armhf'] as const;
export type Arch = (typeof ARCHES)[number];
/** A version names a directory on the box (releases/<version>) and the artifacts' files. */
// The box's own rule (the `update` command's args.version): a manifest never names a version a box refuses.
export { VERSION_RE } from '../contract/command-doc.js';
import { VERSION_RE } from '../contract/command-doc.js';
const MAX_MANIFEST_BYTES = 64 * 1024;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const version = z
  .string()
  .regex(VERSION_RE, `must match ${VERSION_RE.source}`)
  .refine((v) => !v.includes('..'), 'must not contain ".."');
const url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
const bytes = z.number().int().positive();

export const manifestSchema = z.strictObject({
  type: z.literal('release'),
  id: z.string().regex(ID_RE),
  issuedAt: z.iso.datetime({ offset: true }),
  version,
  artifacts: z
    .partialRecord(
      z.enum(ARCHES),
      z.strictObject({
        url,
        sha256: hex64,
        bytes,
        tarSha256: hex64,
        installedBytes: bytes,
        delta: z.strictObject({ from: version, url, sha256: hex64, bytes }).optional(),
      }),
    )
    .refine((a) => Object.keys(a).length > 0, 'must name at least one arch'),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type Artifact = NonNullable<Manifest['artifacts'][Arch]>;

export function manifestId(v: string): string {
  return `release-${v.toLowerCase().replace(/[^a-z0-9._-]/g, '-')}`.slice(0, 64);
}

/**
 * Verifies a manifest with the agent's own JWS checks against trusted keys: the key must
 * have the role `release`. Throws a Failure saying what is wrong.
 */
export function verifyManifest(
  jws: string,
  trusted: readonly TrustedKey[],
  where: string,
): { manifest: Manifest; kid: string } {
  const j = verifyJws(jws, new KeyRing(trusted), RELEASE_TYP, MAX_MANIFEST_BYTES);
  if (!j.ok) throw new Failure(`${where}: ${j.reason}: ${j.message}`);
  const m = manifestSchema.safeParse(j.raw);
  if (!m.success)
    throw new Failure(
      `${where}: not a release manifest: ${m.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`)
        .join('; ')}`,
    );
  return { manifest: m.data, kid: j.kid };
}

/** The `update` command's args (docs/ota.md) for a box of `arch` running `running`. */
export function updateArgs(
  m: Manifest,
  arch: Arch,
  running: string | null,
  o: { waitS: number; trialS: number },
): Record<string, unknown> | undefined {
  const a = m.artifacts[arch];
  if (!a) return undefined;
  const { delta, ...full } = a;
  return {
    version: m.version,
    arch,
    ...full,
    waitS: o.waitS,
    trialS: o.trialS,
    ...(delta && running === delta.from ? { delta } : {}),
  };
}
