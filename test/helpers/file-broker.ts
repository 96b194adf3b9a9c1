// One Mosquitto per test file, started before its tests and closed after them (kept out
// of box.ts, which the bench imports too: this one registers node:test hooks).
import { before, after } from 'node:test';
import { startBroker, type TestBroker } from './broker.js';

/** One Mosquitto for the whole test file (started before its tests, closed after): call at top level. */
export function brokerForFile(): { readonly broker: TestBroker } {
  const holder: { broker?: TestBroker } = {};
  before(async () => {
    holder.broker = await startBroker();
  });
  after(async () => {
    await holder.broker?.close();
  });
  return {
    get broker(): TestBroker {
      if (!holder.broker) throw new Error('the broker starts in before()');
      return holder.broker;
    },
  };
}
