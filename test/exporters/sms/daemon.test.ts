import { afterEach, describe, expect, it } from 'vitest';
import { correlatingConfig, DOWN_UP_CORRELATION, downKillUp, type RunningDaemon } from '../../support/daemon.ts';
import { FakeTwilio } from '../../support/fakes/twilio.ts';
import { waitFor } from '../../support/waitFor.ts';

const running: RunningDaemon[] = [];
const fakes: FakeTwilio[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) await d.stop('SIGKILL');
  for (const f of fakes.splice(0)) await f.close();
});

describe('vigil run with an sms exporter', () => {
  it('texts the on-call phone once for the Down and once for the Up across a killed daemon', async () => {
    const tw = await new FakeTwilio().listen();
    fakes.push(tw);
    const config = correlatingConfig(DOWN_UP_CORRELATION, {
      id: 'sms/oncall',
      yaml: `
  sms/oncall:
    provider: twilio
    url: ${tw.url}
    account_sid: ${tw.accountSid}
    auth_token: \${env:TWILIO_AUTH_TOKEN}
    from: "+14155550100"
    to: ["+14155550101"]`,
    });
    const second = await downKillUp(
      config,
      'sw-1',
      {
        exporter: 'sms/oncall',
        afterDown: () => waitFor(() => tw.messages.length === 1, 'the first SMS'),
        afterUp: () => waitFor(() => tw.messages.length >= 2, 'the second SMS'),
      },
      running,
      { env: { TWILIO_AUTH_TOKEN: 'auth-token-1' } },
    );
    expect(await second.stop()).toBe(0);
    expect(tw.to('+14155550101')).toEqual([
      'opened: [critical] sw-1 unreachable on sw-1',
      'resolved: [critical] sw-1 unreachable on sw-1',
    ]);
  });
});
