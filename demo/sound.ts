// What the demo will sound like on this machine, said before anything plays: a newcomer
// on a laptop without a sound card (a VM, a container, a server over SSH) otherwise waits
// for a chime that never comes and thinks the demo is broken. The decision is pure
// (soundPlan); probeSound() reads the machine.
import { existsSync, readFileSync } from 'node:fs';
import { mpg123Available } from '../agent/compose/hardware.js';

export interface SoundProbe {
  /** The text of /proc/asound/cards; undefined when the file is missing (no ALSA at all). */
  cards: string | undefined;
  /** /dev/snd exists (a container may list the host's cards without giving their devices). */
  devSnd: boolean;
  /** mpg123 --version ran. */
  mpg123: boolean;
}

export interface SoundPlan {
  /** The agent's audio.output: the card, or decoded in real time and discarded. */
  output: 'alsa' | 'paced';
  /** Whether anything will come out of a speaker. */
  audible: boolean;
  /** One line for the tour: what you will hear. */
  summary: string;
  /** The block printed at start. */
  text: string;
}

const TIMELINE = [
  '  the morning bulletin about 12 s after start, the typhoon warning at about 32 s, then a bulletin',
  '  every 2 minutes, and each emergency you send from the tour.',
];
const NOT_HEARD = [
  '  Never heard, on any machine: the FM relay (about 22 s to 52 s after start): the simulated board',
  '  has no tuner, so those 30 s are silence while the log says it plays; and the amplifier and input',
  '  relays, which are log lines ("amplifier ON", "input -> fm").',
];

export function soundPlan(p: SoundProbe): SoundPlan {
  const listed = p.cards !== undefined && p.cards.trim() !== '' && !/no soundcards/i.test(p.cards);
  const card = listed && p.devSnd;
  const output = card ? 'alsa' : 'paced';
  let why: string[] | undefined;
  if (!p.mpg123)
    why = [
      '  mpg123 is not installed (sudo apt-get install mpg123): the agent uses its silent stand-in',
      '  player, which only times each item.',
    ];
  else if (!card)
    why = [
      `  ${!listed ? `This machine has no sound card (${p.cards === undefined ? 'no /proc/asound/cards' : '/proc/asound/cards lists none'})` : '/proc/asound/cards lists a card but /dev/snd is missing (a container?)'}:`,
      '  mpg123 decodes each item in real time and discards it (audio.output "paced").',
    ];
  if (why === undefined)
    return {
      output,
      audible: true,
      summary: 'sound: the chime on this machine’s sound card (ALSA "default")',
      text: [
        '',
        '── What you will hear ──',
        '',
        `  The chime (3 s) on this machine's sound card, ALSA device "default":`,
        ...TIMELINE,
        ...NOT_HEARD,
        '',
      ].join('\n'),
    };
  return {
    output,
    audible: false,
    summary: `sound: none here (${p.mpg123 ? 'no sound card' : 'no mpg123'}); the log and the events say what would play`,
    text: [
      '',
      '── You will hear nothing ──',
      '',
      ...why,
      `  The log and the centre's events say what would have played and when (play.started, play.finished):`,
      ...TIMELINE,
      ...NOT_HEARD,
      '',
    ].join('\n'),
  };
}

export function probeSound(mpg123Path = 'mpg123'): SoundProbe {
  const cards = existsSync('/proc/asound/cards') ? readFileSync('/proc/asound/cards', 'utf8') : undefined;
  return { cards, devSnd: existsSync('/dev/snd'), mpg123: mpg123Available(mpg123Path) };
}
