/** The wire protocol version spoken in `hello`/`welcome`; bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/** WebSocket subprotocols, in the broker's order of preference. */
export const SUBPROTOCOLS = {
  msgpack: 'linden.v1.msgpack',
  json: 'linden.v1.json',
} as const;

export type CodecName = keyof typeof SUBPROTOCOLS;

/** The package version, reported in `welcome`; test/package.test.ts keeps it equal to package.json. */
export const LINDEN_VERSION = '0.1.0';
