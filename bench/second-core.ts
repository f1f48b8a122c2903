import { deserialize, serialize } from 'node:v8';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { msgpackCodec, packr } from '../protocol/codec.js';
import { FrameValidator } from '../protocol/validate.js';

/*
 * Issue 14 asks whether the second core pays for decoding and validating inbound publishes off
 * the main thread. Sockets live on the main thread, so a worker could only take raw frames and
 * hand back decoded messages: the main thread then pays the structured clone's deserialisation
 * instead of msgpackr's decoding, plus the hand-off. This measures the three on the same frames,
 * as main-thread time per message (the worker's own time is on the other core).
 *
 * (The LMDB writer already runs on the other core: lmdb-js commits and fdatasyncs on its own
 * thread. One process per core sharing the port would route between processes through Redis:
 * `npm run bench -- --cluster` measures that path at a sixth of one process's rate.)
 */

export interface SecondCoreResult {
  /** Publishes per frame, as the SDK batches them under load. */
  perFrame: number;
  /** Main thread, today: msgpack decode and ajv validation, ns per publish. */
  decodeValidateNs: number;
  /** Main thread, if a worker decoded: structured-clone deserialisation of the decoded publishes. */
  cloneReceiveNs: number;
  /** Main thread, measured with a real worker: busy time per publish for the round trip. */
  workerRoundTripNs: number;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', ({ frames, codecUrl, validateUrl }) => {
  if (codecUrl) {
    Promise.all([import(codecUrl), import(validateUrl)]).then(([codec, validate]) => {
      globalThis.decode = codec.msgpackCodec; globalThis.validator = new validate.FrameValidator('msgpack');
      parentPort.postMessage('ready');
    });
    return;
  }
  const out = [];
  for (const f of frames) for (const m of globalThis.decode.decode(f, true)) out.push(globalThis.validator.check(m));
  parentPort.postMessage(out);
});
`;

/** A frame of `n` publishes to one topic, as the side-by-side runs send them. */
function samplePublishes(n: number): Uint8Array {
  const data = Buffer.alloc(128, 7);
  return packr.pack(Array.from({ length: n }, (_, i) => ({ t: 'pub', topic: 'bench.topic', data })));
}

function nsPer(count: number, body: () => void, rounds = 2_000): number {
  for (let i = 0; i < 2_000; i += 1) body(); // warm-up: JIT
  const start = performance.now();
  for (let i = 0; i < rounds; i += 1) body();
  return Math.round(((performance.now() - start) * 1e6) / (rounds * count));
}

export async function secondCore(perFrame = 64, frames = 2_000): Promise<SecondCoreResult> {
  const frame = samplePublishes(perFrame);
  const validator = new FrameValidator('msgpack');
  const decodeValidateNs = nsPer(perFrame, () => { for (const m of msgpackCodec.decode(frame, true)) validator.check(m); });
  const decoded = msgpackCodec.decode(frame, true).map((m) => validator.check(m));
  const cloned = serialize(decoded);
  const cloneReceiveNs = nsPer(perFrame, () => deserialize(cloned));
  const workerRoundTripNs = await viaWorker(frame, perFrame, frames);
  return { perFrame, decodeValidateNs, cloneReceiveNs, workerRoundTripNs };
}

/** Frames go to a worker in batches of 16; main-thread busy time comes from its event-loop utilisation. */
async function viaWorker(frame: Uint8Array, perFrame: number, frames: number): Promise<number> {
  const worker = new Worker(WORKER_SOURCE, { eval: true });
  try {
    const ask = (message: unknown) => new Promise<unknown>((resolve) => { worker.once('message', resolve); worker.postMessage(message); });
    await ask({ codecUrl: new URL('../protocol/codec.js', import.meta.url).href, validateUrl: new URL('../protocol/validate.js', import.meta.url).href });
    const batch = 16;
    const run = async (n: number) => { for (let i = 0; i < n; i += batch) await ask({ frames: Array.from({ length: batch }, () => frame.slice()) }); };
    await run(batch * 20); // warm-up
    const before = performance.eventLoopUtilization();
    await run(frames);
    const used = performance.eventLoopUtilization(before);
    return Math.round((used.active * 1e6) / (frames * perFrame));
  } finally {
    await worker.terminate();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await secondCore());
