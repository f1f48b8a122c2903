import type { Client } from '../../client-sdk/index.js';
import type { ReaderInfo } from '../../protocol/stream-info.js';
import { until } from './setup.js';

/** Waits until the stream's named reader `reader` stands at `position` (acks reach the broker a moment after ack()), and returns its info. */
export async function readerReaches(client: Client, stream: string, reader: string, position: number): Promise<ReaderInfo> {
  let found: ReaderInfo | undefined;
  await until(() => found?.position === position, 5_000, async () => {
    found = (await client.streamInfo(stream)).readers.find((r) => r.name === reader);
  });
  return found!;
}
