#!/usr/bin/env node
import { Command } from 'commander';
import { LINDEN_VERSION } from '../protocol/version.js';
import { register as registerIn } from './commands/in.js';
import { register as registerOut } from './commands/out.js';
import { register as registerPub } from './commands/pub.js';
import { register as registerQueue } from './commands/queue.js';
import { register as registerRd } from './commands/rd.js';
import { register as registerServe } from './commands/serve.js';
import { register as registerSub } from './commands/sub.js';
import { register as registerInspect } from './commands/inspect.js';
import { register as registerDlq } from './commands/dlq.js';
import { register as registerKick } from './commands/kick.js';
import { register as registerPurge } from './commands/purge.js';
import { register as registerTop } from './commands/top.js';
import { register as registerPasswd } from './commands/passwd.js';
import { register as registerCluster } from './commands/cluster.js';
import { EXIT, finish, oneLine, reportError } from './common.js';

/** Every subcommand lives in cli/commands/<name>.ts and adds itself to the program. */
const COMMANDS: ReadonlyArray<(program: Command) => void> = [registerServe, registerPub, registerSub, registerQueue, registerOut, registerIn, registerRd];

const program = new Command('linden')
  .description('Linden message broker: run a broker, publish, subscribe and use tuple spaces from the shell')
  .version(LINDEN_VERSION)
  // Set before the subcommands exist so they inherit them. A usage error is one line, like
  // every other failure (commander puts "Did you mean ...?" on a line of its own otherwise).
  .configureOutput({ outputError: (text, write) => write(`${oneLine(text)}${text.includes('Did you mean') ? '' : ' (run with --help for usage)'}\n`) })
  // Commander exits 1 on usage errors; we keep 1 for "the broker said no or is not there" and
  // give the command line its own code.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE));

for (const add of COMMANDS) add(program);
registerInspect(program); // queues, spaces, space, connections, subscriptions, stats: read-only views over HTTP
registerTop(program); // live view of the same, over HTTP
// Admin operations that change state: over the WebSocket protocol (admin op), never HTTP.
for (const add of [registerPurge, registerDlq, registerKick]) add(program);
registerCluster(program); // the cluster's nodes and queues, an admin op over WebSocket
registerPasswd(program); // hashes for the auth config

program.parseAsync(process.argv).catch((err: unknown) => finish(reportError(err)));
