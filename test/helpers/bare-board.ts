// The reference board (firmware-bridge/board-model.ts) alone, on manual timers: commands
// in as frames, every frame it sends parsed and kept. For the board-side rows of the
// PROTOCOL.md checklist (test/unit/firmware-protocol-1-1.test.ts, -1-2.test.ts).
import { BoardModel, type BoardModelDeps } from '../../firmware-bridge/board-model.js';
import { encodeFrame, type Frame } from '../../firmware-bridge/frame.js';
import { FrameParser } from '../../firmware-bridge/parser.js';
import { EVENT_TYPES } from '../../firmware-bridge/messages.js';
import { ManualTimers } from '../fakes/manual-clock.js';

export function bareBoard(deps: Partial<BoardModelDeps> = {}) {
  const timers = new ManualTimers();
  const frames: Frame[] = [];
  const parser = new FrameParser();
  parser.on('data', (f: Frame) => frames.push(f));
  const model = new BoardModel({ timers, ...deps, send: (b) => parser.write(b) });
  let seq = 0;
  const send = (type: number, payload: Buffer = Buffer.alloc(0), version = 1) =>
    model.receive(encodeFrame({ seq: ++seq, type, payload, version }));
  return { timers, frames, model, send, boots: () => frames.filter((f) => f.type === EVENT_TYPES.boot).length };
}
