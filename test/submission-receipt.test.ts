import { jsonCodec, msgpackCodec, packr } from '../protocol/codec.js';
import { encodeSubmissionReceipt, submissionReceipt } from '../server/pubsub/submission-receipt.js';

test.each([
  [0, 'm', 0, undefined],
  [127, 'mid-1', 3, undefined],
  [70_000, 'é-unicode-ü', 1, ['billing']],
  [4_294_967_295, 'x'.repeat(40), 12, ['a', 'b.dlq']],
] as const)('the cached encoding of re %s equals the encoded receipt object, in both codecs', (re, mid, receivers, queues) => {
  const expected = submissionReceipt(re, mid, receivers, [], queues ? [...queues] : undefined);
  for (let i = 0; i < 2; i++) { // first call builds the cached tail, the second uses it
    const packed = encodeSubmissionReceipt(msgpackCodec, re, mid, receivers, queues ? [...queues] : undefined) as Uint8Array;
    expect(packr.unpack(packed)).toEqual(expected);
    const json = encodeSubmissionReceipt(jsonCodec, re, mid, receivers, queues ? [...queues] : undefined) as string;
    expect(JSON.parse(json)).toEqual(expected);
  }
});
