/**
 * A process appending to an outbox, for crash tests: opens the outbox in the directory given
 * in argv (fsync on, delivery not started), starts `count` appends at once, then keeps going in
 * waves, and prints `acked <n>` as each append resolves, until killed.
 */
import { Outbox } from '../../../src/exporters/tickets/outbox.ts';

const [dir, count] = process.argv.slice(2) as [string, string];
const box = new Outbox<{ n: number }>({
  dir,
  fsync: true,
  maxAttempts: 1,
  backoff: { initialMs: 1000, maxMs: 1000 },
  concurrency: 1,
  deliver: async () => {},
});
await box.open();
for (let wave = 0; ; wave++) {
  const appends: Promise<void>[] = [];
  for (let i = 0; i < Number(count); i++) {
    const n = wave * Number(count) + i;
    appends.push(
      box.append([{ key: `k${n % 7}`, payload: { n } }]).then(() => void process.stdout.write(`acked ${n}\n`)),
    );
  }
  await Promise.all(appends);
}
