import { afterEach, describe, expect, it } from 'vitest';
import { correlatingConfig, DOWN_UP_CORRELATION, downKillUp, type RunningDaemon } from '../../support/daemon.ts';
import { startMailpit, type Mailpit } from '../../support/mailpit.ts';
import { waitFor } from '../../support/waitFor.ts';

const running: RunningDaemon[] = [];
const servers: Mailpit[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop('SIGKILL');
  for (const s of servers.splice(0)) await s.stop();
});

describe('vigil run with an email exporter', () => {
  it('mails a Down, and after a killed daemon mails the Up once, in the same thread', async () => {
    const mp = await startMailpit();
    servers.push(mp);
    const config = correlatingConfig(DOWN_UP_CORRELATION, {
      id: 'email/noc',
      yaml: `
  email/noc:
    host: 127.0.0.1
    port: ${mp.smtpPort}
    tls: none
    from: Vigil <vigil@noc.example.com>
    to: [noc@example.com]`,
    });
    const mails = async () => (await mp.messages()).length;
    const second = await downKillUp(
      config,
      'sw-1',
      {
        exporter: 'email/noc',
        afterDown: () => waitFor(async () => (await mails()) === 1, 'the first mail'),
        afterUp: () => waitFor(async () => (await mails()) >= 2, 'the resolve mail'),
      },
      running,
    );
    expect(await second.stop()).toBe(0);
    const received = await mp.messages();
    expect(received.map((m) => m.Subject)).toEqual([
      '[critical] sw-1 unreachable (opened)',
      '[critical] sw-1 unreachable (resolved)',
    ]);
    expect((await mp.headers(received[1]!.ID))['In-Reply-To']).toEqual([`<${received[0]!.MessageID}>`]);
  });
});
