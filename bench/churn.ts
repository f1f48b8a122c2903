/**
 * Churn (issue 13, "memory returns to baseline"): connections by the thousand open, take what a
 * broker keeps for a connection (subscriptions of every kind, durable consumers holding
 * deliveries, requests waiting for receipts, notify subscriptions, blocked `in`/`rd`,
 * reservations, leased tuples, half-sent fragmented messages) and go: closed cleanly,
 * terminated without a close, kicked by an operator, or before their hello. Once they are gone
 * and the leases have run out, the broker must hold what it held before.
 * test/churn-memory.test.ts runs a short version; `npm run bench -- --only churn` a longer one.
 */
import { WebSocket } from 'ws';
import { connect, type Client } from '../client-sdk/index.js';
import { packr } from '../protocol/codec.js';
import { PROTOCOL_VERSION, SUBPROTOCOLS, type CodecName } from '../protocol/version.js';
import type { CensusCounts } from '../server/census.js';
import { dataMib, MeasuredBroker, mib } from './measured-broker.js';

/** A space that lives through the churn (it holds an anchor tuple), so churners' waiters come and go in it. */
export const SHARED_SPACE = 'churn-shared';
export const QUEUES = ['churn-q0', 'churn-q1', 'churn-q2'];

const EVERYTHING = {
  publish: { allow: ['>'] }, subscribe: { allow: ['>'] }, queues: { allow: ['>'], manage: ['>'] }, spaces: { allow: ['>'] }, admin: true,
};
const USER = { user: 'churn', password: 'secret' };

/**
 * The broker's options for the churn: with users, so logins (refused ones too, and connections
 * that go while theirs is checked) are part of it; anonymous clients may do everything.
 */
export const CHURN_BROKER_OPTIONS = {
  auth: { anonymous: true, anonymousPermissions: EVERYTHING, users: [{ user: USER.user, password: `plain:${USER.password}`, permissions: EVERYTHING }] },
};

export interface RoundTally {
  sdk: number;
  /** Raw connections terminated without a close frame. */
  terminated: number;
  kicked: number;
  /** Raw connections whose login was refused, or that went while it was being checked. */
  refused: number;
  /** Raw connections that never sent hello. */
  strangers: number;
}

/** The same numbers for the same seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The part that stays: an observer connection that kicks, drains the durable queues (a consumer
 * on each, acking) and keeps the anchor tuple of SHARED_SPACE.
 */
export class Churn {
  private constructor(readonly url: string, private readonly observer: Client) {}

  static async open(url: string): Promise<Churn> {
    const observer = await connect(url, { name: 'churn-observer', reconnect: false });
    for (const [k, name] of QUEUES.entries()) {
      // Consumers that leave count as deliveries: keep messages out of the dead-letter queue.
      await observer.createQueue(name, `churn.q${k}.>`, { maxDeliveries: 100 });
      await observer.subscribe(`churn.q${k}.>`, { durable: name, callback: () => {} }).ready;
    }
    await observer.space(SHARED_SPACE).out(['anchor'], { ack: 'submission' });
    return new Churn(url, observer);
  }

  /** `lives` connections, `concurrency` of them at a time; each life's choices come from `seed`. */
  async round(seed: number, lives: number, concurrency = 24): Promise<RoundTally> {
    const tally: RoundTally = { sdk: 0, terminated: 0, kicked: 0, refused: 0, strangers: 0 };
    let next = 0;
    let scraped: Promise<void> | undefined;
    const worker = async (): Promise<void> => {
      while (next < lives) {
        const i = next++;
        // Halfway, as a monitoring system would: metrics labelled with the names of the moment.
        if (i === lives >> 1) scraped = this.scrape();
        const id = seed * 100_000 + i;
        const rng = seeded(id);
        const pick = rng();
        if (pick < 0.45) {
          await sdkLife(this.url, id, rng);
          tally.sdk++;
        } else if (pick < 0.75) {
          await rawLife(this.url, id, rng, 'terminate');
          tally.terminated++;
        } else if (pick < 0.85) {
          await rawLife(this.url, id, rng, 'kick', this.observer);
          tally.kicked++;
        } else if (pick < 0.92) {
          await refusedLife(this.url, id, rng);
          tally.refused++;
        } else {
          await strangerLife(this.url, rng);
          tally.strangers++;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await scraped;
    await this.quiet();
    await this.scrape();
    return tally;
  }

  /** Reads /metrics and the HTTP views, as operators' tools do. */
  private async scrape(): Promise<void> {
    const http = this.url.replace(/^ws/, 'http');
    const authorization = `Basic ${Buffer.from(`${USER.user}:${USER.password}`).toString('base64')}`;
    for (const path of ['/metrics', '/api/spaces', '/api/connections', '/api/subscriptions', '/api/queues']) {
      const res = await fetch(http + path, { headers: { authorization } });
      if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
      await res.text();
    }
  }

  /**
   * Until the broker holds what it held before the round: the observer alone connected, the
   * queues drained, the shared space back to its anchor and no other space. Leases and
   * reservations end by the clock, so this asks again (every 20 ms) until they have.
   */
  async quiet(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const [connections, spaces, queues] = await Promise.all([
        this.observer.admin({ op: 'connections' }) as Promise<unknown[]>,
        this.observer.admin({ op: 'spaces' }) as Promise<{ name: string; tuples: number; reserved: number; waiting: number; notify: number }[]>,
        this.observer.admin({ op: 'queues' }) as Promise<{ name: string; messages: number; consumers: number }[]>,
      ]);
      const spacesQuiet = spaces.length === 1 && spaces[0]!.name === SHARED_SPACE && spaces[0]!.tuples === 1
        && spaces[0]!.reserved === 0 && spaces[0]!.waiting === 0 && spaces[0]!.notify === 0;
      const queuesQuiet = queues.length === QUEUES.length && queues.every((q) => q.messages === 0 && q.consumers === 1);
      if (connections.length === 1 && spacesQuiet && queuesQuiet) return;
      last = JSON.stringify({ connections: connections.length, spaces: spaces.slice(0, 5), queues });
      if (Date.now() > deadline) throw new Error(`the broker did not settle after the churn: ${last}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    await this.observer.close();
  }
}

const swallow = (p: Promise<unknown>): void => {
  p.catch(() => undefined);
};

/** An SDK client that takes a bit of everything, settles some of it, and closes cleanly. */
async function sdkLife(url: string, id: number, rng: () => number): Promise<void> {
  const login = rng() < 0.5 ? USER : {};
  const c = await connect(url, { name: `churn-${id}`, reconnect: false, codec: rng() < 0.5 ? 'msgpack' : 'json', ...login });
  const k = id % QUEUES.length;
  const subs = [
    c.subscribe(`churn.${id}.x`),
    c.subscribe(`churn.${id}.*.y`),
    c.subscribe(`churn.${id}.>`),
    c.subscribe(`churn.work.${id}`, { group: `g${id}` }),
    c.subscribe('churn.work', { group: `g${id % 7}` }),
    // Read by nobody: what it is handed stays in flight until the connection goes.
    c.subscribe(`churn.q${k}.>`, { durable: QUEUES[k] }),
    // A responder that never answers.
    c.subscribe(`churn.${id}.svc`),
  ];
  await Promise.all(subs.map((s) => s.ready));
  if (rng() < 0.5) subs[0]!.unsubscribe();
  if (rng() < 0.5) subs[3]!.unsubscribe();
  await Promise.all([0, 1].map((n) => c.publish(`churn.q${k}.${id}.${n}`, { n }, { mode: 'persistent', ack: 'submission' })));
  if (rng() < 0.3) subs[5]!.unsubscribe();
  if (rng() < 0.2) {
    // A queue of its own, used and deleted: its trie branch and routes must go with it.
    await c.createQueue(`churn-own-${id}`, `churn.own.${id}.>`);
    await c.publish(`churn.own.${id}.x`, { id }, { mode: 'persistent', ack: 'submission' });
    await c.deleteQueue(`churn-own-${id}`);
  }
  c.publish('churn.work', { id }).catch(() => undefined);
  swallow(c.publish(`churn.${id}.svc`, 'request', { ack: 'processing', timeout: 60_000 }));
  swallow(c.request(`churn.${id - 1}.svc`, 'request', { timeout: 60_000 }));

  const n = c.space(`churn-n-${id}`).notify(['x', { $any: true }]);
  await n.ready;
  if (rng() < 0.5) await n.return();
  swallow(c.space(`churn-w-${id}`).in(['w']));
  swallow(c.space(SHARED_SPACE).rd(['job', id]));
  swallow(c.space(SHARED_SPACE).in(['task', id], { reserve: 1_000 }));
  await c.space(`churn-l-${id}`).out(['l', id], { ttl: 20 + Math.floor(rng() * 200), ack: 'submission' });
  const r = c.space(`churn-r-${id}`);
  await r.out(['r', id], { ttl: 300, ack: 'submission' });
  // Its lease may end before the `in` arrives on a busy machine: then it finds nothing.
  const reserved = await r.in(['r', id], { reserve: 150, timeout: 1_000 });
  // Settled, or left to its timer; on a busy machine the timer may come first.
  const settle = rng();
  if (reserved && settle < 0.3) await reserved.ack().catch(() => undefined);
  else if (reserved && settle < 0.6) await reserved.nack().catch(() => undefined);
  swallow(c.space(`churn-o-${id}`).out(['o', id], { ttl: 200, ack: 'processing' }));
  await c.flush();
  await c.close();
}

/**
 * A raw client: hello and everything in one frame, a fragmented message of which only the first
 * fragment comes; then the socket is terminated (at once, or once the broker has answered) or
 * the observer kicks it.
 */
async function rawLife(url: string, id: number, rng: () => number, end: 'terminate' | 'kick', observer?: Client): Promise<void> {
  const c = await RawSocket.open(url, rng() < 0.5 ? 'msgpack' : 'json');
  const k = id % QUEUES.length;
  const fragment = c.codec === 'msgpack' ? new Uint8Array(1_000).fill(7) : 'f'.repeat(1_000);
  c.send([
    { t: 'hello', id: 1, v: PROTOCOL_VERSION, name: `churn-raw-${id}` },
    { t: 'sub', id: 2, sid: 1, pattern: `churn.${id}.raw` },
    { t: 'sub', id: 3, sid: 2, pattern: `churn.${id}.*` },
    { t: 'sub', id: 4, sid: 3, pattern: 'churn.work', group: `g${id % 7}` },
    { t: 'sub', id: 5, sid: 4, pattern: `churn.q${k}.>`, durable: QUEUES[k] },
    { t: 'notify', id: 6, nid: 1, space: `churn-n-${id}`, template: [{ $any: true }] },
    { t: 'in', id: 7, space: `churn-w-${id}`, template: ['w'] },
    { t: 'in', id: 8, space: SHARED_SPACE, template: ['task', id], reserve: 1_000 },
    { t: 'out', id: 9, space: `churn-l-${id}`, tuple: ['l', id], ttl: 20 + Math.floor(rng() * 200) },
    { t: 'out', id: 10, space: `churn-r-${id}`, tuple: ['r', id], ttl: 300 },
    { t: 'in', id: 11, space: `churn-r-${id}`, template: ['r', id], reserve: 150 },
    // To its own subscription, which never acks: a receipt pending on a tag of this connection.
    { t: 'pub', id: 12, topic: `churn.${id}.raw`, data: c.data('request'), ack: 'processing', timeout: 60_000 },
    { t: 'pub', id: 13, topic: `churn.q${k}.${id}`, data: c.data({ id }), mode: 'persistent', ack: 'submission' },
    { t: 'frag', fid: 1, seq: 0, n: 3, size: 3_000, data: fragment },
    { t: 'ping', id: 14 },
  ]);
  if (end === 'terminate') {
    // Half of them before the broker has answered: it handles what came after the socket closed.
    if (rng() < 0.5) await c.reply(14);
    await c.terminate();
    return;
  }
  const welcome = await c.reply(1);
  await c.reply(14);
  await Promise.all([observer!.admin({ op: 'kick', connection: welcome.connectionId as string }), c.closed]);
}

/**
 * A raw client with a wrong password and requests behind its hello, held until the login is
 * decided (a refusal takes 300 ms): it waits for the refusal, or goes while the login is checked.
 */
async function refusedLife(url: string, id: number, rng: () => number): Promise<void> {
  const c = await RawSocket.open(url, rng() < 0.5 ? 'msgpack' : 'json');
  c.send([
    { t: 'hello', id: 1, v: PROTOCOL_VERSION, name: `churn-refused-${id}`, auth: { user: USER.user, password: 'wrong' } },
    { t: 'sub', id: 2, sid: 1, pattern: `churn.${id}.x` },
    { t: 'in', id: 3, space: `churn-w-${id}`, template: ['w'] },
  ]);
  if (rng() < 0.5) await c.closed;
  else await c.terminate();
}

/** A raw socket that never says hello: nothing, a fragment or half a frame, then terminated. */
async function strangerLife(url: string, rng: () => number): Promise<void> {
  const c = await RawSocket.open(url, 'msgpack');
  const what = rng();
  if (what < 0.33) c.send([{ t: 'frag', fid: 1, seq: 0, n: 2, size: 100, data: new Uint8Array(50) }]);
  else if (what < 0.66) c.ws.send(packr.pack([{ t: 'hello', id: 1, v: PROTOCOL_VERSION }]).subarray(0, 5), { binary: true });
  await c.terminate();
}

/** Just enough of a protocol client to send frames and wait for a reply. */
class RawSocket {
  private readonly replies = new Map<number, Record<string, unknown>>();
  private waiting: (() => void) | undefined;
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket, readonly codec: CodecName) {
    this.closed = new Promise((resolve) => ws.once('close', () => {
      this.waiting?.();
      resolve();
    }));
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const messages = (isBinary ? packr.unpack(data) : JSON.parse(data.toString('utf8'))) as Record<string, unknown>[];
      for (const m of Array.isArray(messages) ? messages : [messages]) if (typeof m.re === 'number') this.replies.set(m.re, m);
      this.waiting?.();
    });
  }

  static async open(url: string, codec: CodecName): Promise<RawSocket> {
    const ws = new WebSocket(url, [SUBPROTOCOLS[codec]], { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new RawSocket(ws, codec);
  }

  data(value: unknown): unknown {
    return this.codec === 'msgpack' ? packr.pack(value) : value;
  }

  send(messages: object[]): void {
    if (this.codec === 'msgpack') this.ws.send(packr.pack(messages), { binary: true });
    else this.ws.send(JSON.stringify(messages), { binary: false });
  }

  async reply(re: number): Promise<Record<string, unknown>> {
    for (;;) {
      const m = this.replies.get(re);
      if (m) return m;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`closed before the reply to ${re}`);
      await new Promise<void>((resolve) => { this.waiting = resolve; });
    }
  }

  /** Drops the TCP connection without a close frame. */
  async terminate(): Promise<void> {
    this.ws.terminate();
    await this.closed;
  }
}

export interface ChurnResult {
  livesPerRound: number;
  baselineMiB: number;
  /** After each round: heap and buffers, and their growth from the baseline, with and without compiled code. */
  rounds: { round: number; connections: number; seconds: number; heapMiB: number; grownMiB: number; dataGrownMiB: number }[];
  connections: number;
  grownMiB: number;
  dataGrownMiB: number;
  /** Whether the broker's census after the last round is the baseline's (route caches aside). */
  censusAsBefore: boolean;
}

/**
 * `npm run bench -- --only churn`: a warm-up round, the baseline, then `rounds` rounds of
 * `lives` connections, the broker weighed after each (heap and array buffers after full
 * collections). `script`: test/helpers/measured-broker.mjs as seen from the caller.
 */
export async function churnBench(script: string, rounds: number, lives: number): Promise<ChurnResult> {
  const broker = await MeasuredBroker.start(script, CHURN_BROKER_OPTIONS);
  try {
    const churn = await Churn.open(broker.url);
    await churn.round(1, Math.ceil(lives / 2));
    const baseline = await broker.measure();
    const result: ChurnResult = {
      livesPerRound: lives, baselineMiB: round2(mib(baseline)), rounds: [], connections: 0, grownMiB: 0, dataGrownMiB: 0, censusAsBefore: false,
    };
    let after = baseline;
    for (let r = 1; r <= rounds; r++) {
      const started = Date.now();
      const tally = await churn.round(r + 1, lives);
      after = await broker.measure();
      const connections = Object.values(tally).reduce((n, x) => n + x, 0);
      result.connections += connections;
      result.rounds.push({
        round: r, connections, seconds: (Date.now() - started) / 1_000, heapMiB: round2(mib(after)),
        grownMiB: round2(mib(after) - mib(baseline)), dataGrownMiB: round2(dataMib(after) - dataMib(baseline)),
      });
    }
    await churn.close();
    result.grownMiB = round2(mib(after) - mib(baseline));
    result.dataGrownMiB = round2(dataMib(after) - dataMib(baseline));
    result.censusAsBefore = sameHoldings(baseline.census, after.census);
    return result;
  } finally {
    await broker.stop();
  }
}

/** The census compared as the test compares it: the router's topic cache fills and empties with the traffic. */
export function sameHoldings(before: CensusCounts, after: CensusCounts): boolean {
  return JSON.stringify({ ...before, cachedRoutes: 0 }) === JSON.stringify({ ...after, cachedRoutes: 0 });
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
