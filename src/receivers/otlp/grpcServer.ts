import * as grpc from '@grpc/grpc-js';
import { nowNanos } from '../../model/event.ts';
import { loadTlsOptions } from '../http/tlsConfig.ts';
import type { OtlpGrpcConfig } from './config.ts';
import { protoType } from './protos.ts';
import type { OtlpReceiver } from './receiver.ts';
import { encodeResponseProto, type SignalSpec } from './signals.ts';
import { encodeStatusProto, failureFor, GrpcCode } from './status.ts';

const identity = (b: Buffer): Buffer => b;

/**
 * A unary method whose request stays raw bytes: decoding happens in the handler so that a
 * malformed message is answered INVALID_ARGUMENT (grpc-js answers INTERNAL for its own
 * deserializer errors).
 */
function rawMethod(service: string, method: string, responseStream = false): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path: `/${service}/${method}`,
    requestStream: false,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

const HEALTH = 'grpc.health.v1.Health';
const ServingStatus = { SERVING: 1, NOT_SERVING: 2 } as const;

/**
 * OTLP/gRPC on @grpc/grpc-js: the three Export services plus grpc.health.v1.Health for
 * Kubernetes gRPC probes. grpc-js decompresses gzip and deflate itself; it has no hook for
 * other message encodings, so zstd-compressed messages are answered UNIMPLEMENTED by grpc-js.
 */
export class OtlpGrpcServer {
  private readonly config: OtlpGrpcConfig;
  private readonly receiver: OtlpReceiver;
  private readonly server: grpc.Server;
  private readonly watchers = new Set<grpc.ServerWritableStream<Buffer, Buffer>>();
  serving = false;

  constructor(config: OtlpGrpcConfig, receiver: OtlpReceiver) {
    this.config = config;
    this.receiver = receiver;
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': config.max_recv_msg_size,
      // Collector and SDK clients keep one connection for hours; keepalive pings find dead peers.
      'grpc.keepalive_time_ms': 2 * 60 * 60 * 1000,
    });
    for (const spec of receiver.specs) {
      this.server.addService({ Export: rawMethod(spec.grpcService, 'Export') }, { Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => void this.export(spec, call, cb) });
    }
    this.server.addService(
      { Check: rawMethod(HEALTH, 'Check'), Watch: rawMethod(HEALTH, 'Watch', true) },
      {
        Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => this.healthCheck(call.request, cb),
        Watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => this.healthWatch(call),
      },
    );
  }

  async start(): Promise<number> {
    const { host, port } = this.config.endpoint;
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const bound = await new Promise<number>((resolve, reject) => this.server.bindAsync(address, this.credentials(), (err, p) => (err ? reject(err) : resolve(p))));
    this.serving = true;
    return bound;
  }

  private credentials(): grpc.ServerCredentials {
    const tls = this.config.tls;
    if (!tls) return grpc.ServerCredentials.createInsecure();
    const o = loadTlsOptions(tls);
    return grpc.ServerCredentials.createSsl(o.ca ?? null, [{ private_key: o.key, cert_chain: o.cert }], o.rejectUnauthorized);
  }

  async shutdown(): Promise<void> {
    this.serving = false;
    for (const w of this.watchers) w.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 5000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async export(spec: SignalSpec, call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): Promise<void> {
    const observed = nowNanos();
    try {
      const auth = call.metadata.get('authorization')[0];
      const tenant = this.receiver.authenticate(typeof auth === 'string' ? auth : undefined);
      this.receiver.admit(spec);
      const decoded = spec.decodeProto(call.request, observed);
      const outcome = await this.receiver.export(spec, decoded, tenant, observed);
      cb(null, encodeResponseProto(spec, outcome));
    } catch (err) {
      const f = failureFor(err);
      if (f.grpc === GrpcCode.INVALID_ARGUMENT || f.grpc === GrpcCode.UNAUTHENTICATED) this.receiver.countInvalid();
      if (f.grpc === GrpcCode.INTERNAL) this.receiver.settings.logger.error({ err }, 'OTLP/gRPC export failed');
      const metadata = new grpc.Metadata();
      // RetryInfo makes RESOURCE_EXHAUSTED retryable for OTLP clients (specification, "Failures").
      if (f.retryAfterSeconds !== undefined) metadata.set('grpc-status-details-bin', encodeStatusProto(f));
      cb({ name: 'OtlpExportError', message: f.message, code: f.grpc, details: f.message, metadata });
    }
  }

  private healthStatus(request: Buffer): number | undefined {
    const req = protoType('grpc.health.v1.HealthCheckRequest').decode(request) as unknown as { service: string };
    const known = req.service === '' || this.receiver.specs.some((s) => s.grpcService === req.service);
    if (!known) return undefined;
    return this.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
  }

  private healthCheck(request: Buffer, cb: grpc.sendUnaryData<Buffer>): void {
    let status: number | undefined;
    try {
      status = this.healthStatus(request);
    } catch {
      cb({ name: 'HealthError', message: 'malformed HealthCheckRequest', code: GrpcCode.INVALID_ARGUMENT, details: 'malformed HealthCheckRequest' });
      return;
    }
    if (status === undefined) {
      cb({ name: 'HealthError', message: 'unknown service', code: GrpcCode.NOT_FOUND, details: 'unknown service' });
      return;
    }
    cb(null, encodeHealth(status));
  }

  private healthWatch(call: grpc.ServerWritableStream<Buffer, Buffer>): void {
    let status: number | undefined;
    try {
      status = this.healthStatus(call.request);
    } catch {
      call.emit('error', { code: GrpcCode.INVALID_ARGUMENT, details: 'malformed HealthCheckRequest' });
      return;
    }
    // Watch reports SERVICE_UNKNOWN rather than failing, per the health-checking protocol.
    call.write(encodeHealth(status ?? 3));
    this.watchers.add(call);
    call.on('cancelled', () => this.watchers.delete(call));
  }
}

function encodeHealth(status: number): Buffer {
  const T = protoType('grpc.health.v1.HealthCheckResponse');
  return Buffer.from(T.encode(T.fromObject({ status })).finish());
}

