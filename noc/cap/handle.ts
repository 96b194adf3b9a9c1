// One CAP message in `noc cap`, from validation to the last publish: the XML signature
// (with --cap-cert), the state's "already handled", the mapping's decisions, the audio of
// each play (fetched, embedded or synthesised), the signed commands on each group's cmd
// topic (or printed with --dry-run), and what the state file records. Ctx is what the
// command line (command.ts) gives it.
import type { X509Certificate } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { errorMessage, Failure } from '../../cli-kit/index.js';
import { groupTopic, publishTo } from '../../contract/index.js';
import { signForBoxes, type SigningKey } from '../docs.js';
import type { Io } from '../io.js';
import { connect, type BrokerConfig } from '../mqtt.js';
import { capKey } from './alert.js';
import { buildCommand, commandProblems, type MediaEntry } from './documents.js';
import { saveState, type CapState } from './feed.js';
import type { FetchPolicy } from './fetch.js';
import { mapAlert, type PlayAction } from './map.js';
import type { Mapping } from './mapping.js';
import { mediaId, resourceMedia, storeMedia, type MediaStore } from './media.js';
import { synthesise, type TtsOptions } from './tts.js';
import { validateCap } from './validate.js';
import { verifyCapSignature } from './xmldsig.js';

export interface Ctx {
  io: Io;
  say: (line: string) => void;
  mapping: Mapping;
  minRepeatS: number;
  key?: SigningKey;
  dryRun: boolean;
  state: CapState;
  statePath?: string;
  store: MediaStore;
  tts: TtsOptions;
  certs: X509Certificate[];
  fetch: FetchPolicy;
  pollS: number;
  /** --resend: this CAP identifier is sent again although the state says it was handled. */
  resend?: string;
  root: string;
  cfg?: BrokerConfig;
  client?: MqttClient;
  failed: boolean;
}

async function audioFor(a: PlayAction, c: Ctx): Promise<MediaEntry> {
  if ('resource' in a.audio) return resourceMedia(a.audio.resource, c.store, (l) => c.say(`${a.id}: ${l}`), c.fetch);
  const { lang, text, sent } = a.audio.tts;
  const s = await synthesise(text, lang, sent, c.tts);
  const url = storeMedia(s.mp3, s.sha256, 'audio/mpeg', c.store, `${a.id}: synthesised speech`);
  const rtf = s.durationMs ? ` (real-time factor ${(s.synthMs / s.durationMs).toFixed(3)})` : '';
  c.say(
    `${a.id}: synthesised ${s.durationMs ?? '?'} ms of speech in ${Math.round(s.synthMs)} ms${rtf}, MP3 ${s.mp3.length} bytes: "${s.spoken.slice(0, 60)}${s.spoken.length > 60 ? '…' : ''}"`,
  );
  return {
    id: mediaId(s.sha256),
    url,
    sha256: s.sha256,
    bytes: s.mp3.length,
    ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}),
  };
}

async function publish(c: Ctx, topic: string, jws: string): Promise<void> {
  // A poller keeps its connection between polls; one the broker dropped is opened again.
  if (c.client && !c.client.connected) {
    c.client.end(true);
    delete c.client;
  }
  c.client ??= await connect(c.cfg!);
  try {
    await publishTo(c.client, 'cmd', topic, jws);
  } catch (err) {
    throw new Failure(`publish to ${topic} refused: ${errorMessage(err)}`);
  }
}

/**
 * One CAP message, from validation to the last publish. 'retry' when something it asked
 * for was not sent (audio unreachable or not matching its digest, broker refused): it is
 * not recorded as handled, so the next run or poll tries it again; what did go out goes
 * out again under the same command ids, which boxes run once.
 */
export async function handleMessage(xml: string, source: string, c: Ctx): Promise<'done' | 'retry' | 'invalid'> {
  const v = validateCap(xml);
  if (!v.ok) {
    c.failed = true;
    c.say(
      `${source}: invalid CAP 1.2 message, nothing sent (${v.problems.length} problem${v.problems.length === 1 ? '' : 's'}):`,
    );
    for (const p of v.problems) c.say(`  ${p}`);
    return 'invalid';
  }
  const alert = v.alert;
  if (c.certs.length) {
    const sig = verifyCapSignature(xml, c.certs);
    if (!sig.ok) {
      c.failed = true;
      c.say(`${source}: cap ${alert.sender} ${alert.identifier}: XML signature refused, nothing sent: ${sig.reason}`);
      return 'invalid';
    }
    c.say(`cap ${alert.sender} ${alert.identifier}: XML signature verified (${sig.algorithm}, ${sig.subject})`);
  } else if (/<([\w.-]+:)?Signature[\s>]/.test(xml))
    c.say(`cap ${alert.sender} ${alert.identifier}: carries an XML signature, not checked (no --cap-cert)`);
  const key = capKey(alert);
  if (c.state.seen[key] && c.resend === alert.identifier) {
    c.say(
      `cap ${alert.sender} ${alert.identifier}: handled at ${c.state.seen[key]}, sent again (--resend): the same command ids, so a box that ran it already does not run it twice`,
    );
  } else if (c.state.seen[key]) {
    c.say(`cap ${alert.sender} ${alert.identifier}: already handled at ${c.state.seen[key]} (${source}); skipped`);
    return 'done';
  }
  const now = Date.now();
  const { actions, lines, unmatched } = mapAlert(alert, c.mapping, now, (id) => c.state.alerts[id], {
    signed: c.certs.length > 0,
  });
  for (const l of lines) c.say(l);
  const sentTo = new Set<string>();
  const commands: string[] = [];
  // An alert that should sound and reaches no one is a failure, not a decision.
  let incomplete = unmatched.length > 0;
  if (incomplete) {
    c.failed = true;
    for (const l of unmatched) c.io.err(`noc cap: ${l}`);
  }
  for (const a of actions) {
    try {
      const doc = buildCommand(a, now, a.kind === 'play' ? await audioFor(a, c) : undefined);
      const bad = commandProblems(doc, now, c.minRepeatS);
      if (bad.length) throw new Failure(`command ${a.id} would be refused by boxes: ${bad.join('; ')}`);
      const jws = c.key ? signForBoxes(doc, 'command', c.key) : undefined;
      for (const g of a.groups) {
        const topic = groupTopic(c.root, g, 'cmd');
        if (c.dryRun) c.say(`would publish ${topic} ${JSON.stringify(doc)}`);
        else {
          await publish(c, topic, jws!);
          c.say(`published ${a.kind} ${a.id} -> ${topic} (QoS 1, acknowledged by the broker)`);
        }
        if (a.kind === 'play') sentTo.add(g); // where it plays: what a later Update or Cancel must reach
      }
      commands.push(a.id);
    } catch (err) {
      c.failed = true;
      incomplete = true;
      c.say(`${a.id}: not sent: ${errorMessage(err)}`);
    }
  }
  if (incomplete)
    c.say(
      `cap ${alert.sender} ${alert.identifier}: not recorded as handled; the next run or poll tries it again${unmatched.length ? ' (fix the mapping first: an area reached no group)' : ''}`,
    );
  if (c.dryRun) return incomplete ? 'retry' : 'done';
  if (!incomplete) c.state.seen[key] = new Date().toISOString();
  if (sentTo.size)
    c.state.alerts[alert.identifier] = {
      groups: [...new Set([...(c.state.alerts[alert.identifier]?.groups ?? []), ...sentTo])].sort(),
      commands,
      at: new Date().toISOString(),
    };
  saveState(c.statePath, c.state);
  return incomplete ? 'retry' : 'done';
}
