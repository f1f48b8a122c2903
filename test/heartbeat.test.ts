/**
 * The SDK's heartbeat against a protocol-level fake broker that welcomes a client and then goes
 * silent: the client gives up on the socket, reconnects once, and never leaves a second socket
 * open (issue 20, item 20).
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { connect, type StatusEvent } from '../client-sdk/index.js';
import { SUBPROTOCOLS } from '../protocol/version.js';
import { Heartbeat } from '../client-sdk/heartbeat.js';
import { until } from './helpers/setup.js';

/** Answers hello with welcome (heartbeat 40 ms) and then nothing at all: a broker that hangs. */
async function silentBroker(): Promise<{ url: string; sockets: WebSocket[]; close(): Promise<void> }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => SUBPROTOCOLS.json });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const sockets: WebSocket[] = [];
  server.on('connection', (ws) => {
    sockets.push(ws);
    ws.once('message', (data: Buffer) => {
      const [hello] = JSON.parse(data.toString()) as [{ id: number }];
      ws.send(JSON.stringify([{
        t: 'welcome', re: hello.id, v: 1, connectionId: `fake-${sockets.length}`, server: { name: 'fake', version: '0' },
        limits: { maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20, maxSubscriptions: 10, maxPendingBytes: 1 << 20, maxTopicLength: 512, maxTimeoutMs: 60_000 },
        heartbeatMs: 40,
      }]));
    });
  });
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sockets,
    close: () => new Promise<void>((resolve) => {
      for (const ws of server.clients) ws.terminate();
      server.close(() => resolve());
    }),
  };
}

test('a heartbeat timeout closes the silent socket once and opens exactly one new one', async () => {
  const fake = await silentBroker();
  const client = await connect(fake.url, { codec: 'json', reconnect: { initialDelayMs: 150, maxDelayMs: 150 } });
  const events: StatusEvent[] = [];
  const feed = (async () => { for await (const e of client.status()) events.push(e); })();
  try {
    // The first socket's close handshake completes well within the reconnect delay, so a second
    // run of the close path would show as a second 'reconnecting' before the next 'connected'.
    await until(() => fake.sockets[0]!.readyState === fake.sockets[0]!.CLOSED, 5_000);
    await until(() => events.some((e) => e.type === 'connected'), 5_000);
    expect(events.slice(0, 3).map((e) => e.type)).toEqual(['disconnected', 'reconnecting', 'connected']);
    expect(events[0]).toMatchObject({ type: 'disconnected', code: 4005 });
    expect(fake.sockets).toHaveLength(2);
    expect(fake.sockets.filter((ws) => ws.readyState === ws.OPEN)).toHaveLength(1);
  } finally {
    await client.close();
    await feed;
    await fake.close();
  }
});

/** Blocks the event loop, as a page put to sleep does: no timer runs meanwhile. */
function sleepHard(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) { /* the page is asleep */ }
}

describe('Heartbeat in a page whose timers sleep', () => {
  test('a tick that comes late sends a fresh ping instead of counting the old one as lost', async () => {
    const heartbeat = new Heartbeat();
    const events: string[] = [];
    let slept = false;
    heartbeat.start(100, () => {
      events.push('ping');
      // Asleep right after the first ping went out, for five intervals: its answer cannot count.
      if (!slept) { slept = true; sleepHard(500); }
    }, () => events.push('silent'));
    try {
      await until(() => events.includes('silent'), 5_000);
      // The late tick pinged again; only a ping unanswered on time ended the connection (a
      // busy machine may make another tick late, hence no exact count).
      expect(events.slice(0, 2)).toEqual(['ping', 'ping']);
      expect(events.indexOf('silent')).toBe(events.length - 1);
    } finally {
      heartbeat.stop();
    }
  });

  test('a connection that answers is never dropped, however long the page sleeps', async () => {
    const heartbeat = new Heartbeat();
    const events: string[] = [];
    heartbeat.start(100, () => {
      events.push('ping');
      if (events.length % 2 === 0) sleepHard(300);
      setTimeout(() => heartbeat.seen(), 1); // the broker's pong
    }, () => events.push('silent'));
    try {
      await until(() => events.length >= 6, 10_000);
      expect(events).not.toContain('silent');
    } finally {
      heartbeat.stop();
    }
  });

  test('a probe (the page woke, the network came back) gives up on a socket that does not answer within its grace', async () => {
    // A grace of 300 ms: a probe's timer more than twice its grace late counts as a page that
    // slept, not as silence, and a 30 ms grace was that late once on a loaded machine.
    const GRACE_MS = 300;
    const heartbeat = new Heartbeat();
    const events: string[] = [];
    heartbeat.start(60_000, () => events.push('ping'), () => events.push('silent'));
    try {
      heartbeat.probe(GRACE_MS);
      await until(() => events.includes('silent'), 5_000);
      expect(events).toEqual(['ping', 'silent']);
      events.length = 0;
      heartbeat.start(60_000, () => { events.push('ping'); setTimeout(() => heartbeat.seen(), 1); }, () => events.push('silent'));
      heartbeat.probe(GRACE_MS);
      heartbeat.probe(GRACE_MS); // a second probe replaces the first
      await until(() => events.length === 2, 5_000);
      // Answered: a further probe finds it alive too (waiting past the grace of the last one).
      let done = false;
      setTimeout(() => { done = true; }, GRACE_MS + 100);
      await until(() => done, 5_000);
      expect(events).toEqual(['ping', 'ping']);
    } finally {
      heartbeat.stop();
    }
  });
});
