/**
 * The browser's signs that a connection may be worth trying again at once: the network is back
 * (`online`), the page is shown again (`visibilitychange` to visible, `pageshow` from the
 * back/forward cache) or resumes after being frozen (`resume`). Nothing outside a browser.
 * Returns the function that stops listening.
 */
export function onWake(wake: () => void): () => void {
  type Target = { addEventListener(type: string, fn: () => void): void; removeEventListener(type: string, fn: () => void): void };
  const win = globalThis as unknown as Partial<Target> & { document?: Target & { visibilityState?: string } };
  const doc = win.document;
  if (typeof win.addEventListener !== 'function' || !doc || typeof doc.addEventListener !== 'function') return () => {};
  const shown = (): void => { if (doc.visibilityState !== 'hidden') wake(); };
  const target = win as Target;
  target.addEventListener('online', wake);
  target.addEventListener('pageshow', shown);
  doc.addEventListener('visibilitychange', shown);
  doc.addEventListener('resume', shown);
  return () => {
    target.removeEventListener('online', wake);
    target.removeEventListener('pageshow', shown);
    doc.removeEventListener('visibilitychange', shown);
    doc.removeEventListener('resume', shown);
  };
}
