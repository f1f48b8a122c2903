/**
 * Issue 14, "Request/reply without per-request garbage": what the broker allocates per
 * request/reply round trip stays bounded. bench/request-garbage.ts runs a broker child with
 * --trace-gc-nvp and counts its heap allocation over 10,000 sequential requests (128-byte
 * payloads); unlike latency, that does not depend on the machine's other load.
 */
import { fileURLToPath } from 'node:url';
import { requestGarbage } from '../bench/request-garbage.js';
import { requireBuilt } from './helpers/built.js';

const SCRIPT = fileURLToPath(new URL('../dist/bench/broker-process.js', import.meta.url));

/**
 * Bytes per round trip allowed. Measured: 11,400 on main before issue 14's work, 9,960-9,990
 * after it (receipt timers, flush marks, receipt lists, pooled frame buffers); most of what is
 * left is ws's and Node's stream bookkeeping per frame, four frames a round trip, and
 * msgpackr's decoding. Heap only: the 4 KiB frame buffers outside it, two per round trip before,
 * are test/frame-writer.test.ts's (recycling). Generous:
 * it catches a new allocation of a few KB per request (a timer, a frame copy, a closure per
 * receiver), not noise.
 */
const BOUND = 16_000;

beforeAll(() => {
  requireBuilt(SCRIPT);
});

test('a request/reply round trip allocates a bounded number of bytes in the broker', async () => {
  const garbage = await requestGarbage(10_000, SCRIPT);
  console.log(`broker: ${garbage.bytesPerRequest} B per round trip, ${garbage.scavengesPer10k} scavenges and ${garbage.otherGcsPer10k} other GCs per 10,000`);
  expect(garbage.bytesPerRequest).toBeGreaterThan(0);
  expect(garbage.bytesPerRequest).toBeLessThan(BOUND);
}, 120_000);
