import type { ParseResult } from './message.ts';
import { parseRfc3164, type LegacyTimeContext } from './rfc3164Parser.ts';
import { parseRfc5424 } from './rfc5424Parser.ts';
import { ZoneClock } from './timestamps.ts';

export type SyslogProtocol = 'auto' | 'rfc5424' | 'rfc3164';

/** True when the line is `<PRI>1 `: the RFC 5424 version field. */
function looksLike5424(line: string): boolean {
  const gt = line.indexOf('>', 1);
  return gt > 1 && gt < 5 && line.charCodeAt(gt + 1) === 49 /* 1 */ && line.charCodeAt(gt + 2) === 32;
}

/**
 * Parses lines by the configured protocol. `auto` sends `<PRI>1 ` lines to the RFC 5424
 * parser and the rest to the RFC 3164 one; a line that claims to be RFC 5424 but is broken is
 * reported as such rather than re-read as 3164, which would only hide the sender's bug.
 */
export class SyslogParser {
  readonly protocol: SyslogProtocol;
  private readonly ctx: LegacyTimeContext;
  private readonly now: () => number;

  constructor(protocol: SyslogProtocol, location: string, now: () => number = Date.now) {
    this.protocol = protocol;
    this.now = now;
    this.ctx = { clock: new ZoneClock(location), nowMs: 0 };
  }

  /** Reads the clock once for a batch of lines, since the year inference needs it per 3164 line. */
  beginBatch(): void {
    this.ctx.nowMs = this.now();
  }

  parse(line: string): ParseResult {
    switch (this.protocol) {
      case 'rfc5424':
        return parseRfc5424(line);
      case 'rfc3164':
        return parseRfc3164(line, this.ctx);
      default:
        return looksLike5424(line) ? parseRfc5424(line) : parseRfc3164(line, this.ctx);
    }
  }
}
