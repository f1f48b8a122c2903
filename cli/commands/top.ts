import { setTimeout as sleep } from 'node:timers/promises';
import { Option, type Command } from 'commander';
import type { ConnectionView, QueueView, SpaceView } from '../../server/admin/views.js';
import { action, CliError, EXIT, finish, integer, printJson, type BrokerFlags } from '../common.js';
import { addInspectOptions, fetchApi } from './inspect-api.js';
import { rate, table } from './inspect-format.js';

interface TopFlags extends BrokerFlags {
  json?: boolean;
  interval: number;
  once?: boolean;
}

/** One refresh of `linden top`, as `--json` prints it: one line per refresh. */
export interface TopFrame {
  at: number;
  connections: number;
  queues: QueueView[];
  spaces: SpaceView[];
}

// ANSI: cursor home, clear screen. Only on a terminal; piped output gets frames one after another.
const CLEAR = '\x1b[H\x1b[2J';

/** `linden top`: queue and space depths and rates, redrawn until Ctrl-C (read over HTTP). */
export function register(program: Command): void {
  const command = program
    .command('top')
    .description('live view of queue depths and publish/ack rates and of space sizes and out/in rates, redrawn until Ctrl-C')
    .addOption(new Option('--interval <ms>', 'time between refreshes').argParser(integer(10, 3_600_000)).default(1_000))
    .addOption(new Option('--once', 'print one frame and exit'));
  addInspectOptions(command).action(action(top));
}

async function top(flags: TopFlags): Promise<void> {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const clear = process.stdout.isTTY && !flags.once && !flags.json;
  try {
    // The first frame must work: a wrong URL or a broker that is not there exits 1 at once.
    let frame: TopFrame | string = await snapshot(flags);
    for (;;) {
      // With --json, stdout carries frames only (one per line); a broker gone away is said on stderr.
      if (!flags.json) process.stdout.write(`${clear ? CLEAR : ''}${typeof frame === 'string' ? frame : render(flags, frame)}${clear || flags.once ? '' : '\n'}`);
      else if (typeof frame === 'string') process.stderr.write(frame);
      else printJson(frame);
      if (flags.once || stop.signal.aborted) break;
      try {
        await sleep(flags.interval, undefined, { signal: stop.signal });
      } catch {
        break; // Ctrl-C: the normal way out of a live view
      }
      // Later, a broker that went away is shown in place of the tables until it is back.
      frame = await snapshot(flags).catch((err: unknown) => `${err instanceof CliError ? err.message : String(err)} (retrying every ${flags.interval} ms)\n`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  finish(EXIT.OK);
}

async function snapshot(broker: BrokerFlags): Promise<TopFrame> {
  const [queues, spaces, connections] = await Promise.all([
    fetchApi<QueueView[]>(broker, '/api/queues'), fetchApi<SpaceView[]>(broker, '/api/spaces'), fetchApi<ConnectionView[]>(broker, '/api/connections'),
  ]);
  return { at: Date.now(), connections: connections.length, queues, spaces };
}

export function render(flags: Pick<TopFlags, 'url' | 'interval' | 'once'>, f: TopFrame): string {
  const time = new Date(f.at).toISOString().slice(11, 19);
  const every = flags.once ? '' : `, every ${flags.interval} ms (Ctrl-C to quit)`;
  const head = `linden top  ${flags.url}  ${time} UTC${every}\nconnections: ${f.connections}  queues: ${f.queues.length}  spaces: ${f.spaces.length}\n`;
  const queues = table(f.queues, [
    { header: 'QUEUE', value: (q) => q.name },
    { header: 'READY', value: (q) => String(q.depth), right: true },
    { header: 'IN FLIGHT', value: (q) => String(q.inFlight), right: true },
    { header: 'CONSUMERS', value: (q) => String(q.consumers), right: true },
    { header: 'PUB/S', value: (q) => rate(q.publishRate), right: true },
    { header: 'ACK/S', value: (q) => rate(q.ackRate), right: true },
    { header: 'DLQ', value: (q) => String(q.deadLetters), right: true },
    { header: 'STALLED', value: (q) => q.stalled ?? '-' },
  ], 'no queues');
  const spaces = table(f.spaces, [
    { header: 'SPACE', value: (s) => s.name },
    { header: 'TUPLES', value: (s) => String(s.tuples), right: true },
    { header: 'WAITING', value: (s) => String(s.waiting), right: true },
    { header: 'OUT/S', value: (s) => rate(s.outRate), right: true },
    { header: 'IN/S', value: (s) => rate(s.inRate), right: true },
  ], 'no spaces');
  return `${head}\n${queues}\n${spaces}`;
}
