/**
 * Bytes the broker allocates per request/reply round trip, and its scavenges per 10,000
 * requests: figures the machine's other load does not blur, unlike latency (issue 14).
 * The broker runs in a child with V8's --trace-gc-nvp, whose every GC line gives the heap's size
 * before and after; bytes allocated over the run = heap growth (asked of the child over IPC at
 * both ends) + what each GC in between freed. A forced GC would change how V8 collects after it.
 *
 *   node dist/bench/request-garbage.js [requests]     (default 10,000)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect } from '../client-sdk/index.js';

export interface RequestGarbage {
  requests: number;
  /** V8 heap bytes the broker allocated per round trip. */
  bytesPerRequest: number;
  /** Young-generation collections in the broker per 10,000 round trips. */
  scavengesPer10k: number;
  /** Other collections (mark-compact, mostly) per 10,000 round trips. */
  otherGcsPer10k: number;
}

interface GcLine { kind: string; freed: number }

/** `script`: the compiled bench/broker-process.js (a test runs this file from its source). */
export async function requestGarbage(requests = 10_000, script = fileURLToPath(new URL('./broker-process.js', import.meta.url))): Promise<RequestGarbage> {
  const child = spawn(process.execPath, ['--trace-gc-nvp', script], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const gcs: GcLine[] = [];
  let url: string | undefined;
  const listening = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const kind = / gc=(\w+)/.exec(line)?.[1];
      const before = / total_size_before=(\d+)/.exec(line)?.[1];
      const after = / total_size_after=(\d+)/.exec(line)?.[1];
      if (kind !== undefined && before !== undefined && after !== undefined) gcs.push({ kind, freed: Number(before) - Number(after) });
      else if (line.includes('"broker listening"')) {
        url = (JSON.parse(line) as { url: string }).url;
        resolve();
      }
    });
    child.once('exit', () => reject(new Error('broker exited before listening')));
  });
  await listening;
  const responder = await connect(url!, { name: 'garbage-responder' });
  const requester = await connect(url!, { name: 'garbage-requester' });
  try {
    await responder.subscribe('bench.rpc', { callback: (msg) => msg.reply(msg.data) }).ready;
    const payload = new Uint8Array(128).fill(1);
    for (let i = 0; i < 2_000; i++) await requester.request('bench.rpc', payload); // warm-up: let the JIT settle
    const start = await heapUsed(child);
    const from = gcs.length;
    for (let i = 0; i < requests; i++) await requester.request('bench.rpc', payload, { timeout: 5_000 });
    const end = await heapUsed(child);
    const run = gcs.slice(from);
    const allocated = end - start + run.reduce((sum, gc) => sum + gc.freed, 0);
    const scavenges = run.filter((gc) => gc.kind === 's').length;
    const per10k = (n: number) => Math.round((n * 10_000) / requests);
    return { requests, bytesPerRequest: Math.round(allocated / requests), scavengesPer10k: per10k(scavenges), otherGcsPer10k: per10k(run.length - scavenges) };
  } finally {
    await Promise.all([responder.close(), requester.close()]);
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

/** The broker child's V8 heap in use; its GC lines up to this moment have been printed by the time it answers. */
async function heapUsed(child: ChildProcess): Promise<number> {
  child.send('heap used');
  const [used] = (await once(child, 'message')) as [number];
  return used;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await requestGarbage(Number(process.argv[2] ?? 10_000)));
}
