/** The parts of snappyjs (no published types) the tests use: an independent snappy block encoder. */
declare module 'snappyjs' {
  const snappy: {
    compress(data: Uint8Array): Buffer;
    uncompress(data: Uint8Array, maxLength?: number): Buffer;
  };
  export default snappy;
}
