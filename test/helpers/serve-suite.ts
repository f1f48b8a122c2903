import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '../../client-sdk/index.js';
import { requireBuilt } from './built.js';
import { ChildTracker } from './child-process.js';
import { CLI_MAIN } from './serve-process.js';

export interface ServeSuite {
  /** `linden serve` and other CLI processes; killed after each test. */
  readonly children: ChildTracker;
  /** SDK clients a test opened; closed after each test. */
  readonly clients: Client[];
  /** A new empty data folder for each test, removed after it. */
  readonly dataDir: string;
}

/**
 * The set-up of a test file that runs the compiled CLI as a broker: checks it is built, gives
 * each test a data folder, and closes the clients, kills the processes and removes the folder
 * after it. Call once at the top of the file.
 */
export function serveSuite(prefix: string): ServeSuite {
  const suite = { children: new ChildTracker(), clients: [] as Client[], dataDir: '' };
  beforeAll(() => requireBuilt(CLI_MAIN));
  beforeEach(async () => {
    suite.dataDir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await Promise.all(suite.clients.splice(0).map((c) => c.close()));
    await suite.children.killAll();
    await rm(suite.dataDir, { recursive: true, force: true });
  });
  return suite;
}
