/**
 * Runs `fn` once the current turn of the event loop is over: after every microtask, and after
 * the other messages of a socket read have been handled. Node has setImmediate; a browser gets a
 * MessageChannel post, a task of its own that, unlike setTimeout(0), nested timers do not clamp
 * to 4 ms.
 */
export const afterTurn: (fn: () => void) => void = pickAfterTurn();

function pickAfterTurn(): (fn: () => void) => void {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown; MessageChannel?: typeof MessageChannel };
  if (typeof g.setImmediate === 'function') return (fn) => void g.setImmediate!(fn);
  if (typeof g.MessageChannel === 'function') {
    const channel = new g.MessageChannel();
    const waiting: Array<() => void> = [];
    channel.port1.onmessage = () => {
      for (const fn of waiting.splice(0)) fn();
    };
    return (fn) => {
      if (waiting.push(fn) === 1) channel.port2.postMessage(undefined);
    };
  }
  return (fn) => void setTimeout(fn, 0);
}
