import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import { packr } from '../../protocol/codec.js';
import { SUBPROTOCOLS, type CodecName } from '../../protocol/version.js';

/**
 * A raw protocol client for black-box tests: it speaks frames straight over `ws`, never through
 * the SDK, so a test can send anything (bad types, garbage bytes, wrong frame kinds) and see
 * exactly what the broker answers. Nothing here sleeps: every wait is on a socket event, with a
 * guard timeout only so a failing test says what it saw instead of hanging.
 */

/** A message from the broker (the broker always sends an array of these per frame). */
export interface Received {
  t: string;
  [field: string]: any;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

const DEFAULT_WAIT_MS = 5_000;

export function subprotocolOf(codec: CodecName): string {
  return SUBPROTOCOLS[codec];
}

export class RawClient {
  /** Every message received, in arrival order. */
  readonly messages: Received[] = [];
  /** Protocol violations seen on the receiving side (non-array frame, wrong frame kind, undecodable). */
  readonly violations: string[] = [];
  /** Resolves once the socket has closed, with the close code and reason. */
  readonly closed: Promise<CloseInfo>;
  readonly opened: Promise<void>;
  isClosed = false;
  closeInfo: CloseInfo | undefined;

  private readonly taken = new Set<number>();
  private waiters: Array<() => void> = [];
  private nextRequestId = 1_000_000;

  /** `requested`: the codec whose subprotocol was offered alone; otherwise the one the broker picks. */
  constructor(readonly ws: WebSocket, private readonly requested?: CodecName) {
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        reject(new Error(`upgrade refused with HTTP ${res.statusCode}`));
        res.resume();
        ws.terminate();
      });
      ws.once('error', reject);
    });
    this.opened.catch(() => undefined);
    this.closed = new Promise((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.isClosed = true;
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
        this.wake();
      });
    });
    // Errors after the handshake (e.g. a close with a bad frame) must not become unhandled.
    ws.on('error', () => undefined);
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
  }

  /** The codec this client speaks: the one asked for, or the one of the subprotocol the broker picked. */
  get codec(): CodecName | undefined {
    if (this.requested) return this.requested;
    return this.ws.protocol === SUBPROTOCOLS.msgpack ? 'msgpack' : this.ws.protocol === SUBPROTOCOLS.json ? 'json' : undefined;
  }

  /** The subprotocol the broker picked ('' when none). */
  get protocol(): string {
    return this.ws.protocol;
  }

  /** A fresh request id, far from the small ids tests pick by hand. */
  id(): number {
    return this.nextRequestId++;
  }

  /** Payload as it must travel in `data` on this client's codec (MessagePack: bin of the encoded value). */
  data(value: unknown): unknown {
    return this.codec === 'msgpack' ? packr.pack(value) : value;
  }

  /** The value of a received `data` field. */
  decodeData(wire: unknown): unknown {
    return this.codec === 'msgpack' ? packr.unpack(wire as Uint8Array) : wire;
  }

  /** Sends one message or an array of them as one frame, encoded with this client's codec. */
  send(message: object | object[]): void {
    if (this.codec === 'msgpack') this.ws.send(packr.pack(message), { binary: true });
    else this.ws.send(JSON.stringify(message), { binary: false });
  }

  /** Sends bytes or text as they are, in a binary or text frame. */
  sendRaw(data: string | Uint8Array, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /**
   * The first received message matching `predicate` that no earlier next() returned; waits for
   * it when it has not arrived yet. Rejects when the socket closes first or after `timeoutMs`.
   */
  next(predicate: (m: Received) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<Received> {
    return new Promise((resolve, reject) => {
      const look = (): boolean => {
        for (let i = 0; i < this.messages.length; i++) {
          if (this.taken.has(i)) continue;
          const m = this.messages[i]!;
          if (predicate(m)) {
            this.taken.add(i);
            resolve(m);
            return true;
          }
        }
        if (this.isClosed) {
          reject(new Error(`socket closed (${JSON.stringify(this.closeInfo)}) before the awaited message; received ${this.describe()}`));
          return true;
        }
        return false;
      };
      if (look()) return;
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching message within ${timeoutMs} ms; received ${this.describe()}`));
      }, timeoutMs);
      const waiter = (): void => {
        if (!look()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== waiter);
      };
      this.waiters.push(waiter);
    });
  }

  /** The first unread message matching `predicate` that has already arrived (no waiting), or undefined. */
  poll(predicate: (m: Received) => boolean): Received | undefined {
    for (let i = 0; i < this.messages.length; i++) {
      if (this.taken.has(i) || !predicate(this.messages[i]!)) continue;
      this.taken.add(i);
      return this.messages[i];
    }
    return undefined;
  }

  /** The reply (ok, err, welcome, pong, receipt) naming request `id` in `re`. */
  reply(id: number, timeoutMs?: number): Promise<Received> {
    return this.next((m) => m.re === id && m.t !== 'msg', timeoutMs);
  }

  /** The next `err` frame, optionally with a given code. */
  error(code?: string, timeoutMs?: number): Promise<Received> {
    return this.next((m) => m.t === 'err' && (code === undefined || m.code === code), timeoutMs);
  }

  /** Sends a message carrying `id` and resolves with its reply. */
  async call(message: { id: number; [field: string]: unknown }, timeoutMs?: number): Promise<Received> {
    this.send(message);
    return this.reply(message.id, timeoutMs);
  }

  /** hello -> welcome. */
  async hello(fields: Record<string, unknown> = {}): Promise<Received> {
    const welcome = await this.call({ t: 'hello', id: this.id(), v: 1, ...fields });
    if (welcome.t !== 'welcome') throw new Error(`hello answered with ${JSON.stringify(welcome)}`);
    return welcome;
  }

  /**
   * A barrier: ping and wait for its pong. The broker handles a connection's messages in order
   * and writes its answers in order, so every answer to what was sent before has arrived by now.
   */
  async sync(): Promise<void> {
    const reply = await this.call({ t: 'ping', id: this.id() });
    if (reply.t !== 'pong') throw new Error(`ping answered with ${JSON.stringify(reply)}`);
  }

  /** Received messages not returned by next() yet. */
  unread(): Received[] {
    return this.messages.filter((_m, i) => !this.taken.has(i));
  }

  /** Closes the socket (terminates it if it is not open) and waits for the close. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else this.ws.terminate();
    const timer = setTimeout(() => this.ws.terminate(), 2_000);
    await this.closed;
    clearTimeout(timer);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    let decoded: unknown;
    try {
      decoded = isBinary ? packr.unpack(data) : JSON.parse(data.toString('utf8'));
    } catch (err) {
      this.violations.push(`undecodable ${isBinary ? 'binary' : 'text'} frame: ${(err as Error).message}`);
      return;
    }
    const expectBinary = this.codec === 'msgpack';
    if (this.codec !== undefined && isBinary !== expectBinary) {
      this.violations.push(`${isBinary ? 'binary' : 'text'} frame on the ${this.codec} subprotocol`);
    }
    // protocol.md §2: a MessagePack message of 16 KiB or more may come bare, in a frame of its own.
    if (!Array.isArray(decoded)) {
      if (!(isBinary && data.length >= 16 * 1024)) this.violations.push(`frame is not an array: ${safeJson(decoded)}`);
      decoded = [decoded];
    }
    for (const message of decoded as unknown[]) {
      if (typeof message !== 'object' || message === null || typeof (message as { t?: unknown }).t !== 'string') {
        this.violations.push(`message without a type: ${safeJson(message)}`);
        continue;
      }
      this.messages.push(message as Received);
    }
    this.wake();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private describe(): string {
    const list = this.messages.map((m, i) => (this.taken.has(i) ? '(taken) ' : '') + safeJson(m));
    return `[${list.join(', ')}]`;
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? `<${v.length} bytes>` : v,
    ) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Opens raw clients and closes them all at the end of a test:
 * `const raw = rawClients(); afterEach(() => raw.closeAll());`.
 */
export interface RawClients {
  /**
   * Opens a socket offering `protocols`: a codec name offers its subprotocol, an array offers
   * those strings as they are, undefined offers none. Resolves once the WebSocket is open.
   * `options` go to `ws` (a `localAddress` to connect from, say).
   */
  open(url: string, protocols?: CodecName | string[], options?: ClientOptions): Promise<RawClient>;
  /** open() then hello -> welcome. */
  connect(url: string, codec: CodecName): Promise<RawClient>;
  /** Every protocol violation any client of this pool saw. */
  violations(): string[];
  closeAll(): Promise<void>;
}

export function rawClients(): RawClients {
  const clients: RawClient[] = [];
  const pool: RawClients = {
    async open(url, protocols, options = {}) {
      const offered = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [subprotocolOf(protocols)];
      const ws = new WebSocket(url, offered, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024, ...options });
      const codec: CodecName | undefined = typeof protocols === 'string' ? protocols : undefined;
      const client = new RawClient(ws, codec);
      clients.push(client);
      await client.opened;
      return client;
    },
    async connect(url, codec) {
      const client = await pool.open(url, codec);
      await client.hello();
      return client;
    },
    violations() {
      return clients.flatMap((c) => c.violations);
    },
    async closeAll() {
      await Promise.all(clients.splice(0).map((c) => c.close()));
    },
  };
  return pool;
}

/**
 * Attempts an upgrade that the broker is expected to refuse in HTTP; resolves with the status
 * code and body of the response ('unexpected-response'), rejects if the socket opens instead.
 * `options` go to `ws` (an `origin`, a `ca`).
 */
export function refusedUpgrade(url: string, protocols: string[], options: ClientOptions = {}): Promise<{ statusCode: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, ...options });
    ws.on('error', () => undefined);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`the broker accepted the upgrade (subprotocol "${ws.protocol}")`));
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => {
        ws.terminate();
        resolve({ statusCode: res.statusCode ?? 0, body });
      });
    });
  });
}
