/**
 * What counts as progress for the write deadline (server/output-stall.ts, protocol.md §11): a
 * write completing, or the kernel taking part of the write in progress. First on socket figures
 * set by hand, then on a real loopback socket whose peer stops reading and starts again.
 */
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { OutputStall } from '../server/output-stall.js';

/** The three figures OutputStall reads from a socket. */
function socketAt(bytesWritten: number, writableLength: number, writeQueueSize?: number): Socket {
  return { bytesWritten, writableLength, _handle: writeQueueSize === undefined ? {} : { writeQueueSize } } as unknown as Socket;
}

test('over budget with nothing taken, the stall grows from the last look that saw progress; progress or an emptier buffer ends it', () => {
  const stall = new OutputStall(0);
  // 10 MB handed to the socket, one write of 8 MB in progress with 6 MB of it left.
  expect(stall.observe(socketAt(10e6, 10e6, 6e6), true, 100)).toBe(0); // first look: moved from nothing
  expect(stall.observe(socketAt(10e6, 10e6, 6e6), true, 200)).toBe(100);
  expect(stall.observe(socketAt(10.1e6, 10.1e6, 6e6), true, 300)).toBe(200); // more queued is not progress
  expect(stall.stalledMs(350)).toBe(250);
  // The kernel took 1 byte of the write in progress: the clock starts again.
  expect(stall.observe(socketAt(10.1e6, 10.1e6, 6e6 - 1), true, 400)).toBe(0);
  expect(stall.observe(socketAt(10.1e6, 10.1e6, 6e6 - 1), true, 500)).toBe(100);
  // That write completed and the next one (bigger, just begun) leaves more in libuv: still progress.
  expect(stall.observe(socketAt(10.1e6, 2.1e6, 7e6), true, 600)).toBe(0);
  expect(stall.observe(socketAt(10.1e6, 2.1e6, 7e6), true, 700)).toBe(100);
  // Under budget is never stalled, moving or not.
  expect(stall.observe(socketAt(10.1e6, 2.1e6, 7e6), false, 800)).toBe(0);
  expect(stall.stalledMs(5_000)).toBe(0);
});

test('a handle without writeQueueSize (TLS) is judged on completed writes', () => {
  const stall = new OutputStall(0);
  stall.observe(socketAt(5e6, 5e6), true, 100);
  expect(stall.observe(socketAt(5e6, 5e6), true, 200)).toBe(100);
  expect(stall.observe(socketAt(5e6, 4e6), true, 300)).toBe(0);
  expect(stall.observe(socketAt(5e6, 4e6), true, 400)).toBe(100);
  expect(stall.observe(undefined, true, 500)).toBe(0); // no socket (closing): nothing waits on one
});

test('on a loopback socket: stuck while the peer reads nothing, moving as soon as it reads', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  client.pause();
  const [socket] = await accepted;
  try {
    const MiB = 1024 * 1024;
    socket.write(Buffer.alloc(48 * MiB)); // far more than loopback TCP buffers hold
    const stall = new OutputStall(0);
    // The kernel fills its buffers, then takes nothing: a look that finds no change since the last one.
    let now = 0;
    while (stall.observe(socket, true, (now += 100)) === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(stall.observe(socket, true, now + 10_000)).toBeGreaterThanOrEqual(10_000);

    // It reads 24 MiB, more than those buffers held: the kernel took part of the write since the last look.
    let read = 0;
    client.on('data', (chunk: Buffer) => {
      read += chunk.length;
      if (read >= 24 * MiB) client.pause();
    });
    client.resume();
    while (read < 24 * MiB) await once(client, 'data');
    expect(stall.observe(socket, true, now + 20_000)).toBe(0);
  } finally {
    client.destroy();
    socket.destroy();
    server.close();
  }
});
