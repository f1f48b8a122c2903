import type { Command } from 'commander';
import type { ConnectionView, QueueView, SpaceView } from '../../server/admin/views.js';
import { action, EXIT, finish, printJson } from '../common.js';
import { addInspectOptions, fetchApi, type InspectFlags } from './inspect-api.js';
import { bytes, fields } from './inspect-format.js';

interface Health {
  status: string;
  store: string;
  durable: boolean;
}

/** What `linden stats --json` prints; its field names are as stable as the API's. */
export interface BrokerStats {
  status: string;
  store: string;
  durable: boolean;
  /** `stalled`: connections whose output is over maxPendingBytes with none of it taken (closed at writeDeadlineMs). */
  connections: { count: number; pendingBytes: number; stalled: number; messagesIn: number; messagesOut: number };
  queues: { count: number; depth: number; inFlight: number; bytes: number; deadLetters: number; stalled: { name: string; reason: string }[] };
  spaces: { count: number; tuples: number; bytes: number; waiting: number };
}

/** `linden stats`: one screen answering "is the broker healthy, and is anything stuck?". */
export function register(program: Command): void {
  const command = program
    .command('stats')
    .description('summarise the broker: store, connections, queue totals and stalled queues, space totals');
  addInspectOptions(command).action(action(stats));
}

async function stats(flags: InspectFlags): Promise<void> {
  // Health first: an unreachable broker is reported once, not by four requests.
  const health = await fetchApi<Health>(flags, '/healthz');
  const [queues, spaces, connections] = await Promise.all([
    fetchApi<QueueView[]>(flags, '/api/queues'),
    fetchApi<SpaceView[]>(flags, '/api/spaces'),
    fetchApi<ConnectionView[]>(flags, '/api/connections'),
  ]);
  const s = summarise(health, queues, spaces, connections);
  if (flags.json) {
    printJson(s);
  } else {
    const stalled = s.queues.stalled.map((q) => `${q.name} (${q.reason})`).join(', ') || 'none';
    process.stdout.write(fields([
      ['status', `${s.status}, store ${s.store}${s.durable ? ' (durable)' : ' (memory only: lost on restart)'}`],
      ['connections', `${s.connections.count}, ${bytes(s.connections.pendingBytes)} pending, ${s.connections.stalled} stalled, ${s.connections.messagesIn} in, ${s.connections.messagesOut} out`],
      ['queues', `${s.queues.count}: ${s.queues.depth} ready, ${s.queues.inFlight} in flight, ${s.queues.deadLetters} dead letter${s.queues.deadLetters === 1 ? '' : 's'}, ${bytes(s.queues.bytes)}`],
      ['stalled', stalled],
      ['spaces', `${s.spaces.count}: ${s.spaces.tuples} tuples, ${bytes(s.spaces.bytes)}, ${s.spaces.waiting} waiting`],
    ]));
  }
  finish(EXIT.OK);
}

function summarise(health: Health, queues: QueueView[], spaces: SpaceView[], connections: ConnectionView[]): BrokerStats {
  const sum = <T>(list: T[], f: (x: T) => number) => list.reduce((n, x) => n + f(x), 0);
  // Dead-letter queues count as queues, but their messages count once, as dead letters.
  const main = queues.filter((q) => q.pattern !== null);
  return {
    status: health.status,
    store: health.store,
    durable: health.durable,
    connections: {
      count: connections.length,
      pendingBytes: sum(connections, (c) => c.pendingBytes),
      stalled: connections.filter((c) => c.stalledMs > 0).length,
      messagesIn: sum(connections, (c) => c.messagesIn),
      messagesOut: sum(connections, (c) => c.messagesOut),
    },
    queues: {
      count: queues.length,
      depth: sum(main, (q) => q.depth),
      inFlight: sum(main, (q) => q.inFlight),
      bytes: sum(queues, (q) => q.bytes),
      deadLetters: sum(main, (q) => q.deadLetters),
      stalled: queues.filter((q) => q.stalled !== null).map((q) => ({ name: q.name, reason: q.stalled! })),
    },
    spaces: {
      count: spaces.length,
      tuples: sum(spaces, (x) => x.tuples),
      bytes: sum(spaces, (x) => x.bytes),
      waiting: sum(spaces, (x) => x.waiting),
    },
  };
}
