import type { Command } from 'commander';
import { register as registerConnections } from './inspect-connections.js';
import { register as registerQueues } from './inspect-queues.js';
import { register as registerSpaces } from './inspect-spaces.js';
import { register as registerStats } from './inspect-stats.js';

/** The read-only inspection views, all served by the broker's HTTP admin API. */
export function register(program: Command): void {
  registerQueues(program);
  registerSpaces(program);
  registerConnections(program);
  registerStats(program);
}
