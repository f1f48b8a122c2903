import { connect } from '../client-sdk/index.js';
import { processCpu } from './process-cpu.js';

export type PairsMode = 'handover' | 'stored';

export interface PairsResult {
  mode: PairsMode;
  pairs: number;
  seconds: number;
  pairsPerSecond: number;
  /** `in` requests the taker keeps outstanding. */
  takerWindow: number;
  /** How far the writer may run ahead of completed takes. */
  writerLead: number;
  /** CPU time (user + system) per pair of this process, both clients together: less blurred by other load than the rate. */
  harnessCpuMicrosPerPair: number;
  /** The same for the broker, when its process id was given. */
  brokerCpuMicrosPerPair?: number;
}

const ANY = { $any: true };
const TEMPLATE = ['job', ANY, ANY];
const PAYLOAD = 'payload-'.padEnd(64, 'x');

/**
 * Transient `out` -> `in` pairs between two clients: a writer does `out(['job', i, payload])`
 * with ack 'none', a taker keeps `takerWindow` blocking `in(['job', any, any])` requests
 * outstanding and replaces each as it completes (one sequential `in` loop would time a round
 * trip, not the broker's throughput). The writer stays at most `writerLead` tuples ahead of
 * completed takes (it then waits for room for a batch of up to 1,000), so the run measures
 * sustained pairs, not buffering. The two settings pick
 * the broker path:
 *
 * - handover: the taker's window is twice the writer's lead, so an `out` almost always finds a
 *   blocked `in` and hands the tuple over without storing it.
 * - stored: the writer may run 10,000 ahead of a window of 1,000, so a backlog of about 9,000
 *   stored tuples builds and every `in` is answered from the index.
 *
 * Both results depend on the shape: on the handover path the broker's cost per `out` grows with
 * the number of blocked `in`s, on the stored path with the backlog. The defaults are a taker
 * that pipelines 1,000 requests, as a NATS-style bench would.
 */
export async function spacePairs(
  url: string, mode: PairsMode, pairs: number, shape: { takerWindow?: number; writerLead?: number } = {}, brokerPid?: number,
): Promise<PairsResult> {
  const takerWindow = shape.takerWindow ?? 1_000;
  const writerLead = shape.writerLead ?? (mode === 'handover' ? takerWindow / 2 : 10_000);
  const space = `bench.pairs.${mode}`;
  const writer = await connect(url, { name: 'bench-out' });
  const taker = await connect(url, { name: 'bench-in' });
  const outs = writer.space(space);
  const ins = taker.space(space);

  let issued = 0;
  let taken = 0;
  let failure: unknown;
  let done!: () => void;
  const allTaken = new Promise<void>((resolve) => { done = resolve; });
  // The writer, when it is `writerLead` ahead, sleeps until the takes have made room for a batch
  // of `refill`: polling each turn instead burnt the harness's CPU, which this run measures.
  const refill = Math.min(1_000, Math.ceil(writerLead / 2));
  let wakeWriter: (() => void) | undefined;
  let wakeAt = 0;
  const wake = () => {
    const w = wakeWriter;
    wakeWriter = undefined;
    w?.();
  };
  const onTaken = (tuple: unknown[] | null) => {
    if (tuple?.[0] !== 'job') failure ??= new Error(`in returned ${JSON.stringify(tuple)}`);
    if (++taken === pairs) done();
    else if (issued < pairs) take();
    if (taken >= wakeAt || failure !== undefined) wake();
  };
  const onError = (err: unknown) => { failure ??= err; done(); wake(); };
  const take = () => {
    issued++;
    ins.in(TEMPLATE).then(onTaken, onError);
  };

  let sent = 0;
  // At most 1,000 outs (~100 KB) per tick. A flush of over 1 MiB can seal a frame 5 bytes over
  // maxFrameBytes (the writer leaves its array header out of the limit) and the broker closes
  // the connection with 1009.
  const write = async (n: number) => {
    for (let i = 0; i < n; i++, sent++) void outs.out(['job', sent, PAYLOAD], { ack: 'none' });
    await new Promise((resolve) => setImmediate(resolve));
  };
  // The clock starts before any `out`: every pair counted is timed from both ends.
  const started = performance.now();
  const brokerCpu = brokerPid === undefined ? undefined : processCpu(brokerPid);
  const brokerBefore = brokerCpu?.();
  const harnessBefore = process.cpuUsage();
  if (mode === 'stored') {
    // The backlog exists before the first `in` arrives.
    while (sent < Math.min(writerLead, pairs)) await write(Math.min(1_000, writerLead - sent, pairs - sent));
    await writer.flush();
  }
  const window = Math.min(takerWindow, pairs);
  for (let i = 0; i < window; i++) take();
  // In handover mode the waiters are registered before the first `out`.
  if (mode === 'handover') await taker.flush();
  while (sent < pairs && failure === undefined) {
    const ahead = sent - taken;
    if (ahead < writerLead) {
      await write(Math.min(writerLead - ahead, pairs - sent, 1_000));
      continue;
    }
    wakeAt = sent - writerLead + refill;
    await new Promise<void>((resolve) => { wakeWriter = resolve; });
  }
  await allTaken;
  const seconds = (performance.now() - started) / 1000;
  const harness = process.cpuUsage(harnessBefore);
  const brokerSeconds = brokerCpu === undefined ? undefined : brokerCpu() - brokerBefore!;
  await Promise.all([writer.close(), taker.close()]);
  if (failure !== undefined) throw failure;
  const perPair = (micros: number) => Math.round((micros / pairs) * 100) / 100;
  const result: PairsResult = {
    mode, pairs, seconds, pairsPerSecond: Math.round(pairs / seconds), takerWindow, writerLead,
    harnessCpuMicrosPerPair: perPair(harness.user + harness.system),
  };
  if (brokerSeconds !== undefined) result.brokerCpuMicrosPerPair = perPair(brokerSeconds * 1e6);
  return result;
}
