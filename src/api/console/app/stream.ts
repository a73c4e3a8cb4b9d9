import { authHeaders, type Incident } from './api.ts';

export type StreamState = 'connecting' | 'live' | 'reconnecting';

export interface StreamHandlers {
  /** The subscription holds: read the list now and miss nothing. */
  ready(): void;
  incident(i: Incident): void;
  state(s: StreamState): void;
}

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
/** A silent stream this long is dead (the server sends a heartbeat every 15 s). */
const STALL_MS = 45_000;

/**
 * Reads `GET /api/v1/incidents/stream` with fetch and a stream reader (an EventSource cannot
 * send the Authorization header), and reconnects with exponential back-off and jitter when it
 * ends or stalls. Returns the function that stops it.
 */
export function followIncidents(h: StreamHandlers): () => void {
  let stopped = false;
  let controller: AbortController | undefined;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const run = async () => {
    controller = new AbortController();
    let stall: ReturnType<typeof setTimeout> | undefined;
    const watchdog = () => {
      clearTimeout(stall);
      stall = setTimeout(() => controller?.abort(), STALL_MS);
    };
    try {
      watchdog();
      const res = await fetch('/api/v1/incidents/stream', {
        headers: { ...authHeaders(), accept: 'text/event-stream' },
        signal: controller.signal,
        cache: 'no-store',
      });
      if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        watchdog();
        buf += value;
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (event === 'ready') {
            failures = 0;
            h.state('live');
            h.ready();
          } else if (event === 'incident') h.incident(JSON.parse(data) as Incident);
        }
      }
    } catch {
      /* reconnected below */
    } finally {
      clearTimeout(stall);
    }
    if (stopped) return;
    failures++;
    h.state('reconnecting');
    const delay = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** Math.min(failures, 10));
    timer = setTimeout(() => void run(), delay / 2 + Math.random() * (delay / 2));
  };
  h.state('connecting');
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
    controller?.abort();
  };
}
