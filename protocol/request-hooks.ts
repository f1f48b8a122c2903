import type { Frame, FrameResult, Interceptor, InterceptorContext } from './interceptor.js';

type Hook = (frame: Frame, ctx: InterceptorContext) => FrameResult;

/**
 * Runs the request-level hooks of one direction of one connection. Frames leave in the order
 * they entered even when a hook is async: while one is pending, later frames wait behind it.
 */
export class RequestHooks {
  private readonly hooks: Hook[];
  private tail: Promise<void> | undefined;
  private waiting = 0;

  /** `direction` picks `outbound` (first to last) or `inbound` (last to first). */
  constructor(interceptors: readonly Interceptor[], direction: 'outbound' | 'inbound', private readonly ctx: InterceptorContext) {
    const ordered = direction === 'outbound' ? interceptors : [...interceptors].reverse();
    this.hooks = ordered.flatMap((i) => (i[direction] ? [i[direction]!.bind(i)] : []));
  }

  get isEmpty(): boolean {
    return this.hooks.length === 0;
  }

  /** Passes `frame` through every hook, then calls `next` with the result, or `fail` with what a hook threw. */
  run<F extends object>(frame: F, next: (frame: F) => void, fail: (err: unknown, frame: F) => void): void {
    if (this.waiting === 0) {
      let result: Frame | Promise<Frame>;
      try {
        result = this.apply(frame as unknown as Frame, 0);
      } catch (err) {
        fail(err, frame);
        return;
      }
      if (!(result instanceof Promise)) {
        next(result as unknown as F);
        return;
      }
      this.enqueue(result, frame, next, fail);
      return;
    }
    const prior = this.tail!;
    this.enqueue(prior.then(() => this.apply(frame as unknown as Frame, 0)), frame, next, fail);
  }

  private enqueue<F>(result: Promise<Frame>, frame: F, next: (frame: F) => void, fail: (err: unknown, frame: F) => void): void {
    this.waiting++;
    this.tail = result.then(
      (f) => next(f as unknown as F),
      (err) => fail(err, frame),
    ).finally(() => { this.waiting--; });
  }

  /** Runs hooks from `from` on; synchronous as long as every hook is. */
  private apply(frame: Frame, from: number): Frame | Promise<Frame> {
    for (let i = from; i < this.hooks.length; i++) {
      const out = this.hooks[i](frame, this.ctx);
      if (out instanceof Promise) return out.then((f) => this.apply(f ?? frame, i + 1));
      if (out) frame = out;
    }
    return frame;
  }
}
