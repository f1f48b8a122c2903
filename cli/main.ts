#!/usr/bin/env node
import { Command } from 'commander';
import { LINDEN_VERSION } from '../protocol/version.js';
import { EXIT, finish, oneLine, reportError } from './common.js';

type Register = (program: Command) => void;

/**
 * Every subcommand lives in cli/commands/<name>.ts and adds itself to the program, in this order
 * (the order of --help). Only the module of the command being run is loaded: loading all of them
 * pulled the whole broker (serve) and the admin views into every `linden pub`, 0.21 s of CPU at
 * each start. Help, the version and unknown commands load every module.
 */
const MODULES: ReadonlyArray<[names: readonly string[], load: () => Promise<Register>]> = [
  [['serve'], async () => (await import('./commands/serve.js')).register],
  [['pub'], async () => (await import('./commands/pub.js')).register],
  [['sub'], async () => (await import('./commands/sub.js')).register],
  [['queue'], async () => (await import('./commands/queue.js')).register],
  [['stream', 'streams'], async () => (await import('./commands/stream.js')).register], // changes over WebSocket, views over HTTP
  [['out'], async () => (await import('./commands/out.js')).register],
  [['in'], async () => (await import('./commands/in.js')).register],
  [['rd'], async () => (await import('./commands/rd.js')).register],
  // Read-only views over HTTP, then their live view.
  [['queues', 'spaces', 'space', 'connections', 'subscriptions', 'stats'], async () => (await import('./commands/inspect.js')).register],
  [['top'], async () => (await import('./commands/top.js')).register],
  [['retained'], async () => (await import('./commands/retained.js')).register], // lists over HTTP; `clear` publishes over WebSocket
  // Admin operations that change state: over the WebSocket protocol (admin op), never HTTP.
  [['purge'], async () => (await import('./commands/purge.js')).register],
  [['dlq', 'retry'], async () => (await import('./commands/dlq.js')).register],
  [['kick'], async () => (await import('./commands/kick.js')).register],
  // Lists over HTTP, cancels over WebSocket (`unschedule`).
  [['scheduled'], async () => (await import('./commands/scheduled.js')).register],
  [['cluster'], async () => (await import('./commands/cluster.js')).register], // an admin op over WebSocket
  [['passwd'], async () => (await import('./commands/passwd.js')).register], // hashes for the auth config
];

const program = new Command('linden')
  .description('Linden message broker: run a broker, publish, subscribe and use tuple spaces from the shell')
  .version(LINDEN_VERSION)
  // Set before the subcommands exist so they inherit them. A usage error is one line, like
  // every other failure (commander puts "Did you mean ...?" on a line of its own otherwise).
  .configureOutput({ outputError: (text, write) => write(`${oneLine(text)}${text.includes('Did you mean') ? '' : ' (run with --help for usage)'}\n`) })
  // Commander exits 1 on usage errors; we keep 1 for "the broker said no or is not there" and
  // give the command line its own code.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE));

const named = MODULES.filter(([names]) => names.includes(process.argv[2] ?? ''));
for (const [, load] of named.length > 0 ? named : MODULES) (await load())(program);

program.parseAsync(process.argv).catch((err: unknown) => finish(reportError(err)));
