import type { Logger } from '../telemetry/logger.ts';

/**
 * Says so when the kernel gave a UDP socket less receive buffer than its listener's
 * `receive_buffer_size` asks. Linux caps what a socket asks at `net.core.rmem_max` (208 KiB on
 * most distributions: a few milliseconds of a burst) and reports twice what it grants, for its
 * own bookkeeping; what overflows the buffer is lost in the kernel, where Vigil cannot count it.
 */
export function warnIfReceiveBufferCapped(
  logger: Pick<Logger, 'warn'>,
  listener: string,
  asked: number,
  reported: number,
): void {
  if (reported >= 2 * asked) return;
  logger.warn(
    { listener, receive_buffer_size: asked, granted: Math.floor(reported / 2) },
    `${listener}: the kernel gave the socket a smaller receive buffer than receive_buffer_size asks; bursts beyond it are lost in the kernel (Udp RcvbufErrors in /proc/net/snmp). Raise net.core.rmem_max (sysctl) to at least receive_buffer_size`,
  );
}
