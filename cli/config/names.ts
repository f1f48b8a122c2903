import { OPTION_NAMES, specOf, type OptionName } from '../../server/option-specs.js';

/*
 * How `linden serve` spells each broker option outside code, derived from its name: the flag is
 * kebab-case (`maxFrameBytes` → `--max-frame-bytes`), the environment variable SCREAMING_SNAKE
 * after LINDEN_ (`LINDEN_MAX_FRAME_BYTES`). An option given in parts (tls) has one of each per
 * part (`--tls-cert`, `LINDEN_TLS_CERT`).
 */

export const ENV_PREFIX = 'LINDEN_';

/** One way to give an option, or one part of it. */
export interface Spelling {
  option: OptionName;
  part?: string;
  /** With its dashes: `--max-frame-bytes`. */
  flag: string;
  env: string;
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** The spellings of one option: one, or one per part. */
export function spellingsOf(option: OptionName): Spelling[] {
  const spec = specOf(option);
  const flag = spec.flag ?? kebab(option);
  if (!spec.parts) return [{ option, flag: `--${flag}`, env: `${ENV_PREFIX}${snake(option)}` }];
  return spec.parts.map((part) => ({ option, part, flag: `--${flag}-${kebab(part)}`, env: `${ENV_PREFIX}${snake(option)}_${snake(part)}` }));
}

export const SPELLINGS: readonly Spelling[] = OPTION_NAMES.flatMap(spellingsOf);

/** The candidate nearest to `word` when it is close enough to be a typo of it (`maxFrameByte`: `maxFrameBytes`). */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // A third of the word may differ: enough for a dropped letter or a swapped pair, not for another word.
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/**
 * The default as README writes it (Markdown): startBroker()'s, as code writes it, and `linden
 * serve`'s where that differs (`none (linden serve: ./linden-data)`).
 */
export function defaultText(option: OptionName): string {
  const spec = specOf(option);
  const broker = spec.defaultText ?? (typeof spec.default === 'number' ? numberText(spec.default) : `\`${JSON.stringify(spec.default).replace(/"/g, "'")}\``);
  return spec.serveDefault === undefined ? broker : `${broker} (\`linden serve\`: \`${serveValue(spec.serveDefault)}\`)`;
}

/** The default `linden serve` uses, as --help shows it (plain text). */
export function serveDefaultText(option: OptionName): string {
  const spec = specOf(option);
  if (spec.serveDefault !== undefined) return serveValue(spec.serveDefault);
  return plain(spec.defaultText ?? (typeof spec.default === 'number' ? numberText(spec.default) : String(spec.default)));
}

/** 10,000 and up with thousands separators; a port stays 7070. */
const numberText = (n: number): string => (n >= 10_000 ? n.toLocaleString('en-US') : String(n));

/** A value as it is written in LINDEN_* and flags: lists comma-separated. */
function serveValue(value: unknown): string {
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** Markdown as a terminal shows it: without the backticks. */
export function plain(markdown: string): string {
  return markdown.replace(/`/g, '');
}
