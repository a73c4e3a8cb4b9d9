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

const ON_CALL = '+14155550101';

/**
 * A Down for sw-1, its SMS, the daemon killed and started again, the Up, `afterUp` awaited, the
 * daemon stopped: what the on-call phone received.
 */
async function textsAcrossKill(correlation: string, afterUp: (tw: FakeTwilio) => Promise<void>): Promise<string[]> {
  const tw = await new FakeTwilio().listen();
  fakes.push(tw);
  const config = correlatingConfig(correlation, {
    id: 'sms/oncall',
    yaml: `
  sms/oncall:
    provider: twilio
    url: ${tw.url}
    account_sid: ${tw.accountSid}
    auth_token: \${env:TWILIO_AUTH_TOKEN}
    from: "+14155550100"
    to: ["${ON_CALL}"]`,
  });
  const second = await downKillUp(
    config,
    'sw-1',
    {
      exporter: 'sms/oncall',
      afterDown: () => waitFor(() => tw.messages.length === 1, 'the first SMS'),
      afterUp: () => afterUp(tw),
    },
    running,
    { env: { TWILIO_AUTH_TOKEN: 'auth-token-1' } },
  );
  expect(await second.stop()).toBe(0);
  return tw.to(ON_CALL);
}

describe('vigil run with an sms exporter', () => {
  it('texts the on-call phone once for the Down and once for the Up across a killed daemon', async () => {
    const texts = await textsAcrossKill(DOWN_UP_CORRELATION, (tw) =>
      waitFor(() => tw.messages.length >= 2, 'the second SMS'),
    );
    expect(texts).toEqual([
      'opened: [critical] sw-1 unreachable on sw-1',
      'resolved: [critical] sw-1 unreachable on sw-1',
    ]);
  });

  it('does not text the Down again when correlation hands it over again after the kill', async () => {
    // No tick between the hand-over and the kill: correlation has not recorded that the exporter
    // took the Down, so the restarted daemon hands it over again.
    const correlation = DOWN_UP_CORRELATION.replace('tick_interval: 50ms', 'tick_interval: 1h');
    const texts = await textsAcrossKill(correlation, (tw) =>
      waitFor(() => tw.messages.some((m) => m.body.startsWith('resolved:')), 'the SMS of the Up'),
    );
    expect(texts).toEqual([
      'opened: [critical] sw-1 unreachable on sw-1',
      'resolved: [critical] sw-1 unreachable on sw-1',
    ]);
  });
});
