/** What one fuzz input is, per transport: the generators build these, `send.ts` delivers them. */
export interface HttpInput {
  kind: 'http';
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface GrpcInput {
  kind: 'grpc';
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface DatagramInput {
  kind: 'udp';
  body: Buffer;
}

/** Bytes written to one TCP connection, in the chunks given (a frame split across writes is part of the test). */
export interface StreamInput {
  kind: 'tcp';
  chunks: Buffer[];
}

export type FuzzInput = HttpInput | GrpcInput | DatagramInput | StreamInput;
