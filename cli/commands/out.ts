import { Option, type Command } from 'commander';
import type { Lease, OutOptions } from '../../client-sdk/index.js';
import { action, addUrlOption, connectOrFail, EXIT, finish, integer, toJsonText, type BrokerFlags } from '../common.js';
import { parseFields } from './space-ops.js';

interface OutFlags extends BrokerFlags {
  ttl?: number;
  json?: boolean;
}

export function register(program: Command): void {
  const command = program
    .command('out')
    .description('write a tuple to a space; prints its id (the lease end, if any, goes to stderr)')
    .argument('<space>', 'space name, e.g. jobs')
    .argument('<json-tuple>', 'non-empty JSON array, e.g. \'["job", 42, {"prio": 1}]\'')
    .addOption(new Option('--ttl <ms>', 'lease: the tuple disappears after this many ms (the broker may shorten it)').argParser(integer(1)))
    .addOption(new Option('--json', 'print the lease as {"id","expiresAt","ttl","shortened"} instead of the id'));
  addUrlOption(command).action(action(out));
}

async function out(spaceName: string, json: string, flags: OutFlags): Promise<void> {
  const tuple = parseFields(spaceName, json, 'tuple');
  const client = await connectOrFail(flags, { reconnect: false });
  let lease: Lease | undefined;
  try {
    const options: OutOptions = {};
    if (flags.ttl !== undefined) options.ttl = flags.ttl;
    lease = await client.space(spaceName).out(tuple, options);
  } finally {
    await client.close();
  }
  // The default ack is 'submission', so a lease always comes back.
  const { id, expiresAt, ttl, shortened } = lease!;
  if (flags.json) {
    process.stdout.write(`${toJsonText({ id, expiresAt, ttl, shortened })}\n`);
  } else {
    // Only the id on stdout, so `id=$(linden out ...)` captures exactly that.
    process.stdout.write(`${id}\n`);
    if (expiresAt !== null) {
      const cut = shortened ? `, shortened from ${flags.ttl} ms by the broker's maxLeaseMs` : '';
      process.stderr.write(`lease ends ${new Date(expiresAt).toISOString()} (ttl ${ttl} ms${cut})\n`);
    }
  }
  finish(EXIT.OK);
}
