import type { Command } from 'commander';
import type { SpaceDetail, SpaceView } from '../../server/admin/views.js';
import { assertName } from '../../protocol/names.js';
import { action, EXIT, finish, printJson, printJsonLines, toJsonText } from '../common.js';
import { addInspectOptions, addPeekOption, fetchApi, type InspectFlags } from './inspect-api.js';
import { bytes, fields, rate, table } from './inspect-format.js';

/** `linden spaces` and `linden space <name>`: tuple spaces, their sizes and who waits on them. */
export function register(program: Command): void {
  const list = program
    .command('spaces')
    .description('list tuple spaces with tuple count, size, waiting in/rd requests and notify subscriptions');
  addInspectOptions(list).action(action(spaces));

  const one = program
    .command('space')
    .description('show one tuple space in detail')
    .argument('<name>', 'space name');
  addPeekOption(one, 'its n oldest tuples');
  addInspectOptions(one).action(action(space));
}

async function spaces(flags: InspectFlags): Promise<void> {
  const list = await fetchApi<SpaceView[]>(flags, '/api/spaces');
  if (flags.json) printJsonLines(list);
  else process.stdout.write(spaceTable(list));
  finish(EXIT.OK);
}

async function space(name: string, flags: InspectFlags & { peek?: number }): Promise<void> {
  assertName('space', name);
  const query = flags.peek === undefined ? '' : `?peek=${flags.peek}`;
  const s = await fetchApi<SpaceDetail>(flags, `/api/spaces/${encodeURIComponent(name)}${query}`, { kind: 'space', name });
  if (flags.json) {
    printJson(s);
  } else {
    process.stdout.write(fields([
      ['space', s.name],
      ['mode', s.persistent ? 'persistent (kept in the store)' : 'transient (memory only)'],
      ['tuples', `${s.tuples}${s.reserved > 0 ? ` (+${s.reserved} reserved by open transactions)` : ''}, ${bytes(s.bytes)}`],
      ['waiting', `${s.waiting} in/rd request(s)`],
      ['notify', `${s.notify} subscription(s)`],
      ['counters', `${s.outs} out, ${s.ins} in`],
      ['rates', `${rate(s.outRate)} out/s, ${rate(s.inRate)} in/s (last 10s)`],
    ]));
    if (s.peek) {
      process.stdout.write(`\n${table(s.peek, [
        { header: 'TUPLE ID', value: (x) => x.tid },
        { header: 'EXPIRES', value: (x) => (x.expiresAt === null ? '-' : new Date(x.expiresAt).toISOString()) },
        { header: 'TUPLE', value: (x) => toJsonText(x.tuple) },
      ], 'no tuples')}`);
    }
  }
  finish(EXIT.OK);
}

export function spaceTable(list: readonly SpaceView[]): string {
  return table(list, [
    { header: 'NAME', value: (s) => s.name },
    { header: 'MODE', value: (s) => (s.persistent ? 'persistent' : 'transient') },
    { header: 'TUPLES', value: (s) => String(s.tuples), right: true },
    { header: 'SIZE', value: (s) => bytes(s.bytes), right: true },
    { header: 'WAITING', value: (s) => String(s.waiting), right: true },
    { header: 'NOTIFY', value: (s) => String(s.notify), right: true },
    { header: 'OUTS', value: (s) => String(s.outs), right: true },
    { header: 'INS', value: (s) => String(s.ins), right: true },
    { header: 'OUT/S', value: (s) => rate(s.outRate), right: true },
    { header: 'IN/S', value: (s) => rate(s.inRate), right: true },
  ], 'no spaces');
}
