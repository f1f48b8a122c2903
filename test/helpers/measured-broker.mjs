// A broker in a process of its own whose memory a test can measure after garbage collection:
// `node --expose-gc measured-broker.mjs '<options json>'` prints {"url": ...} once it listens;
// each line "measure" on stdin is answered with {"heapUsed", "arrayBuffers"} (bytes) after full
// collections, with `code` (of heapUsed, the bytes of compiled code), `census` (what the broker
// holds, server/census.ts) and `timers` (timers keeping the process alive). With a second
// argument `all-timers`, also `allTimers`: every timer alive, unref'd ones too (counted with
// async_hooks, which slows promises: only the tests that ask pay). Runs the built broker
// (dist/): `npm run build` first.
import { createHook } from 'node:async_hooks';
import { createInterface } from 'node:readline';
import { getHeapSpaceStatistics } from 'node:v8';
import { Census } from '../../dist/server/census.js';
import { startBroker } from '../../dist/server/index.js';

const liveTimers = process.argv[3] === 'all-timers' ? new Set() : undefined;
if (liveTimers) {
  createHook({
    init(id, type) { if (type === 'Timeout') liveTimers.add(id); },
    destroy(id) { liveTimers.delete(id); },
  }).enable();
}
const census = new Census();
const broker = await startBroker({ port: 0, logLevel: 'silent', ...JSON.parse(process.argv[2] ?? '{}') }, { census });
process.stdout.write(JSON.stringify({ url: broker.url }) + '\n');

createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line !== 'measure') return;
  // Several rounds, with turns of the event loop between: buffers freed by finalizers and weak
  // references go in a later collection than the objects that held them.
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  const code = getHeapSpaceStatistics().filter((s) => s.space_name.startsWith('code_')).reduce((n, s) => n + s.space_used_size, 0);
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  process.stdout.write(JSON.stringify({ heapUsed, arrayBuffers, code, census: census.count(), timers, allTimers: liveTimers?.size }) + '\n');
});
process.stdin.on('end', () => void broker.close().then(() => process.exit(0)));
