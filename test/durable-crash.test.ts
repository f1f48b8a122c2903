/**
 * Persistent delivery under SIGKILL (issue #4): a broker in a child process (`linden serve
 * --data`) takes persistent publishes from publishers in this process while a consumer takes
 * some and acks some; it is killed at a random moment and restarted on the same folder, on a
 * new port, several times. After each restart a consumer drains the queue and the ledger
 * (helpers/crash-ledger.ts) checks that every message a publisher was told is stored arrives,
 * in per-publisher order, and that the only duplicates are messages whose consumer ack was not
 * known to be on disk. A failure names its seed: CRASH_SEED=<seed> replays the same kill points.
 * A second run keeps the consumer to a few messages in flight while the publishers outpace it:
 * the queue's backlog grows past its window on disk and the window advances as the consumer
 * acks, when the kill comes (issue 21).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client, type LindenError, type Message } from '../client-sdk/index.js';
import { ChildTracker, type NodeChild } from './helpers/child-process.js';
import { CrashLedger, keyOf, orderViolations, type Body, type DrainReport } from './helpers/crash-ledger.js';
import { CLI_MAIN, serveProcess } from './helpers/serve-process.js';
import { requireBuilt } from './helpers/built.js';

/**
 * Kills per run: `npm test` runs 2 (and 1 with the backlog), `npm run fuzz` the long version,
 * 4 and 2 (CRASH_CYCLES). The kill points come from the seed either way.
 */
const CYCLES = Number(process.env.CRASH_CYCLES ?? 2);
const PUBLISHERS = 2;
/** Publishes each publisher keeps outstanding, so a kill always finds some unanswered. */
const IN_FLIGHT = 32;
/** The kill comes after a random number of receipts in this range, counted in the cycle. */
const KILL_AFTER: [number, number] = [100, 3_000];
/** Share of live deliveries the consumer acks; the rest it holds unacked when the broker dies. */
const ACK_RATIO = 0.6;
const QUEUE = 'crash';
const PATTERN = 'crash.>';
const TOPIC = 'crash.orders';
/** Bounds waits that only a bug would make long, so a hang fails with a message. */
const SETTLE_MS = 10_000;

const seed = Number(process.env.CRASH_SEED ?? Date.now() % 2 ** 31);
// Two streams: how many acks the consumer draws depends on timing, and must not shift the kill points.
const killRandom = mulberry32(seed);
const ackRandom = mulberry32(seed ^ 0x5bd1e995);
const children = new ChildTracker();
let dataDir: string;

beforeAll(() => {
  requireBuilt(CLI_MAIN);
});
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'linden-crash-'));
});
afterEach(async () => {
  await children.killAll();
  await rm(dataDir, { recursive: true, force: true });
});

interface PublishOutcomes {
  receipts: number;
  /** Rejections by error code: DISCONNECTED (sent, no answer) and CLOSED (still buffered at close) are the honest ones. */
  rejected: Record<string, number>;
}

/** How the consumer takes live deliveries between kills. */
interface Scenario {
  cycles: number;
  killAfter: [number, number];
  ackRatio: number;
  /** The queue's maxInFlight during the load (a drain takes everything at once). */
  maxInFlight?: number;
}

const KEEPING_UP: Scenario = { cycles: CYCLES, killAfter: KILL_AFTER, ackRatio: ACK_RATIO };
/** Past the window (1,024 ready messages in memory) most cycles, the consumer acking as fast as 8 in flight allow. */
const OUTPACED: Scenario = { cycles: Math.max(1, Math.round(CYCLES / 2)), killAfter: [1_500, 5_000], ackRatio: 1, maxInFlight: 8 };

/** Each cycle starts a broker, loads it and kills it: on a busy machine one can take 20 s. */
const PER_CYCLE_MS = 30_000;

test(`every acknowledged persistent message survives ${CYCLES} SIGKILLs of the broker (seed ${seed})`, () => crashes(KEEPING_UP), KEEPING_UP.cycles * PER_CYCLE_MS);

test(`...and ${OUTPACED.cycles} more with a backlog on disk whose window advances as the consumer acks (seed ${seed})`, () => crashes(OUTPACED), OUTPACED.cycles * PER_CYCLE_MS);

async function crashes(scenario: Scenario): Promise<void> {
  const CYCLES = scenario.cycles;
  const ledger = new CrashLedger();
  const violations: string[] = [];
  const summary: string[] = [];
  for (let cycle = 0; cycle <= CYCLES; cycle++) {
    const broker = await serveProcess(children, ['--data', dataDir, '--log-level', 'warn']);
    // No reconnection: the broker comes back on another port, and a dead consumer must not linger.
    const consumer = await connect(broker.url, { name: `crash-consumer-${cycle}`, reconnect: false });
    if (cycle === 0) {
      // Unacked deliveries must wait out the crash, not time out or hit maxInFlight meanwhile.
      await consumer.createQueue(QUEUE, PATTERN, { ackWait: 600_000, maxInFlight: 1_000_000, maxDeliveries: 100 });
    } else if (scenario.maxInFlight !== undefined) {
      await consumer.createQueue(QUEUE, PATTERN, { maxInFlight: 1_000_000 });
    }
    const { report: drain, deliveries } = await drainQueue(consumer, ledger, cycle);
    violations.push(...drain.violations.map((v) => `cycle ${cycle}: ${v}`));
    const d = drain.duplicates;
    const line = `cycle ${cycle}: drained ${drain.drained} with the marker (duplicates: ${d.unacked} unacked, ${d.ackSent} ack sent, ${d.ackHandled} ack handled but not known committed; ${drain.storedWithoutReceipt} stored without receipt)`;
    if (cycle === CYCLES) {
      summary.push(line);
      await consumer.close();
      break;
    }
    if (scenario.maxInFlight !== undefined) await consumer.createQueue(QUEUE, PATTERN, { maxInFlight: scenario.maxInFlight });
    const load = await loadUntilKilled(broker.child, consumer, deliveries, ledger, cycle, scenario);
    violations.push(...load.violations.map((v) => `cycle ${cycle}: ${v}`));
    summary.push(`${line}; then ${load.receipts} receipts before SIGKILL at ${load.killAfter}, ${load.delivered} delivered live, ${load.acked} acked; rejected ${JSON.stringify(load.rejected)}`);
  }
  console.log(`durable crash test, seed ${seed}:\n${summary.join('\n')}`);
  expect(violations).toEqual([]);
}

/**
 * Attaches to the queue and takes everything it holds: a marker published now is stored after
 * every message already there and the queue hands messages out oldest first, so its arrival
 * means the rest has arrived. Checks the haul with the ledger and acks it all.
 */
async function drainQueue(consumer: Client, ledger: CrashLedger, cycle: number): Promise<{ report: DrainReport; deliveries: AsyncIterator<Message<Body>> }> {
  const sub = consumer.subscribe<Body>(PATTERN, { durable: QUEUE });
  await sub.ready;
  const marker: Body = { p: 'marker', n: cycle };
  const ordinal = ledger.publishing(marker);
  await consumer.publish(TOPIC, marker, { mode: 'persistent', ack: 'submission' });
  ledger.receipted(marker, ordinal);
  const it = sub[Symbol.asyncIterator]();
  const held: Message<Body>[] = [];
  for (;;) {
    const next = await withDeadline(it.next(), `the marker of cycle ${cycle} did not arrive`);
    if (next.done) throw new Error('the subscription ended while draining');
    held.push(next.value);
    if (keyOf(next.value.data) === keyOf(marker)) break;
  }
  const report = ledger.drained(held.map((m) => m.data));
  for (const m of held) {
    m.ack();
    ledger.ackSent(m.data);
  }
  if (!(await confirmAcks(consumer, ledger, held.map((m) => keyOf(m.data))))) throw new Error('the broker went away while draining');
  // The same subscription carries the live deliveries of the load that follows.
  return { report, deliveries: it };
}

/**
 * Publishers keep IN_FLIGHT persistent publishes each outstanding; the consumer takes the live
 * deliveries and acks some. The broker is SIGKILLed the moment the cycle's receipts reach a
 * random count. Then every publish must settle: a receipt, or a rejection that says no receipt
 * is coming. None may hang, and no receipt may arrive for a message that is then lost.
 */
async function loadUntilKilled(
  broker: NodeChild, consumer: Client, deliveries: AsyncIterator<Message<Body>>, ledger: CrashLedger, cycle: number, { killAfter: range, ackRatio }: Scenario,
) {
  const killAfter = range[0] + Math.floor(killRandom() * (range[1] - range[0]));
  const violations: string[] = [];
  const outcomes: PublishOutcomes = { receipts: 0, rejected: {} };
  let killed = false;
  const live: Body[] = [];
  let acked = 0;

  // The consumer: takes live deliveries until the broker dies under it.
  const unconfirmed: string[] = [];
  let wake: (() => void) | undefined;
  const consuming = (async () => {
    for (;;) {
      // The broker's death ends the subscription with DISCONNECTED.
      const next = await deliveries.next().catch(() => ({ done: true as const, value: undefined }));
      if (next.done) return;
      const m = next.value;
      ledger.deliveredLive(m.data);
      live.push(m.data);
      if (m.redelivered) violations.push(`${keyOf(m.data)} arrived live with deliveryCount ${m.deliveryCount}: nothing should be redelivered before the crash`);
      if (ackRandom() < ackRatio) {
        m.ack();
        ledger.ackSent(m.data);
        acked++;
        unconfirmed.push(keyOf(m.data));
        wake?.();
      }
    }
  })();
  // Ping round trips behind the acks tell the ledger which acks the broker has processed.
  const confirming = (async () => {
    while (!killed) {
      if (unconfirmed.length === 0) {
        await new Promise<void>((resolve) => { wake = resolve; });
        continue;
      }
      if (!(await confirmAcks(consumer, ledger, unconfirmed.splice(0)))) return;
    }
  })();

  const publishers = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) =>
    connect(consumer.url, { name: `crash-pub-${i}`, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } })));
  const disconnected = publishers.map((c) => waitForStatus(c, 'disconnected'));
  const start = ledger.receiptCount;
  const settled: Promise<void>[] = [];
  publishers.forEach((client, i) => {
    const p = `c${cycle}p${i}`;
    let n = 0;
    const issue = (): void => {
      const body: Body = { p, n: n++ };
      const ordinal = ledger.publishing(body);
      settled.push(client.publish(TOPIC, body, { mode: 'persistent', ack: 'submission' }).then((receipt) => {
        outcomes.receipts++;
        if (receipt.queues?.join() !== QUEUE || receipt.duplicate) violations.push(`${keyOf(body)}: unexpected receipt ${JSON.stringify(receipt)}`);
        ledger.receipted(body, ordinal);
        if (!killed && ledger.receiptCount - start >= killAfter) {
          killed = true;
          broker.child.kill('SIGKILL');
          wake?.();
        }
        if (!killed) issue();
      }, (err: LindenError) => {
        outcomes.rejected[err.code] = (outcomes.rejected[err.code] ?? 0) + 1;
      }));
    };
    for (let k = 0; k < IN_FLIGHT; k++) issue();
  });

  await withDeadline(broker.exited, 'the broker was never killed: did the publishers stall?', 20_000);
  ledger.crashed();
  // Each publisher sees its connection drop: what it had sent is rejected as DISCONNECTED.
  await withDeadline(Promise.all(disconnected), 'a publisher did not notice the broker died');
  await Promise.all([consuming, confirming]);
  // A publish made while the connection is down waits for a reconnection, which never comes
  // (the broker returns on another port): it must stay pending, then close() must reject it.
  const late = publishers.map((client, i) => client.publish(TOPIC, { p: `c${cycle}p${i}`, n: -1 }, { mode: 'persistent', ack: 'submission' })
    .then(() => 'resolved', (err: LindenError) => err.code));
  await new Promise((resolve) => setImmediate(resolve));
  const pending = Symbol('pending');
  for (const outcome of await Promise.all(late.map((p) => Promise.race([p, pending])))) {
    if (outcome !== pending) violations.push(`a publish made while disconnected settled at once: ${String(outcome)}`);
  }
  await Promise.all([consumer.close(), ...publishers.map((c) => c.close())]);
  // What was still buffered is rejected as CLOSED; nothing may stay pending.
  await withDeadline(Promise.all(settled), 'a publish neither resolved nor rejected after its client closed');
  for (const outcome of await withDeadline(Promise.all(late), 'a buffered publish was not rejected by close()')) {
    if (outcome !== 'CLOSED') violations.push(`a buffered publish ended ${outcome} at close(), not CLOSED`);
  }
  for (const code of Object.keys(outcomes.rejected)) {
    if (code !== 'DISCONNECTED' && code !== 'CLOSED') violations.push(`a publish was rejected with ${code}`);
  }
  violations.push(...orderViolations(live, 'live deliveries'));
  return { violations, killAfter, receipts: outcomes.receipts, rejected: outcomes.rejected, delivered: live.length, acked };
}

/**
 * Waits until acks already sent are on the wire, then for a ping round trip behind them; returns
 * false when the connection died first (the acks stay merely sent).
 */
async function confirmAcks(consumer: Client, ledger: CrashLedger, keys: string[]): Promise<boolean> {
  // The SDK writes acks in a microtask; a macrotask later they are ahead of the ping on the wire.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    await consumer.flush();
  } catch {
    return false;
  }
  ledger.acksHandled(keys);
  return true;
}

async function waitForStatus(client: Client, type: 'disconnected'): Promise<void> {
  for await (const event of client.status()) if (event.type === type) return;
}

function withDeadline<T>(promise: Promise<T>, what: string, ms = SETTLE_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} (after ${ms} ms, seed ${seed})`)), ms); });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** A small seeded PRNG, so a failing run can be replayed with CRASH_SEED. */
function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
