/**
 * A custom interceptor: payloads over a size threshold travel deflated.
 *
 * `compression({ threshold })` works at request level: it sees `pub` frames as objects before
 * they are encoded and `msg` frames after they are decoded. Outbound, a payload larger than
 * the threshold is deflated and marked with the header `content-encoding: deflate`; inbound, a
 * marked payload is inflated and the mark removed, so the application never sees either. The
 * broker forwards the deflated bytes untouched.
 *
 * Put it before fragmentation(): the list runs from the application to the socket, so a
 * payload is compressed first and the smaller result is what gets cut into fragments.
 *
 *   npm run build && npm start                           # terminal 1: broker
 *   node dist/examples/compression-interceptor.js        # a publisher and a subscriber, sizes printed
 *
 * LINDEN_URL points it at another broker.
 *
 * Limits of a sketch: both ends must run it (a subscriber without it gets deflated bytes it
 * cannot decode), and only MessagePack-codec peers can take part: the broker converts payloads
 * for JSON-codec subscribers and cannot convert deflated ones. Request replies (`ack` data) are
 * left alone.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { connect, fragmentation, LindenError, type Frame, type Interceptor } from 'linden';
import { brokerUrl, reportFailures } from './run.js';

export interface CompressionOptions {
  /** Payloads of more bytes than this are deflated. Default 1024: below, it is not worth the CPU. */
  threshold?: number;
  /** Largest payload inflated; a larger one is refused, so a small message cannot balloon. Default 64 MiB. */
  maxInflatedBytes?: number;
  /** Told about each payload it deflated, e.g. to log the saving. */
  onCompress?(info: { topic: string; bytes: number; compressedBytes: number }): void;
}

const ENCODING = 'content-encoding';

export function compression(options: CompressionOptions = {}): Interceptor {
  const threshold = options.threshold ?? 1024;
  const maxInflatedBytes = options.maxInflatedBytes ?? 64 * 1024 * 1024;
  return {
    name: 'compression',
    outbound(frame) {
      // With the MessagePack codec `data` is the payload's encoding, a Uint8Array; JSON-codec
      // payloads are plain values and pass untouched.
      if (frame.t !== 'pub' || !(frame.data instanceof Uint8Array) || frame.data.length <= threshold) return;
      // Node's zlib; a browser build would use CompressionStream('deflate-raw'), which is async:
      // a hook may return a promise, and frames keep their order meanwhile.
      const deflated = deflateRawSync(frame.data);
      // Random or already compressed data does not shrink: then it goes as it is.
      if (deflated.length >= frame.data.length) return;
      options.onCompress?.({ topic: frame.topic as string, bytes: frame.data.length, compressedBytes: deflated.length });
      return { ...frame, data: deflated, hdr: { ...(frame.hdr as Record<string, string> | undefined), [ENCODING]: 'deflate' } };
    },
    inbound(frame) {
      const hdr = frame.hdr as Record<string, string> | undefined;
      if (frame.t !== 'msg' || hdr?.[ENCODING] !== 'deflate' || !(frame.data instanceof Uint8Array)) return;
      let data: Buffer;
      try {
        data = inflateRawSync(frame.data, { maxOutputLength: maxInflatedBytes });
      } catch (err) {
        // Thrown here, it reaches the client's status feed as an error; the message is dropped.
        throw new LindenError('DECODE_ERROR', `cannot inflate a message on "${String(frame.topic)}": ${(err as Error).message}`);
      }
      const { [ENCODING]: _, ...rest } = hdr;
      const out: Frame = { ...frame, data };
      if (Object.keys(rest).length > 0) out.hdr = rest;
      else delete out.hdr;
      return out;
    },
  };
}

/** Sends a compressible payload, a small one and an incompressible one, and prints what travelled. */
async function main(): Promise<void> {
  const url = brokerUrl(); // LINDEN_URL, else ws://127.0.0.1:7070
  const wire = new Map<string, number>();
  const interceptors = (): Interceptor[] => [
    compression({ threshold: 1024, onCompress: ({ topic, compressedBytes }) => wire.set(topic, compressedBytes) }),
    fragmentation(),
  ];
  const publisher = await connect(url, { name: 'example-compression-pub', interceptors: interceptors() });
  const subscriber = await connect(url, { name: 'example-compression-sub', interceptors: interceptors() });
  try {
    const payloads: Array<[string, Uint8Array]> = [
      // ~2 MB of repetitive text; deflated still over the 64 KiB fragment size, so fragmented too.
      ['reports.csv', csv(100_000)],
      ['reports.small', new TextEncoder().encode('id,total\n1,12.50\n')],
      ['reports.random', randomBytes(64 * 1024)],
    ];
    const inbox = subscriber.subscribe<Uint8Array>('reports.>');
    await inbox.ready;
    const received = inbox[Symbol.asyncIterator]();
    for (const [topic, payload] of payloads) {
      // 'delivery': the next line is printed once the subscriber's connection has the message.
      await publisher.publish(topic, payload, { ack: 'delivery', timeout: 10_000 });
      const { value: msg } = await received.next();
      const sent = wire.get(topic);
      const how = sent === undefined ? 'sent as is' : `deflated to ${sent} bytes (${((100 * sent) / payload.length).toFixed(1)}%)`;
      const intact = Buffer.from(msg!.data).equals(Buffer.from(payload)) && msg!.headers[ENCODING] === undefined;
      console.log(`${topic}: ${payload.length} bytes, ${how}; received ${msg!.data.length} bytes, ${intact ? 'intact' : 'CORRUPTED'}`);
      if (!intact) process.exitCode = 1;
    }
  } finally {
    await publisher.close();
    await subscriber.close();
  }
}

/** Rows of a made-up sales report: repetitive like real text, deterministic so runs compare. */
function csv(rows: number): Uint8Array {
  const items = ['widget', 'gadget', 'sprocket', 'gizmo'];
  const lines = ['id,item,quantity,total'];
  for (let i = 1; i <= rows; i++) lines.push(`${i},${items[i % 4]},${1 + (i % 7)},${((i * 37) % 1000) / 4}`);
  return new TextEncoder().encode(lines.join('\n'));
}

/** Incompressible bytes (xorshift, so no crypto is needed for filler). */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

// Run as a program it shows itself; imported, it only provides compression() (and leaves the
// importer's error handling alone).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  reportFailures(); // an expected failure ends in one line on stderr and exit 1 or 2 (see run.ts)
  await main();
}
