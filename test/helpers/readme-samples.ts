import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Exit, NodeChild } from './child-process.js';

/** One ```ts block of a Markdown file. */
export interface Sample {
  /** Line (1-based) of the block's first line of code in the Markdown file. */
  line: number;
  /** The nearest heading above the block, without its #s. */
  heading: string;
  /** The heading, followed by ` (2)`, ` (3)`... for the second, third... block under it. */
  key: string;
  code: string;
}

/** The ```ts (or ```typescript) blocks of a Markdown text, in order. */
export function tsSamples(markdown: string): Sample[] {
  const samples: Sample[] = [];
  const underHeading = new Map<string, number>();
  const lines = markdown.split('\n');
  let heading = '';
  let fence: { language: string; start: number; code: string[] } | undefined;
  for (const [i, text] of lines.entries()) {
    if (fence) {
      if (/^```\s*$/.test(text)) {
        if (fence.language === 'ts' || fence.language === 'typescript') {
          const n = (underHeading.get(heading) ?? 0) + 1;
          underHeading.set(heading, n);
          samples.push({ line: fence.start, heading, key: n === 1 ? heading : `${heading} (${n})`, code: fence.code.join('\n') + '\n' });
        }
        fence = undefined;
      } else {
        fence.code.push(text);
      }
      continue;
    }
    const open = /^```\s*(\S*)/.exec(text);
    if (open) fence = { language: open[1]!, start: i + 2, code: [] };
    else if (text.startsWith('#')) heading = text.replace(/^#+\s*/, '').trim();
  }
  if (fence) throw new Error(`the code block opened on line ${fence.start - 1} is never closed`);
  return samples;
}

/** The compiler this repository builds with. */
export const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * Runs `tsc -p <dir>` (its tsconfig.json) and returns its diagnostics by file name, relative to
 * `dir` ('' for those naming no file), with each `file(line,col)` position left as tsc wrote it.
 */
export async function typeCheck(dir: string): Promise<Map<string, string[]>> {
  const child = spawn(process.execPath, [TSC, '-p', '.', '--pretty', 'false'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const byFile = new Map<string, string[]>();
  // A diagnostic starts a line with `file(line,col): error`; the lines after it, indented, go with it.
  let current: string[] | undefined;
  for (const text of output.split('\n')) {
    if (text.trim() === '') continue;
    const m = /^(.+?)\(\d+,\d+\): (error|warning)/.exec(text);
    if (m || !current) {
      const file = m ? m[1]! : '';
      current = byFile.get(file) ?? [];
      byFile.set(file, current);
      current.push(text);
    } else {
      current.push(text);
    }
  }
  if (code !== 0 && byFile.size === 0) byFile.set('', [`tsc exited with ${code} and printed nothing`]);
  return byFile;
}

/**
 * tsc's diagnostics for a sample written to its own file, with `file(line,col)` turned into the
 * Markdown position `README.md:line:col`, so a failure points at the line to fix.
 */
export function atReadmeLines(diagnostics: string[], file: string, sample: Sample, markdownName = 'README.md'): string[] {
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return diagnostics.map((d) => d.replace(new RegExp(`^${escaped}\\((\\d+),(\\d+)\\)`),
    (_, line: string, col: string) => `${markdownName}:${sample.line + Number(line) - 1}:${col}`));
}

/**
 * Waits for a child to exit; one still running after `ms` is SIGKILLed and the error thrown
 * names the time limit and shows what it printed.
 */
export async function exitWithin(child: NodeChild, ms: number, what: string): Promise<Exit> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ms); });
  try {
    const first = await Promise.race([child.exited, limit]);
    if (first !== 'timeout') return first;
  } finally {
    clearTimeout(timer);
  }
  child.child.kill('SIGKILL');
  const killed = await child.exited;
  throw new Error(`${what} did not exit within ${ms / 1000} s and was killed\n${printed(killed)}`);
}

/** A child's output, for a failure message. */
export function printed(exit: Exit): string {
  return `--- stdout ---\n${exit.stdout}--- stderr ---\n${exit.stderr}--------------`;
}
