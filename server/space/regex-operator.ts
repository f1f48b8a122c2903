/**
 * The `$regex` template operator, on RE2 (re2js): matching costs time linear in the string's
 * length, whatever the pattern, so no pattern can hold the event loop by backtracking. What is
 * left to bound is the pattern's own size, which multiplies that linear cost and the memory a
 * compiled pattern keeps while a waiter or notify subscription holds it.
 */
import { RE2JS } from 're2js';

export interface RegexLimits {
  /** Length of a pattern, in UTF-16 code units. */
  maxRegexLength: number;
  /** Size of a pattern as RE2 counts it, about its number of instructions (see regexSize). */
  maxRegexSize: number;
}

/**
 * What the lazy DFA of one compiled pattern may cache, in re2js's own accounting (the heap it
 * takes is about 30% more). re2js's default, 8 MiB, would let every held template keep megabytes;
 * past the budget re2js clears the cache or falls back to its NFA, which is still linear.
 */
const DFA_BUDGET_BYTES = 256 * 1024;

/**
 * Compiles a pattern into a test for strings; throws a plain Error whose message says why a
 * pattern is refused (the caller turns it into INVALID_TEMPLATE).
 */
export function compileRegex(pattern: string, limits: RegexLimits): (s: string) => boolean {
  if (pattern.length > limits.maxRegexLength) {
    throw new Error(`$regex pattern is ${pattern.length} characters long, at most ${limits.maxRegexLength} are allowed`);
  }
  const source = translateUnicodeEscapes(pattern);
  // Checked before compiling: compiling, and matching, cost time and memory in proportion to it.
  const size = regexSize(source);
  if (size > limits.maxRegexSize) {
    const shown = size >= 1e9 ? 'over 10^9' : String(size);
    throw new Error(
      `$regex pattern is too large: its size is ${shown}, at most ${limits.maxRegexSize} is allowed (a counted repetition like x{100} counts every copy)`,
    );
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(source);
  } catch (e) {
    throw new Error(`$regex pattern is not valid RE2 syntax: ${unsupported(source) ?? re2Reason(e)}`);
  }
  const dfa = re.re2().dfa;
  dfa.maxMem = dfa.stateBudget = dfa.memBudget = DFA_BUDGET_BYTES;
  return (s) => re.test(s);
}

/**
 * ECMAScript's `\uXXXX` and `\u{X…}` escapes (what the `u` flag allowed before patterns moved to
 * RE2) as RE2's `\x{…}`; a surrogate pair written as two escapes becomes its one code point. An
 * escaped backslash and `\Q…\E` quoting are kept as they are.
 */
export function translateUnicodeEscapes(pattern: string): string {
  if (!pattern.includes('\\u')) return pattern;
  return pattern.replace(
    /\\Q[\s\S]*?(?:\\E|$)|\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u\{([0-9a-f]+)\}|\\u([0-9a-f]{4})|\\[\s\S]/gi,
    (whole, high?: string, low?: string, braced?: string, four?: string) => {
      if (high !== undefined && low !== undefined) {
        const cp = 0x10000 + ((parseInt(high, 16) - 0xd800) << 10) + (parseInt(low, 16) - 0xdc00);
        return `\\x{${cp.toString(16)}}`;
      }
      if (braced !== undefined) return `\\x{${braced}}`;
      if (four !== undefined) return `\\x{${four}}`;
      return whole;
    },
  );
}

/**
 * A pattern's size as RE2 counts it before compiling (its parser's `calcSize`), which is about
 * the number of instructions of the program, and so the work per character of a match when
 * RE2 cannot use its DFA: 1 per literal character, escape, class, `.` or anchor; a capturing
 * group adds 2; `*` adds 2, `+` and `?` 1; alternatives are summed, plus 1 per `|`; a counted
 * repetition is written out: `x{n}` is n times x, `x{n,m}` m times x plus m − n, `x{n,}` n
 * times x plus 1 (`x{0,}` is `x*`). Every part counts at least 1. Read from the text without
 * compiling, so a pattern too large to be worth compiling costs nothing; syntax errors are left
 * to RE2.
 */
export function regexSize(pattern: string): number {
  const CAP = 1e9; // far above any limit: keeps huge nested repetitions finite
  interface Frame { alternatives: number[]; branch: number; last: number; capture: boolean }
  const open = (capture: boolean): Frame => ({ alternatives: [], branch: 0, last: 0, capture });
  const sizeOf = (f: Frame): number => {
    const branches = [...f.alternatives, Math.max(1, f.branch)];
    const alternation = branches.reduce((a, b) => a + b, 0) + branches.length - 1;
    return Math.min(alternation + (f.capture ? 2 : 0), CAP);
  };
  const frames: Frame[] = [open(false)];
  let top = frames[0]!;
  const atom = (size: number) => {
    top.branch = Math.min(top.branch + size, CAP);
    top.last = size;
  };
  /** The last atom becomes `size` (a quantifier applied to it). */
  const repeat = (size: number) => {
    const repeated = Math.min(Math.max(1, size), CAP);
    top.branch = Math.min(top.branch - top.last + repeated, CAP);
    top.last = repeated;
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\' && pattern[i + 1] === 'Q') {
      // A quoted run is literal characters; a quantifier after it repeats the last one.
      const end = pattern.indexOf('\\E', i + 2);
      const quoted = [...pattern.slice(i + 2, end === -1 ? pattern.length : end)].length;
      top.branch = Math.min(top.branch + quoted, CAP);
      top.last = Math.min(quoted, 1);
      i = end === -1 ? pattern.length : end + 2;
    } else if (c === '\\') {
      i = escapeEnd(pattern, i);
      atom(1);
    } else if (c === '[') {
      i = classEnd(pattern, i);
      atom(1);
    } else if (c === '(') {
      i = groupStart(pattern, i, (capture) => frames.push((top = open(capture))), () => (top.last = 0));
    } else if (c === ')' && frames.length > 1) {
      const group = frames.pop()!;
      top = frames[frames.length - 1]!;
      atom(sizeOf(group));
      i += 1;
    } else if (c === '|') {
      top.alternatives.push(Math.max(1, top.branch));
      top.branch = 0;
      top.last = 0;
      i += 1;
    } else if (c === '*' || c === '+' || c === '?') {
      repeat(top.last + (c === '*' ? 2 : 1));
      i += pattern[i + 1] === '?' ? 2 : 1; // a lazy quantifier costs the same
    } else {
      const counted = c === '{' ? /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i)) : null;
      if (counted) {
        const min = Number(counted[1]);
        const sub = top.last;
        if (counted[2] === undefined) repeat(min * sub);
        else if (counted[3] === '') repeat(min === 0 ? 2 + sub : 1 + min * sub);
        else repeat(Number(counted[3]) * sub + Math.max(0, Number(counted[3]) - min));
        i += counted[0].length;
        if (pattern[i] === '?') i += 1;
      } else {
        i += (pattern.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
        atom(1);
      }
    }
  }
  // Unclosed groups are a syntax error RE2 reports; count what they hold anyway.
  while (frames.length > 1) {
    const group = frames.pop()!;
    top = frames[frames.length - 1]!;
    atom(sizeOf(group));
  }
  return sizeOf(top);
}

/**
 * Handles the `(` at `i`: `(?flags)` only sets flags (`flagsOnly`); anything else opens a group,
 * capturing unless it is `(?:…)` or `(?flags:…)`. Returns the index after what was read.
 */
function groupStart(pattern: string, i: number, group: (capture: boolean) => void, flagsOnly: () => void): number {
  if (pattern[i + 1] !== '?') {
    group(true);
    return i + 1;
  }
  let j = i + 2;
  if (pattern[j] === 'P' && pattern[j + 1] === '<') j++;
  if (pattern[j] === '<' && pattern[j + 1] !== '=' && pattern[j + 1] !== '!') {
    const end = pattern.indexOf('>', j); // (?P<name>…) and (?<name>…) capture
    group(true);
    return end === -1 ? pattern.length : end + 1;
  }
  while (j < pattern.length && /[a-zA-Z-]/.test(pattern[j]!)) j++;
  if (pattern[j] === ')') {
    flagsOnly();
    return j + 1;
  }
  group(false); // (?:…), (?i:…); lookarounds are refused by RE2
  return pattern[j] === ':' ? j + 1 : j;
}

/** The index after the escape starting at `i` (a backslash). */
function escapeEnd(pattern: string, i: number): number {
  const next = pattern[i + 1];
  // \p{Greek}, \x{1F600}: braces belong to the escape, not to a repetition.
  if ((next === 'p' || next === 'P' || next === 'x') && pattern[i + 2] === '{') {
    const end = pattern.indexOf('}', i + 3);
    return end === -1 ? pattern.length : end + 1;
  }
  if (next === 'p' || next === 'P') return i + 3; // \pL
  if (next === 'x') return i + 4; // \x41
  const cp = pattern.codePointAt(i + 1);
  return i + 1 + (cp !== undefined && cp > 0xffff ? 2 : 1);
}

/** The index after the character class starting at `i` (a `[`). */
function classEnd(pattern: string, i: number): number {
  let j = i + 1;
  if (pattern[j] === '^') j++;
  if (pattern[j] === ']') j++; // a `]` first in a class is a literal
  while (j < pattern.length && pattern[j] !== ']') {
    if (pattern[j] === '\\') j = escapeEnd(pattern, j);
    else if (pattern[j] === '[' && pattern[j + 1] === ':') {
      const end = pattern.indexOf(':]', j + 2);
      j = end === -1 ? j + 1 : end + 2;
    } else j++;
  }
  return j + 1;
}

/** A plainer reason for the features RE2 leaves out by design, or undefined. */
function unsupported(source: string): string | undefined {
  if (/\\[1-9]|\\k</.test(source)) return 'backreferences (\\1, \\k<name>) are not supported';
  if (/\(\?<?[=!]/.test(source)) return 'lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported';
  return undefined;
}

/** RE2's message without its prefix, the quoted part of the pattern cut short. */
function re2Reason(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  return message
    .replace(/^error parsing regexp: /, '')
    .replace(/`([^`]*)`/g, (_all, quoted: string) => `\`${quoted.length > 24 ? quoted.slice(0, 24) + '…' : quoted}\``);
}
