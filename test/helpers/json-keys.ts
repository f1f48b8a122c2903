/**
 * The keys that occur twice in one object of a JSON text, as dotted paths (`a.b`). JSON.parse
 * keeps the last of duplicates silently, so a log line with `name` twice parses fine and still
 * breaks the log shippers that reject or merge it: finding them takes a scan of our own.
 * Expects valid JSON (check with JSON.parse first); it only walks the structure.
 */
export function duplicateKeys(json: string): string[] {
  const found: string[] = [];
  let i = 0;
  const skipSpace = (): void => {
    while (i < json.length && /\s/.test(json[i]!)) i++;
  };
  const readString = (): string => {
    const start = i++;
    while (json[i] !== '"') i += json[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(json.slice(start, i)) as string;
  };
  const readValue = (path: string): void => {
    skipSpace();
    const c = json[i];
    if (c === '"') {
      readString();
    } else if (c === '{') {
      i++;
      const seen = new Set<string>();
      skipSpace();
      if (json[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipSpace();
        const key = readString();
        if (seen.has(key)) found.push(path + key);
        seen.add(key);
        skipSpace();
        i++; // ':'
        readValue(`${path}${key}.`);
        skipSpace();
        if (json[i++] === '}') return;
      }
    } else if (c === '[') {
      i++;
      skipSpace();
      if (json[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        readValue(`${path}${n}.`);
        skipSpace();
        if (json[i++] === ']') return;
      }
    } else {
      while (i < json.length && !/[\s,\]}]/.test(json[i]!)) i++; // number, true, false, null
    }
  };
  readValue('');
  return found;
}
