/**
 * Broker-side micro-benchmark of `in` against one large space: the engine is built in-process
 * and driven without sockets, so the numbers are the broker's own cost per request and nothing
 * of the network or the client. Runs in a child (bench/space-index-process.js) with --expose-gc,
 * so heap figures are not polluted by the runner and a million tuples never share its heap.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { msgpackCodec } from '../protocol/codec.js';
import type { ReadFrame } from '../protocol/frames.js';
import type { Connection } from '../server/connection.js';
import { resolveOptions } from '../server/options.js';
import { SpaceCore } from '../server/space/space-core.js';
import { MemoryStore } from '../server/store/memory-store.js';
import { compileTemplate } from '../server/space/template.js';
import { quantile } from './quantile.js';

export interface TakeTiming {
  takes: number;
  /**
   * The process's CPU time (user + system, GC threads included) over the phase, per take. Wall
   * time per take counts every moment the process waited for a core, which on a loaded machine
   * is most of the mean; this does not.
   */
  cpuMicros: number;
  meanMicros: number;
  p50Micros: number;
  p99Micros: number;
  maxMicros: number;
}

export interface SpaceIndexResult {
  tuples: number;
  fillSeconds: number;
  /** After a full GC. The payload string is shared here; from the wire each tuple has its own. */
  heapUsedMB: number;
  /** Full handler path per `in`: template compile, index lookup, take, reply frame encoded. */
  inByUniqueActual: TakeTiming;
  /** Same lookups with a precompiled template straight into Space.find: the index alone. */
  engineFindByUniqueActual: TakeTiming;
  /** Unique actual in field 1 with field 0 a wildcard: the index is not tied to the first field. */
  inByUniqueActualFirstWildcard: TakeTiming;
  /** Actual in field 2 shared by ~1 in 1,000 tuples: a bucket of about a thousand, oldest taken. */
  inByGroupActual: TakeTiming;
  /**
   * The first `in` with an actual in field 2, which no template had asked for: it builds that
   * field's index over the ~990,000 tuples left (tuple-index.ts), once. Not in inByGroupActual.
   */
  firstGroupTakeMs: number;
  /**
   * Only the first field actual, and every tuple has it: a queue-like FIFO take from a bucket
   * of a million. The first and last tenth of the run show whether the cost grows as it drains.
   */
  inFifoFromSharedActual: TakeTiming & { firstTenthMeanMicros: number; lastTenthMeanMicros: number };
  /** `$range` is not indexed: a take whose match is near the newest end scans the space. */
  inRangeNotIndexed: TakeTiming;
}

const PAYLOAD = 'payload-'.padEnd(64, 'x');
const ANY = { $any: true };

/**
 * A connection stand-in: replies are encoded, as the broker would, and dropped. Like a broker's
 * MessagePack connection without outbound interceptors (the default), it takes the `tuple`
 * answer written in place (Connection.frameToWrite), here into one reused buffer.
 */
function sinkConnection(): Connection {
  let bytes = 0;
  const frame = { buf: new Uint8Array(64 * 1024), pos: 0 };
  const conn = {
    codec: msgpackCodec,
    state: 'open',
    takesPacked: true,
    frameToWrite(size: number) {
      bytes += frame.pos;
      if (size > frame.buf.length) frame.buf = new Uint8Array(size);
      frame.pos = 0;
      return frame;
    },
    sendFrame(frame: object) { bytes += msgpackCodec.encode(frame).length; },
    sendError(err: unknown) { throw err; },
    get bytes() { return bytes; },
  };
  return conn as unknown as Connection;
}

/** Wall time of each op in ms, and the process's CPU time over them all in µs. */
interface Samples {
  ms: number[];
  cpuMicros: number;
}

function timing({ ms: samples, cpuMicros }: Samples): TakeTiming {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => round(quantile(sorted, q) * 1000);
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  return {
    takes: samples.length, cpuMicros: round(cpuMicros / samples.length), meanMicros: round(mean * 1000),
    p50Micros: at(0.5), p99Micros: at(0.99), maxMicros: round(sorted.at(-1)! * 1000),
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** `count` distinct keys in [0, n), in random order (partial Fisher-Yates, fixed seed). */
function distinctKeys(n: number, count: number, seed: number): number[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const pool = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const vj = pool.get(j) ?? j;
    pool.set(j, pool.get(i) ?? i);
    out.push(vj);
  }
  return out;
}

export async function runSpaceIndex(tuples: number, takes: number): Promise<SpaceIndexResult> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const core = new SpaceCore(resolveOptions({ maxTuplesPerSpace: tuples + 1 }), new MemoryStore(), pino({ level: 'silent' }));
  const conn = sinkConnection();
  const name = 'bench-index';
  let id = 1;

  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const fillStart = performance.now();
  // Through SpaceCore.out, so each tuple is validated, sized and keyed as a client's would be.
  for (let i = 0; i < tuples; i++) core.out(conn, { t: 'out', space: name, tuple: ['item', i, 'group-' + (i % 1000), PAYLOAD] });
  const fillSeconds = (performance.now() - fillStart) / 1000;
  gc();
  const heapUsedMB = Math.round((process.memoryUsage().heapUsed - heapBefore) / 1e6);
  const space = core.space(name);

  const warm = Math.min(2_000, takes);
  const keys = distinctKeys(tuples, warm + takes * 3, 42);
  let next = 0;
  const inFrame = (template: unknown[]): ReadFrame => ({ t: 'in', id: id++, space: name, template, wait: false });
  const measure = (n: number, op: () => void): Samples => {
    const samples: number[] = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      op();
      samples.push(performance.now() - t0);
    }
    const { user, system } = process.cpuUsage(cpu);
    return { ms: samples, cpuMicros: user + system };
  };
  const expectTaken = (before: number, n: number, what: string) => {
    if (space.tupleCount !== before - n) throw new Error(`${what}: expected ${n} takes, space went ${before} -> ${space.tupleCount}`);
  };

  // Warm-up: the handler path gets optimised before it is timed, and the GC's background
  // sweeping of the fill's garbage is over, so the first timed phase is not the one to pay it.
  for (let i = 0; i < warm; i++) core.read(conn, inFrame(['item', keys[next++]!, ANY, ANY]));
  // A full collection of the fill's 450 MB heap, and time for its concurrent sweeping to end:
  // otherwise a collection V8 starts itself (its memory reducer, after a quiet pause) ran on
  // through the first timed phase, whose CPU per take then doubled in some runs and not others.
  gc();
  await sleep(1_000);

  let before = space.tupleCount;
  const byUnique = measure(takes, () => core.read(conn, inFrame(['item', keys[next++]!, ANY, ANY])));
  expectTaken(before, takes, 'unique actual');

  before = space.tupleCount;
  const templates = keys.slice(next, (next += takes)).map((k) => compileTemplate(['item', k, ANY, ANY]));
  let ti = 0;
  const engine = measure(takes, () => {
    if (!space.find(templates[ti++]!, Date.now(), true)) throw new Error('engine find: no tuple');
  });
  expectTaken(before, takes, 'engine find');

  before = space.tupleCount;
  const firstWild = measure(takes, () => core.read(conn, inFrame([ANY, keys[next++]!, ANY, ANY])));
  expectTaken(before, takes, 'first-field wildcard');

  const firstGroup = performance.now();
  core.read(conn, inFrame(['item', ANY, 'group-999', ANY]));
  const firstGroupTakeMs = round(performance.now() - firstGroup);
  before = space.tupleCount;
  let g = 0;
  const byGroup = measure(takes, () => core.read(conn, inFrame(['item', ANY, 'group-' + (g++ % 1000), ANY])));
  expectTaken(before, takes, 'group actual');

  // Five times as many takes: a cost that grows as the queue drains needs a run long enough to show it.
  before = space.tupleCount;
  const fifo = measure(takes * 5, () => core.read(conn, inFrame(['item', ANY, ANY, ANY])));
  expectTaken(before, takes * 5, 'FIFO');
  const tenth = Math.max(1, Math.floor(fifo.ms.length / 10));
  const meanOf = (xs: number[]) => round((xs.reduce((s, x) => s + x, 0) / xs.length) * 1000);

  // Ranges over the newest ids: each take walks the oldest-first bucket almost to its end.
  before = space.tupleCount;
  const rangeTakes = 5;
  const range = measure(rangeTakes, () => core.read(conn, inFrame(['item', { $range: { gte: tuples - 100 } }, ANY, ANY])));
  expectTaken(before, rangeTakes, 'range');

  core.stop();
  return {
    tuples, fillSeconds: round(fillSeconds), heapUsedMB,
    inByUniqueActual: timing(byUnique),
    engineFindByUniqueActual: timing(engine),
    inByUniqueActualFirstWildcard: timing(firstWild),
    inByGroupActual: timing(byGroup),
    firstGroupTakeMs,
    inFifoFromSharedActual: { ...timing(fifo), firstTenthMeanMicros: meanOf(fifo.ms.slice(0, tenth)), lastTenthMeanMicros: meanOf(fifo.ms.slice(-tenth)) },
    inRangeNotIndexed: timing(range),
  };
}

/** Runs runSpaceIndex in a child process and returns what it printed. */
export async function spaceIndex(tuples: number, takes: number): Promise<SpaceIndexResult> {
  const script = fileURLToPath(new URL('./space-index-process.js', import.meta.url));
  const child = spawn(process.execPath, ['--expose-gc', '--max-old-space-size=8192', script, String(tuples), String(takes)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk; });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`space-index child exited with ${code}`);
  return JSON.parse(out) as SpaceIndexResult;
}
