import { readFileSync } from 'node:fs';

/** The CPU seconds (user + system) process `pid` has used, from /proc (Linux); NaN elsewhere. */
export function processCpu(pid: number): () => number {
  return () => {
    try {
      // Fields after the command's closing parenthesis: state is the first, utime the 12th, stime the 13th.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    } catch {
      return NaN;
    }
  };
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times, on every architecture Node runs on. */
const CLOCK_TICKS = 100;
