import type { Command } from 'commander';
import type { ScheduledView } from '../../server/scheduled/scheduled-records.js';
import { action, connectOrFail, EXIT, finish, printJsonLines, type BrokerFlags } from '../common.js';
import { addInspectOptions, fetchApi, type InspectFlags } from './inspect-api.js';
import { bytes, table } from './inspect-format.js';

// A broker that accepts the connection but never answers must not hang a script.
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * `linden scheduled`: the scheduled publishes and outs not yet due, soonest first (GET
 * /api/scheduled, read-only like every view); `linden scheduled cancel <id>` cancels one over
 * the WebSocket protocol (`unschedule`), where the broker checks who may.
 */
export function register(program: Command): void {
  const command = program
    .command('scheduled')
    .description('list scheduled publishes and outs (delay, deliverAt) not yet due: id, topic or space, due time, mode, bytes');
  addInspectOptions(command).action(action(list));
  // Its --url and credentials are those of `scheduled`: commander hands the parent every option it knows.
  command
    .command('cancel')
    .description('cancel a scheduled publish or out by its id (the receipt id of the publish)')
    .argument('<id>', 'the schedule id shown by `linden scheduled` (a message id of your own that begins with - goes after --)')
    .action(action(cancelOne));
}

async function list(flags: InspectFlags): Promise<void> {
  const rows = await fetchApi<ScheduledView[]>(flags, '/api/scheduled');
  if (flags.json) printJsonLines(rows);
  else process.stdout.write(scheduledTable(rows));
  finish(EXIT.OK);
}

export function scheduledTable(rows: readonly ScheduledView[]): string {
  return table(rows, [
    { header: 'ID', value: (r) => r.id },
    { header: 'KIND', value: (r) => r.kind },
    { header: 'TOPIC/SPACE', value: (r) => r.target },
    { header: 'DUE', value: (r) => r.due },
    { header: 'MODE', value: (r) => r.mode },
    { header: 'BYTES', value: (r) => bytes(r.bytes), right: true },
  ], 'nothing scheduled');
}

async function cancelOne(id: string, _options: unknown, cancel: Command): Promise<void> {
  const flags = cancel.parent!.opts<BrokerFlags>();
  const client = await connectOrFail(flags, { reconnect: false, connectTimeoutMs: ANSWER_TIMEOUT_MS });
  try {
    await client.cancelScheduled(id);
  } finally {
    await client.close();
  }
  process.stderr.write(`scheduled ${id} cancelled\n`);
  finish(EXIT.OK);
}
