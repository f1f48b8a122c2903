import { LindenError } from '../../protocol/errors.js';
import type { ClientFrame, SubFrame } from '../../protocol/frames.js';
import { hasQueueSettings } from '../../protocol/queue-settings.js';
import type { Action, Permissions } from './permissions.js';

/** Throws PERMISSION_DENIED unless `permissions` allow `action` on `subject`. */
export function authorize(permissions: Permissions, action: Action, subject: string): void {
  if (!permissions.may(action, subject)) {
    throw new LindenError('PERMISSION_DENIED', `not allowed to ${action} "${subject.slice(0, 64)}"`, { action, subject: subject.slice(0, 512) });
  }
}

/** A durable `sub` naming settings may change the queue: that is managing it, not just consuming. */
function subAction(f: SubFrame): [Action, string] {
  if (f.durable === undefined) return ['subscribe', f.pattern];
  return [hasQueueSettings(f) ? 'queue.manage' : 'queue.consume', f.durable];
}

/**
 * The one permission a message needs, or undefined for messages that act only on what the
 * connection already holds (its deliveries, subscriptions, reservations and waits) or on nothing.
 */
export function requiredPermission(f: ClientFrame): [Action, string] | undefined {
  switch (f.t) {
    case 'pub': return ['publish', f.topic];
    case 'sub': return subAction(f);
    case 'qcreate': case 'qdelete': return ['queue.manage', f.name];
    // Streams are managed with the queues' right, on the stream's name.
    case 'screate': case 'sdelete': return ['queue.manage', f.name];
    case 'out': case 'in': case 'renew': case 'cancel': return ['space.write', f.space];
    case 'batch': return [f.steps.every((s) => s.op === 'rdp') ? 'space.read' : 'space.write', f.space];
    case 'rd': case 'count': case 'notify': return ['space.read', f.space];
    case 'admin': return ['admin', f.op];
    default: return undefined;
  }
}

/** dispatch's one check, after validation and before the handler (DESIGN.md §5). */
export function authorizeFrame(permissions: Permissions, f: ClientFrame): void {
  const needed = requiredPermission(f);
  if (needed) authorize(permissions, needed[0], needed[1]);
}
