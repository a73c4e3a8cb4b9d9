import { randomBytes } from 'node:crypto';
import { FakeHttpServer, type RecordedRequest, type Reply } from './server.ts';

export interface TwilioMessage {
  sid: string;
  to: string;
  from: string | null;
  messaging_service_sid: string | null;
  body: string;
  status: 'queued';
}

/** Twilio's error body, with the documentation link every error carries. */
export const twilioError = (status: number, code: number, message: string): Reply => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
});

/**
 * Twilio's Messages API as its REST reference describes it: `POST
 * /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From` or
 * `MessagingServiceSid`, `Body`; HTTP Basic with the Account SID and Auth Token; 201 with the
 * message resource; errors as `{code, message, more_info, status}` (20003 authentication, 21211
 * invalid To, 21602 no Body, 21603 no From, 21610 unsubscribed recipient, 21617 Body over 1600
 * characters).
 */
export class FakeTwilio extends FakeHttpServer {
  readonly messages: TwilioMessage[] = [];
  /** Recipients who replied STOP: Twilio refuses to text them (21610). */
  readonly unsubscribed = new Set<string>();
  readonly accountSid: string;
  private readonly authToken: string;

  constructor(opts: { accountSid?: string; authToken?: string } = {}) {
    super((r) => this.answer(r));
    this.accountSid = opts.accountSid ?? `AC${'0123456789abcdef'.repeat(2)}`;
    this.authToken = opts.authToken ?? 'auth-token-1';
  }

  to(number: string): string[] {
    return this.messages.filter((m) => m.to === number).map((m) => m.body);
  }

  private answer(r: RecordedRequest): Reply {
    const m = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(r.path);
    if (r.headers.authorization !== `Basic ${Buffer.from(`${this.accountSid}:${this.authToken}`).toString('base64')}`)
      return twilioError(401, 20003, 'Authenticate');
    if (!m || m[1] !== this.accountSid)
      return twilioError(404, 20404, `The requested resource ${r.path} was not found`);
    if (r.method !== 'POST') return twilioError(405, 20004, 'Method not allowed');
    if (!(r.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      return twilioError(400, 21602, 'Message body is required.');
    const form = new URLSearchParams(r.body);
    const to = form.get('To') ?? '';
    const from = form.get('From');
    const service = form.get('MessagingServiceSid');
    const body = form.get('Body') ?? '';
    if (!/^\+[1-9]\d{6,14}$/.test(to)) return twilioError(400, 21211, `Invalid 'To' Phone Number: ${to}`);
    if (!from && !service) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (!body) return twilioError(400, 21602, 'Message body is required.');
    if ([...body].length > 1600)
      return twilioError(400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    if (this.unsubscribed.has(to)) return twilioError(400, 21610, 'Attempt to send to unsubscribed recipient');
    const msg: TwilioMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      to,
      from,
      messaging_service_sid: service,
      body,
      status: 'queued',
    };
    this.messages.push(msg);
    return {
      status: 201,
      body: {
        ...msg,
        account_sid: this.accountSid,
        direction: 'outbound-api',
        api_version: '2010-04-01',
        price: null,
        error_code: null,
        uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${msg.sid}.json`,
      },
    };
  }
}
