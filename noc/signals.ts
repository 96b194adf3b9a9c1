// Long-running subcommands (watch, events, simulate) stop on SIGINT or SIGTERM (Ctrl-C,
// systemd) and clean up; `--duration` stops them after a time, for scripts and tests.
// Armed at the start of the command, so a signal that comes while it is still
// connecting is not lost (it would otherwise kill the process mid-write).
export interface StopSignal {
  readonly done: Promise<NodeJS.Signals | 'duration'>;
  /** Removes the handlers (the command ended another way). */
  dispose(): void;
}

export function stopSignal(durationS?: number): StopSignal {
  let dispose = () => {};
  const done = new Promise<NodeJS.Signals | 'duration'>((resolve) => {
    const finish = (why: NodeJS.Signals | 'duration') => {
      dispose();
      resolve(why);
    };
    const onInt = () => finish('SIGINT');
    const onTerm = () => finish('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
    const timer = durationS !== undefined ? setTimeout(() => finish('duration'), durationS * 1000) : undefined;
    dispose = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      clearTimeout(timer);
    };
  });
  return { done, dispose };
}
