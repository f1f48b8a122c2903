import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { packr } from '../../protocol/codec.js';
import { PROTOCOL_VERSION, SUBPROTOCOLS } from '../../protocol/version.js';
import { spawnBroker } from '../spawn-broker.js';

export interface IdleConnections {
  connections: number;
  /** The broker's resident memory per idle connection, after its hello was answered. */
  lindenKiB: number;
  /** The same for a bare `ws` server that only accepts: the floor a WebSocket costs in Node. */
  bareWsKiB: number;
}

/** Resident memory of process `pid`, from /proc (Linux). */
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? NaN) * 1024;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 2_000));

/**
 * Opens `count` WebSocket connections to `url`, `concurrency` at a time, each saying hello
 * (Linden) or nothing (bare ws), and keeps them open; returns them.
 */
async function openIdle(url: string, count: number, hello: boolean, concurrency = 200): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  const frame = packr.pack([{ t: 'hello', id: 1, v: PROTOCOL_VERSION }]);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const ws = new WebSocket(url, hello ? [SUBPROTOCOLS.msgpack] : []);
      await new Promise<void>((resolve, reject) => {
        ws.once('error', reject);
        ws.once('open', () => {
          if (!hello) return resolve();
          ws.once('message', () => resolve());
          ws.send(frame);
        });
      });
      sockets.push(ws);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return sockets;
}

async function perConnection(url: string, pid: number, count: number, hello: boolean): Promise<number> {
  const warm = await openIdle(url, 100, hello);
  await settle();
  const before = rssBytes(pid);
  const sockets = await openIdle(url, count, hello);
  await settle();
  const after = rssBytes(pid);
  for (const ws of [...warm, ...sockets]) ws.terminate();
  return Math.round(((after - before) / count / 1024) * 10) / 10;
}

/** Broker memory per idle connection at `count` connections (the figure is at 15,000). */
export async function idleConnections(count: number): Promise<IdleConnections> {
  const broker = await spawnBroker({ maxConnections: count + 1_000, maxConnectionsPerAddress: count + 1_000 });
  let lindenKiB: number;
  try {
    lindenKiB = await perConnection(broker.url, broker.child.pid!, count, true);
  } finally {
    await broker.stop();
  }
  const bare = spawn(process.execPath, ['--input-type=module', '-e', BARE_WS_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [port] = await new Promise<string[]>((resolve) => createInterface({ input: bare.stdout }).once('line', (l) => resolve([l])));
    const bareWsKiB = await perConnection(`ws://127.0.0.1:${port}`, bare.pid!, count, false);
    return { connections: count, lindenKiB, bareWsKiB };
  } finally {
    bare.kill();
  }
}

const BARE_WS_SERVER = `
import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('listening', () => console.log(wss.address().port));
`;
