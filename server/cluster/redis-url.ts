/** The Redis URL with its password replaced, for logs and --print-config: `redis://user:[redacted]@host:6379`. */
export function redactedRedisUrl(url: string): string {
  return url.replace(/^(rediss?:\/\/)([^@/]*)@/, (_, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon === -1 ? '[redacted]' : userinfo.slice(0, colon + 1) + '[redacted]'}@`;
  });
}
