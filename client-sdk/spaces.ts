import type { Codec } from '../protocol/codec.js';
import { LindenError } from '../protocol/errors.js';
import type { BrokerFrame, EventFrame } from '../protocol/frames.js';
import { fromJsonValue, toJsonValue } from '../protocol/json-data.js';
import { assertName } from '../protocol/names.js';
import { Notification, Space, toEvent, type SpaceHost, type SpaceOptions } from './space.js';

/** What the client lends its spaces. */
export interface SpacesClient {
  readonly codec: Codec;
  isLive(): boolean;
  call(frame: Record<string, unknown>, timeout?: number, first?: boolean): Promise<BrokerFrame>;
  cast(frame: Record<string, unknown>): void;
}

/** The client's spaces and notify subscriptions; notify subscriptions are restored after a reconnect. */
export class ClientSpaces implements SpaceHost {
  private readonly spaces = new Map<string, Space>();
  private readonly notifications = new Map<number, Notification<any>>();

  constructor(private readonly client: SpacesClient) {}

  space(name: string, options: SpaceOptions = {}): Space {
    assertName('space', name);
    const { persistent } = options;
    if (persistent !== undefined && typeof persistent !== 'boolean') throw new LindenError('INVALID_ARGUMENT', 'space option "persistent" is true or false');
    // One handle per name and stated mode: the mode travels on each out and batch it sends.
    const key = `${name}/${persistent ?? ''}`;
    let space = this.spaces.get(key);
    if (!space) this.spaces.set(key, (space = new Space(name, this, persistent === undefined ? {} : { persistent })));
    return space;
  }

  call(frame: Record<string, unknown>, timeout?: number): Promise<BrokerFrame> {
    return this.client.call(frame, timeout);
  }

  cast(frame: Record<string, unknown>): void {
    this.client.cast(frame);
  }

  toWire(values: unknown): unknown {
    return this.client.codec.name === 'json' ? toJsonValue(values) : values;
  }

  fromWire(wire: unknown): unknown {
    return this.client.codec.name === 'json' ? fromJsonValue(wire) : wire;
  }

  addNotification(n: Notification<any>): void {
    this.notifications.set(n.nid, n);
    if (this.client.isLive()) this.register(n, false);
  }

  removeNotification(nid: number): void {
    if (!this.notifications.delete(nid) || !this.client.isLive()) return;
    this.client.call({ t: 'unnotify', nid }).catch(() => {}); // gone either way
  }

  /** Routes an event frame to its notify iterator. */
  event(frame: EventFrame): void {
    this.notifications.get(frame.nid)?.push(toEvent(frame, (w) => this.fromWire(w)));
  }

  /** After a reconnect: notify subscriptions are registered again, ahead of buffered writes. */
  restore(): void {
    for (const n of this.notifications.values()) this.register(n, true);
  }

  end(err?: LindenError): void {
    for (const n of this.notifications.values()) {
      n.settleReady(err ?? new LindenError('CLOSED'));
      n.end(err?.code === 'CLOSED' ? undefined : err);
    }
    this.notifications.clear();
  }

  private register(n: Notification<any>, first: boolean): void {
    const frame = { t: 'notify', nid: n.nid, space: n.spaceName, template: this.toWire(n.template), events: n.events };
    this.client.call(frame, undefined, first).then(() => n.settleReady(), (err: LindenError) => {
      if (err.code === 'DISCONNECTED') return; // registered again after reconnecting
      this.notifications.delete(n.nid);
      n.settleReady(err);
      n.end(err);
    });
  }
}
