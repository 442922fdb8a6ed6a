// The two pure-JS candidates of bench/limits/compression.ts ship no types; only what it calls.
declare module 'snappyjs' {
  const snappyjs: {
    compress(input: Uint8Array): Uint8Array;
    uncompress(input: Uint8Array): Uint8Array;
  };
  export default snappyjs;
}

declare module 'lz4js' {
  const lz4js: {
    compress(input: Uint8Array): Uint8Array;
    decompress(input: Uint8Array): Uint8Array;
  };
  export default lz4js;
}
