/**
 * What a browser sees at `/` (other clients get 426 there): where the browser SDK is, until a
 * console is served in its place.
 */
export function rootPage(upgradeHint: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><title>Linden</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>Linden</h1>
<p>${escapeHtml(upgradeHint.trim())}.</p>
<p>The browser SDK is served here as one ES module: <a href="/sdk/linden.js">/sdk/linden.js</a>.</p>
<pre>&lt;script type="module"&gt;
  import { connect } from '/sdk/linden.js';
  const client = await connect(location.origin.replace(/^http/, 'ws'));
&lt;/script&gt;</pre>
<p>Health: <a href="/healthz">/healthz</a> · metrics: <a href="/metrics">/metrics</a></p>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
