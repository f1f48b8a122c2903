/**
 * `npm run bench -- --peers` (issue 14): Linden beside NATS, Redis and Mosquitto, each through
 * its own Node client in this one harness process, in interleaved rounds (every system once per
 * round, so a slow patch of the machine hits them all), medians with min–max and Linden's ratio
 * to each. A system that does not answer on its usual port is left out. Then Linden's own figures
 * the issue names: idle memory per connection, tuple pairs, `in` on a million tuples, a 50 MiB
 * fragmented transfer.
 */
import { quantile } from './quantile.js';
import { idleConnections, type IdleConnections } from './peers/idle-connections.js';
import { LindenPeer } from './peers/linden-peer.js';
import { MqttPeer } from './peers/mqtt-peer.js';
import { NatsPeer } from './peers/nats-peer.js';
import type { Peer } from './peers/peer.js';
import { RedisPeer } from './peers/redis-peer.js';

export interface Spread { median: number; min: number; max: number; runs: number[] }
export interface PeerFigures {
  name: string;
  persistentNote?: string;
  /** Deliveries/s by subscriber count. */
  fanout: Record<string, Spread>;
  persistent?: Spread;
  /** Request round trips, µs: the medians over rounds of each round's p50 and p99. */
  requestP50Micros?: Spread;
  requestP99Micros?: Spread;
}
export interface PeersResult {
  rounds: number;
  peers: PeerFigures[];
  idle: IdleConnections;
}

export const FANOUTS = [1, 10, 100] as const;

function spread(runs: number[]): Spread {
  const sorted = [...runs].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), min: sorted[0]!, max: sorted.at(-1)!, runs };
}

/** Sizes per run; `quick` for a smoke run. */
function sizes(quick: boolean) {
  return {
    published: { 1: quick ? 100_000 : 1_000_000, 10: quick ? 20_000 : 200_000, 100: quick ? 2_000 : 20_000 } as Record<number, number>,
    persistent: quick ? 20_000 : 100_000,
    requests: quick ? 2_000 : 10_000,
    idle: quick ? 2_000 : 15_000,
  };
}

export async function peersBench(quick: boolean, rounds = quick ? 1 : 5, log: (line: string) => void = () => undefined): Promise<PeersResult> {
  const n = sizes(quick);
  const reached = await Promise.all([NatsPeer.reach(), RedisPeer.reach(), MqttPeer.reach()]);
  const peers: Peer[] = [await LindenPeer.start(), ...reached.filter((p): p is NonNullable<typeof p> => p !== undefined)];
  const runs = peers.map(() => ({ fanout: new Map<number, number[]>(), persistent: [] as number[], p50: [] as number[], p99: [] as number[] }));
  try {
    for (const peer of peers) await peer.fanout(1, n.published[1]! / 10); // warm-up: JIT on both sides
    for (let round = 1; round <= rounds; round++) {
      for (const [i, peer] of peers.entries()) {
        const r = runs[i]!;
        for (const subs of FANOUTS) {
          const rate = await peer.fanout(subs, n.published[subs]!);
          r.fanout.set(subs, [...(r.fanout.get(subs) ?? []), rate]);
        }
        if (peer.persistent) r.persistent.push(await peer.persistent(n.persistent, 256));
        if (peer.requests) {
          const samples = (await peer.requests(n.requests)).sort((a, b) => a - b);
          r.p50.push(Math.round(quantile(samples, 0.5) * 1000));
          r.p99.push(Math.round(quantile(samples, 0.99) * 1000));
        }
        log(`round ${round}/${rounds}: ${peer.name} done`);
      }
    }
  } finally {
    await Promise.all(peers.map((p) => p.close()));
  }
  const figures = peers.map((peer, i): PeerFigures => {
    const r = runs[i]!;
    return {
      name: peer.name,
      persistentNote: peer.persistentNote,
      fanout: Object.fromEntries(FANOUTS.map((s) => [String(s), spread(r.fanout.get(s)!)])),
      persistent: r.persistent.length > 0 ? spread(r.persistent) : undefined,
      requestP50Micros: r.p50.length > 0 ? spread(r.p50) : undefined,
      requestP99Micros: r.p99.length > 0 ? spread(r.p99) : undefined,
    };
  });
  const idle = await idleConnections(n.idle);
  return { rounds, peers: figures, idle };
}

/** Table rows: workload, each system's median (min–max), Linden's ratio to it. */
export function peerRows(result: PeersResult): [string, string, string][] {
  const rows: [string, string, string][] = [];
  const [linden, ...others] = result.peers;
  const fmt = (s: Spread, unit: string) => `${Math.round(s.median).toLocaleString('en-US')} ${unit} (${Math.round(s.min).toLocaleString('en-US')}–${Math.round(s.max).toLocaleString('en-US')})`;
  const ratio = (ours: number, theirs: number) => `x${(ours / theirs).toFixed(2)}`;
  const block = (title: string, pick: (p: PeerFigures) => Spread | undefined, unit: string, lowerIsBetter = false) => {
    const ours = pick(linden!);
    if (!ours) return;
    rows.push([title, `Linden ${fmt(ours, unit)}`, '']);
    for (const p of others) {
      const theirs = pick(p);
      if (!theirs) continue;
      const r = lowerIsBetter ? ratio(theirs.median, ours.median) : ratio(ours.median, theirs.median);
      rows.push([`  vs ${p.name}`, fmt(theirs, unit), `Linden ${r}${lowerIsBetter ? ' (their time / ours)' : ''}`]);
    }
  };
  for (const s of FANOUTS) block(`transient 1 -> ${s}, 128 B`, (p) => p.fanout[String(s)], 'deliveries/s');
  block('acknowledged persistent, 256 in flight', (p) => p.persistent, 'acked/s');
  for (const p of result.peers) if (p.persistent) rows.push([`  (${p.name})`, p.persistentNote ?? '', '']);
  block('request/reply p50', (p) => p.requestP50Micros, 'µs', true);
  block('request/reply p99', (p) => p.requestP99Micros, 'µs', true);
  const idle = result.idle;
  rows.push([`idle connections, ${idle.connections.toLocaleString('en-US')}`, `Linden ${idle.lindenKiB} KiB each, bare ws server ${idle.bareWsKiB} KiB`, '']);
  return rows;
}
