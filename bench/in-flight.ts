/** Runs `total` calls of `start` with at most `window` outstanding, starting the next as each one ends. */
export async function keepInFlight(total: number, window: number, start: () => Promise<unknown>): Promise<void> {
  let started = 0;
  let finished = 0;
  await new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (finished === total) return resolve();
      if (started === total) return;
      started++;
      start().then(() => {
        finished++;
        next();
      }, reject);
    };
    for (let i = 0; i < Math.min(window, total); i++) next();
    if (total === 0) resolve();
  });
}
