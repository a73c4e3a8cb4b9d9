import { alertmanagerRequest } from './alertmanager.ts';
import type { FuzzInput } from './inputs.ts';
import { jsonEventsRequest } from './jsonEvents.ts';
import { Mutator } from './mutator.ts';
import { otlpGrpcRequest } from './otlpGrpc.ts';
import { otlpHttpJsonRequest, otlpHttpProtobufRequest } from './otlpHttp.ts';
import { inputSeed, type Target } from './send.ts';
import { syslogDatagram, syslogStream } from './syslog.ts';

export type ListenerName =
  'syslog-udp' | 'syslog-tcp' | 'json-events' | 'alertmanager' | 'otlp-http-protobuf' | 'otlp-http-json' | 'otlp-grpc';

/** Which daemon port each listener's inputs go to. */
export type Port = 'syslogUdp' | 'syslogTcp' | 'json' | 'otlpHttp' | 'otlpGrpc';

export interface FuzzListener {
  name: ListenerName;
  port: Port;
  make: (m: Mutator) => FuzzInput;
}

export const LISTENERS: readonly FuzzListener[] = [
  { name: 'syslog-udp', port: 'syslogUdp', make: syslogDatagram },
  { name: 'syslog-tcp', port: 'syslogTcp', make: syslogStream },
  { name: 'json-events', port: 'json', make: jsonEventsRequest },
  // On the JSON receiver's listener: both are on 127.0.0.1:0, so they share one.
  { name: 'alertmanager', port: 'json', make: alertmanagerRequest },
  { name: 'otlp-http-protobuf', port: 'otlpHttp', make: otlpHttpProtobufRequest },
  { name: 'otlp-http-json', port: 'otlpHttp', make: otlpHttpJsonRequest },
  { name: 'otlp-grpc', port: 'otlpGrpc', make: otlpGrpcRequest },
];

/** Input `index` of a run seeded `seed` on `listener`: the same bytes on every replay. */
export function generator(listener: FuzzListener, seed: number): (index: number) => FuzzInput {
  return (index) => listener.make(new Mutator(inputSeed(seed, index)));
}

/** The daemon config the fuzz targets run against: every listener on a loopback port 0, a file exporter. */
export const FUZZ_CONFIG = `
receivers:
  json: { endpoint: 127.0.0.1:0 }
  alertmanager: { endpoint: 127.0.0.1:0 }
  syslog:
    udp: { endpoint: 127.0.0.1:0 }
    tcp: { endpoint: 127.0.0.1:0 }
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:0 }
      http: { endpoint: 127.0.0.1:0 }
exporters:
  file/events: { path: events.ndjson }
  file/metrics: { path: metrics.ndjson }
  file/traces: { path: traces.ndjson }
service:
  pipelines:
    logs: { receivers: [json, alertmanager, syslog, otlp], exporters: [file/events] }
    metrics: { receivers: [otlp], exporters: [file/metrics] }
    traces: { receivers: [otlp], exporters: [file/traces] }
  telemetry:
    metrics: { endpoint: 127.0.0.1:0 }
    logs: { level: info }
`;

/** The bound address of every fuzzed port, read from the daemon's startup log lines. */
export function listenerPorts(logs: string[], http: Target): Record<Port, Target> {
  const found: Partial<Record<Port, Target>> = { json: http, otlpHttp: http };
  for (const line of logs) {
    const rec = JSON.parse(line) as { msg?: string; syslog?: { udp: Target; tcp: Target }; grpc?: Target };
    if (rec.msg === 'syslog receiver listening')
      [found.syslogUdp, found.syslogTcp] = [rec.syslog!.udp, rec.syslog!.tcp];
    if (rec.msg === 'OTLP gRPC listening') found.otlpGrpc = rec.grpc!;
  }
  if (!found.syslogUdp || !found.otlpGrpc) throw new Error('the daemon did not log its syslog and gRPC addresses');
  return found as Record<Port, Target>;
}
