// `noc publish`: put a signed schedule (retained) or command (not retained) on the
// topic the contract's table gives it, and wait for the broker's PUBACK.
import { readFileSync } from 'node:fs';
import type { Binding } from '../contract/verify.js';
import { errorMessage, Failure, parseArgs, positionals, UsageError } from '../cli-kit/index.js';
import { checkId } from './topics.js';
import { envelopeProblems, loadSigningKey, peekJws, problems, type DocKind } from './docs.js';
import type { Io } from './io.js';
import { BROKER_HELP, BROKER_SPEC, brokerConfig, closeClient, connect } from './mqtt.js';
import { TTL_SPEC, prepareDoc, signPrepared } from './sign.js';
import { PUBLISH_OPTS, deviceTopic, groupTopic, publishTo } from '../contract/index.js';

const SPEC = {
  ...BROKER_SPEC,
  device: { kind: 'string' },
  group: { kind: 'string' },
  key: { kind: 'string' },
  kid: { kind: 'string' },
  ...TTL_SPEC,
  clear: { kind: 'boolean' },
} as const;

export const PUBLISH_HELP = `noc publish <file.json|file.jws> --broker URL (--device ID | --group G) [--key k.pem]
noc publish --clear --broker URL (--device ID | --group G)

Publish a signed document where the contract puts it: a schedule retained with QoS 1 on
{root}/d/ID/schedule or {root}/g/G/schedule, a command with QoS 1, not retained, on
.../cmd. Waits for the broker's acknowledgement (PUBACK).

  FILE          a JWS (from noc sign), or a .json document signed on the fly with --key
  --device ID   one box             --group G   every box of group G
  --key FILE    sign a .json first (same checks as noc sign); --kid, --ttl, --ttl-days as
                there. A signed .jws is checked the same way before it is published.
  --clear       publish a zero-length retained message on the schedule topic. This only
                removes the broker's retained copy (boxes that connect later get no
                schedule from it); boxes ignore it and keep what they accepted: to stop
                a schedule, publish a signed one with "items": [] and a higher version.

The document's target must list the device or group it is published to: since contract
v1.1 a box refuses a document received on a topic its target does not name (a group
document re-published on a device topic included). Publishing refuses it here first.

${BROKER_HELP}`;

export type Target = { device: string; group?: undefined } | { group: string; device?: undefined };

export function targetOf(device: string | undefined, group: string | undefined, cmd: string): Target {
  if ((device === undefined) === (group === undefined))
    throw new UsageError(`give exactly one of --device ID or --group G (see noc ${cmd} --help)`);
  return device !== undefined ? { device: checkId(device, '--device') } : { group: checkId(group!, '--group') };
}

export function bindingOf(to: Target): Binding {
  return to.device !== undefined ? { kind: 'device', name: to.device } : { kind: 'group', name: to.group };
}

export function topicFor(root: string, to: Target, leaf: 'schedule' | 'cmd'): string {
  return to.device !== undefined ? deviceTopic(root, to.device, leaf) : groupTopic(root, to.group, leaf);
}

/** The JWS to publish: read as is, or validated and signed when it is JSON. */
async function loadPayload(
  file: string,
  opts: { key?: string; kid?: string; ttl?: number; 'ttl-days'?: number },
  to: Target,
  io: Io,
): Promise<{ jws: string; kind: DocKind; payload: Record<string, unknown> }> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Failure(`${file}: ${errorMessage(err)}`);
  }
  if (text.startsWith('{')) {
    if (!opts.key)
      throw new UsageError(
        `${file} is an unsigned JSON document: add --key <kid.key.pem> to sign it, or publish the output of noc sign`,
      );
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new Failure(`${file}: not valid JSON (${errorMessage(err)})`);
    }
    const key = loadSigningKey(opts.key, opts.kid);
    const p = prepareDoc(raw, file, io, {
      now: Date.now(),
      ttlS: opts.ttl,
      ttlDays: opts['ttl-days'],
      binding: bindingOf(to),
    });
    return { jws: await signPrepared(p, key), kind: p.kind, payload: p.doc };
  }
  if (opts.key) io.err(`warning: ${file} is already signed; --key ignored`);
  const { kind, payload } = peekJws(text, file);
  // What the boxes would refuse in an already-signed document: say so before the fleet does.
  let bad = problems(kind, payload);
  if (!bad.length) {
    const env = envelopeProblems(kind, payload, Date.now(), bindingOf(to));
    bad = env.problems;
    for (const w of env.warnings) io.err(`warning: ${file}: ${w}`);
  }
  if (bad.length) {
    for (const p of bad) io.err(`${file}: ${p}`);
    throw new Failure(
      `${file}: boxes would refuse this signed ${kind} (${bad.length} problem${bad.length > 1 ? 's' : ''} above); nothing published (fix the JSON and sign it again)`,
    );
  }
  return { jws: text, kind, payload };
}

export async function publishCommand(argv: string[], io: Io): Promise<number> {
  const { opts, positional, help } = parseArgs(argv, SPEC, 'noc publish');
  if (help) return (io.out(PUBLISH_HELP), 0);
  const cfg = brokerConfig(opts, process.env, io.err);
  const to = targetOf(opts.device, opts.group, 'publish');
  let topic: string;
  let body: string;
  let kind: 'schedule' | 'cmd';
  let what: string;
  if (opts.clear) {
    positionals(positional, [], 'noc publish');
    topic = topicFor(cfg.root, to, 'schedule');
    body = ''; // zero-length: the broker drops its retained copy
    kind = 'schedule';
    what = 'cleared the retained schedule (boxes keep what they accepted)';
  } else {
    const [file] = positionals(positional, ['<file.json|file.jws>'], 'noc publish');
    const doc = await loadPayload(file!, opts, to, io);
    kind = doc.kind === 'schedule' ? 'schedule' : 'cmd';
    topic = topicFor(cfg.root, to, kind);
    body = doc.jws;
    const version =
      doc.kind === 'schedule' ? ` version ${String(doc.payload.version)}` : ` ${String(doc.payload.action)}`;
    what = `${doc.kind} ${String(doc.payload.id)}${version}`;
  }
  const client = await connect(cfg);
  try {
    await publishTo(client, kind, topic, body);
  } catch (err) {
    throw new Failure(`publish to ${topic} refused: ${errorMessage(err)}`);
  } finally {
    await closeClient(client);
  }
  io.out(`${what} -> ${topic} (QoS 1${PUBLISH_OPTS[kind].retain ? ', retained' : ''}, acknowledged by the broker)`);
  return 0;
}
