import type { Limits } from '../protocol/frames.js';
import type { MessageChain } from '../protocol/message-chain.js';
import type { Socket } from './transport.js';

/**
 * What the client knows of its current connection, shared by the parts that open it, write to
 * it and read from it: each checks the epoch it acts for against `epoch` and `live`.
 */
export class ConnectionState {
  phase: 'connecting' | 'open' | 'reconnecting' | 'closed' = 'connecting';
  /** Generation of the newest socket; frames and events of an older one are ignored. */
  epoch = 0;
  /** Epoch of the socket that completed its handshake and is still open; 0 when none. */
  live = 0;
  socket: Socket | undefined;
  /** The live connection's message-level interceptors, when any. */
  chain: MessageChain | undefined;
  connectionId = '';
  limits: Limits | undefined;
  /** Epoch of a live connection whose broker drains; 0 when none. */
  drainingEpoch = 0;
  /** Deliveries of the live connection whose publisher or queue waits for an ack or nack not sent yet. */
  unsettled = 0;
}
