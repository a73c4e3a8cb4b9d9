/** The parts of snappyjs (no published types) the tests use: an independent snappy block encoder. */
declare module 'snappyjs' {
  const snappy: {
    compress(data: Buffer): Buffer;
    uncompress(data: Buffer, maxLength?: number): Buffer;
  };
  export default snappy;
}
