import { spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export type Stream = 'stdout' | 'stderr';

/** A Node script running as a child process, its stdout and stderr collected line by line. */
export class NodeChild {
  readonly child: ChildProcess;
  /** Resolves once the process has exited and both pipes have ended, so all output is in. */
  readonly exited: Promise<Exit>;
  private readonly text = { stdout: '', stderr: '' };
  private readonly waiters: Array<() => void> = [];
  private done = false;

  /**
   * Runs `node script ...args`. The child gets this process's environment without the variables
   * in `unsetEnv` (a developer's own settings must not steer the tests), then `env` on top.
   */
  constructor(readonly script: string, args: string[] = [], env: Record<string, string> = {}, unsetEnv: string[] = []) {
    const base = { ...process.env };
    for (const name of unsetEnv) delete base[name];
    this.child = spawn(process.execPath, [script, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const name of ['stdout', 'stderr'] as const) {
      this.child[name]!.setEncoding('utf8');
      this.child[name]!.on('data', (chunk: string) => {
        this.text[name] += chunk;
        this.wake();
      });
    }
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      // 'close' comes after both pipes have ended, so all output is in by then.
      this.child.once('close', (code, signal) => {
        this.done = true;
        this.wake();
        resolve({ code, signal, ...this.text });
      });
    });
  }

  /** True until the process has exited or been killed by a signal. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Waits for a complete line of `stream`: a string must equal the whole line, and resolves with it;
   * a RegExp resolves with the match of the first line it matches. Rejects if the process ends first.
   */
  line(stream: Stream, match: string): Promise<string>;
  line(stream: Stream, match: RegExp): Promise<RegExpMatchArray>;
  line(stream: Stream, match: string | RegExp): Promise<RegExpMatchArray | string>;
  async line(stream: Stream, match: string | RegExp): Promise<RegExpMatchArray | string> {
    for (;;) {
      for (const l of this.text[stream].split('\n').slice(0, -1)) {
        if (typeof match === 'string') {
          if (l === match) return l;
        } else {
          const m = l.match(match);
          if (m) return m;
        }
      }
      if (this.done) {
        const wanted = typeof match === 'string' ? JSON.stringify(match) : String(match);
        throw new Error(
          `${basename(this.script)} exited without printing ${wanted} on ${stream}\nstdout: ${this.text.stdout}\nstderr: ${this.text.stderr}`,
        );
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/**
 * Remembers the children a test file starts so none outlives its test:
 * `const children = new ChildTracker(); afterEach(() => children.killAll());`.
 */
export class ChildTracker {
  private readonly running = new Set<NodeChild>();
  private closed = false;

  /**
   * Made at the top of a file (not inside a test), it also closes after the file's last test: a
   * test that ran past its timeout goes on after its teardown and may start more children (the
   * next step of a chain of CLI runs); one started after the file is done would hold the Jest
   * worker open ("A worker process has failed to exit gracefully") and outlive the run.
   */
  constructor() {
    if (expect.getState().currentTestName === undefined) afterAll(() => this.close());
  }

  /** Starts a NodeChild (same arguments as its constructor) and tracks it; once closed, kills it at once. */
  spawn(...args: ConstructorParameters<typeof NodeChild>): NodeChild {
    const child = new NodeChild(...args);
    if (this.closed) child.child.kill('SIGKILL');
    else this.running.add(child);
    return child;
  }

  /** killAll(), and every child started from now on is killed as it starts. */
  async close(): Promise<void> {
    this.closed = true;
    await this.killAll();
  }

  /** SIGKILLs every tracked child still running, then waits until all of them have closed. */
  async killAll(): Promise<void> {
    const children = [...this.running];
    this.running.clear();
    for (const c of children) if (c.running) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited.catch(() => undefined)));
  }
}

/** What tests compare of a run that should fail: see failure(). */
export interface Failure {
  code: number | null;
  stdout: string;
  /** stderr split into lines, without the empty string after the last newline. */
  stderr: string[];
  /** Whether stderr holds stack frames ("    at f (file.js:1:2)"). */
  trace: boolean;
}

/**
 * A finished run as tests of expected failures compare it whole: its exit code, stdout, stderr's
 * lines and whether they hold a stack trace. An expected failure is exactly one line on stderr:
 * `expect(failure(exit)).toEqual({ code: 2, stdout: '', stderr: [expect.stringMatching(/^usage/)], trace: false })`.
 */
export function failure(exit: Exit): Failure {
  const lines = exit.stderr.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return { code: exit.code, stdout: exit.stdout, stderr: lines, trace: /^\s+at \S/m.test(exit.stderr) };
}
