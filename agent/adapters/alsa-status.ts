// A playback stream's position as the kernel reports it: /proc/asound/cardC/pcmDp/subS/
// status (sound/core/pcm.c, snd_pcm_substream_proc_status_read), found by the pid that
// opened the substream (aplay's). That is how the live output measures a real card's
// delay and drift while aplay writes to it (aplay itself says neither).
//
//   state: RUNNING
//   owner_pid   : 4242
//   trigger_time: 8413.336021528
//   tstamp      : 8414.418153270
//   delay       : 9600
//   avail       : 0
//   avail_max   : 2400
//   -----
//   hw_ptr      : 52080
//   appl_ptr    : 61680
//
// …and hw_params beside it: `rate: 48000 (48000/1)`, `period_size: 2400`. Where the
// output is not a kernel PCM (a file plugin, PulseAudio, a dmix that another process
// opened first) no substream names aplay's pid, and the caller falls back to an estimate.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const PROC_ASOUND = '/proc/asound';

export interface PcmStatus {
  state: string;
  ownerPid: number;
  /** Frames the card has played, as far as the kernel knows (often to the last period). */
  hwPtr: number;
  /** Frames written to the card. */
  applPtr: number;
  /** Frames from the next one written to the output: the ring's fill plus the codec's own delay. */
  delay: number;
}

export interface PcmParams {
  rate: number;
  periodFrames: number;
}

function field(text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm').exec(text);
  return m?.[1]?.trim();
}

function int(text: string, name: string): number | undefined {
  const v = field(text, name);
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
}

/** A substream's status file, or undefined for "closed", an error line, or anything unparsable. */
export function parsePcmStatus(text: string): PcmStatus | undefined {
  const state = field(text, 'state');
  const ownerPid = int(text, 'owner_pid');
  const hwPtr = int(text, 'hw_ptr');
  const applPtr = int(text, 'appl_ptr');
  const delay = int(text, 'delay');
  if (state === undefined || ownerPid === undefined || hwPtr === undefined || applPtr === undefined) return undefined;
  return { state, ownerPid, hwPtr, applPtr, delay: delay ?? applPtr - hwPtr };
}

/** A substream's hw_params file (`rate: 48000 (48000/1)`, `period_size: 2400`), or undefined. */
export function parsePcmParams(text: string): PcmParams | undefined {
  const rate = /^rate:\s*(\d+)/m.exec(text)?.[1];
  const period = int(text, 'period_size');
  if (rate === undefined || period === undefined || Number(rate) <= 0) return undefined;
  return { rate: Number(rate), periodFrames: period };
}

/** The directory of the playback substream `pid` opened, under `root` (/proc/asound), or undefined. */
export function findPcmSubstream(pid: number, root = PROC_ASOUND): string | undefined {
  const list = (dir: string, re: RegExp): string[] => {
    try {
      return readdirSync(dir).filter((e) => re.test(e));
    } catch {
      return [];
    }
  };
  for (const card of list(root, /^card\d+$/)) {
    for (const pcm of list(join(root, card), /^pcm\d+p$/)) {
      for (const sub of list(join(root, card, pcm), /^sub\d+$/)) {
        const dir = join(root, card, pcm, sub);
        const status = readText(join(dir, 'status'));
        if (status !== undefined && parsePcmStatus(status)?.ownerPid === pid) return dir;
      }
    }
  }
  return undefined;
}

export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
