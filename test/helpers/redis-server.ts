import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisOptions {
  /** AOF fsync policy (`always`: an acknowledged write survives a crash); default `always`. */
  appendfsync?: 'always' | 'everysec' | 'no';
}

/**
 * A `redis-server` of the test's own: a free port on 127.0.0.1 and a folder of its own, never
 * the machine's shared 6379. AOF is on, so kill() then start() shows what Redis keeps.
 */
export class RedisServer {
  private child: ChildProcess | undefined;

  /**
   * A password of its own: while it is stopped, another test may start a redis-server on the
   * freed port, and this test's brokers, reconnecting, would join that test's cluster (seen in
   * CI as receivers counted from another suite). With the wrong password they stay outside.
   */
  private readonly password = randomBytes(12).toString('hex');

  private constructor(readonly dir: string, readonly port: number, private readonly options: RedisOptions) {}

  get url(): string {
    return `redis://:${this.password}@127.0.0.1:${this.port}`;
  }

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'linden-redis-'));
    // Another process may take the free port before redis-server binds it: try a few.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const server = new RedisServer(dir, await freePort(), options);
      try {
        await server.launch();
        return server;
      } catch (err) {
        lastError = err;
      }
    }
    await rm(dir, { recursive: true, force: true });
    throw lastError;
  }

  /** Starts it again on the same port and folder (after kill() or stop()). */
  async restart(): Promise<void> {
    await this.launch();
  }

  /** SIGKILL: what was not fsynced is gone. */
  async kill(): Promise<void> {
    await this.end('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.end('SIGTERM');
  }

  /** Stops it and removes its folder. */
  async destroy(): Promise<void> {
    await this.end('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--requirepass', this.password,
      '--appendonly', 'yes', '--appendfsync', this.options.appendfsync ?? 'always', '--daemonize', 'no', '--loglevel', 'notice',
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (/Ready to accept connections/.test(output)) {
          child.stdout!.off('data', onData);
          child.stdout!.resume();
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.resume();
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}) before it was ready: ${output.slice(-500)}`)));
    });
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
