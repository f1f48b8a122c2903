import { connect } from '../client-sdk/index.js';
import { quantile } from './quantile.js';

export interface LatencyResult {
  requests: number;
  p50Micros: number;
  p99Micros: number;
}

/** Sequential request/reply round trips between two clients through the broker. */
export async function requestLatency(url: string, requests: number): Promise<LatencyResult> {
  const responder = await connect(url, { name: 'bench-responder' });
  const requester = await connect(url, { name: 'bench-requester' });
  const sub = responder.subscribe('bench.rpc', { callback: (msg) => msg.reply(msg.data) });
  await sub.ready;
  const payload = new Uint8Array(128).fill(1);
  for (let i = 0; i < 500; i++) await requester.request('bench.rpc', payload); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < requests; i++) {
    const t0 = performance.now();
    await requester.request('bench.rpc', payload, { timeout: 5_000 });
    samples.push(performance.now() - t0);
  }
  await Promise.all([responder.close(), requester.close()]);
  samples.sort((a, b) => a - b);
  const at = (q: number) => Math.round(quantile(samples, q) * 1000);
  return { requests, p50Micros: at(0.5), p99Micros: at(0.99) };
}
