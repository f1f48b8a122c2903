import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { LindenError } from '../../protocol/errors.js';

/** The lock file in the data folder; its presence with a live holder means "this folder is taken". */
export const LOCK_FILE = 'linden.lock';

/** What a lock file holds: who has the folder, and enough to tell whether that process still runs. */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** When the holder took the lock (ISO 8601), for the operator reading the message. */
  started: string;
  /** Linux: the process's start time in clock ticks after boot, /proc/<pid>/stat field 22. A pid reused by another process has another. */
  startTime: string | null;
  /** Linux: /proc/sys/kernel/random/boot_id. A lock from an earlier boot is stale whatever its pid. */
  bootId: string | null;
  /** Unique to one acquisition: tells this process's own locks from those of an earlier process that had the same pid. */
  token: string;
}

/** Tokens of the locks this process holds or is taking; a lock naming our pid with another token is a former process's. */
const heldHere = new Set<string>();

/** How long to keep trying while another process is replacing a stale lock (it takes milliseconds). */
const TAKEOVER_MS = 2_000;
const RETRY_MS = 5;

/**
 * One owner per data folder: the file `linden.lock` in it, holding a LockHolder as JSON.
 *
 * Node has no flock(), and LMDB lets several processes share an environment, so ownership is a
 * file created atomically: the record is written and synced under a name of our own, then
 * link()ed to `linden.lock`, which fails with EEXIST when the file is there. The lock file is
 * therefore never seen half written.
 *
 * A lock file whose holder is gone is stale and is taken over, so a crash never blocks a
 * restart. Stale means, on the same host: another boot; the pid is not alive; the pid is alive
 * but started at another time (reused); or the pid is ours but the token is not one this process
 * holds (a container restarted, the broker again pid 1). Unreadable content is stale too: the
 * record is synced before it is linked, so only a damaged disk leaves that. A lock from another
 * host (a shared disk) cannot be checked from here and is refused with advice.
 */
export class FolderLock {
  private released: Promise<void> | undefined;

  private constructor(readonly path: string, private readonly record: string, private readonly token: string) {}

  /** Takes the folder (which must exist); DATA_DIR_LOCKED when a live process holds it. */
  static async acquire(dir: string): Promise<FolderLock> {
    const folder = resolve(dir);
    const path = join(folder, LOCK_FILE);
    const me = ownHolder();
    const record = `${JSON.stringify(me)}\n`;
    // Known before the file exists, so a concurrent acquire in this process judges it live.
    heldHere.add(me.token);
    const draft = `${path}.${me.pid}-${me.token}.new`;
    try {
      await writeSynced(draft, record);
      const deadline = Date.now() + TAKEOVER_MS;
      for (;;) {
        try {
          await link(draft, path);
          return new FolderLock(path, record, me.token);
        } catch (err) {
          if (errno(err) !== 'EEXIST') throw err;
        }
        const found = await readLock(path);
        if (found === undefined) continue; // released or removed meanwhile: link again
        const holder = parseHolder(found);
        const verdict = holder ? judge(holder) : 'stale';
        if (verdict === 'live') throw inUse(folder, holder!);
        if (verdict === 'elsewhere') throw heldElsewhere(folder, path, holder!);
        const outcome = await removeStale(path, found, draft);
        if (outcome === 'busy') {
          if (Date.now() > deadline) throw new LindenError('DATA_DIR_LOCKED', `data folder ${folder}: another process keeps replacing the stale lock ${path}; try again`, { dataDir: folder });
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
    } catch (err) {
      heldHere.delete(me.token);
      throw err;
    } finally {
      await unlink(draft).catch(() => undefined);
    }
  }

  /** Deletes the lock file if it is still ours. */
  release(): Promise<void> {
    this.released ??= (async () => {
      if ((await readLock(this.path)) === this.record) await unlink(this.path).catch(() => undefined);
      heldHere.delete(this.token);
    })();
    return this.released;
  }
}

/**
 * Deletes the stale lock whose content is `stale`, unless another process is on it.
 *
 * Two brokers that find the same stale lock must not both delete "the" lock file: B could
 * delete the fresh lock C has just linked in its place, and both would run. So a deletion needs
 * a claim, a name derived from the stale content that our record is link()ed to: exactly one
 * process gets it, and like the lock it is never seen half written. That process reads the lock file again and deletes it only if it still holds
 * the stale content; then everybody races link() again, which one wins. Only a claimer deletes a
 * stale lock, and a claim is removed only after its deletion, so the content cannot change
 * between the claimer's read and its unlink. (Inode numbers would not do: a deleted lock's inode
 * is soon reused by the next one.)
 *
 * A claimer killed between claim and removal leaves a claim that is itself stale: the next
 * contender takes generation 2, and so on; each generation is taken once.
 */
async function removeStale(path: string, stale: string, draft: string): Promise<'removed' | 'busy'> {
  const name = createHash('sha256').update(stale).digest('hex').slice(0, 16);
  for (let generation = 1; ; generation++) {
    const claim = `${path}.${name}.claim${generation}`;
    try {
      await link(draft, claim);
    } catch (err) {
      if (errno(err) !== 'EEXIST') throw err;
      const text = await readLock(claim);
      const claimer = text === undefined ? undefined : parseHolder(text);
      // Gone meanwhile (the claimer finished): the lock changed, so look at it again.
      if (text === undefined || (claimer !== undefined && judge(claimer) !== 'stale')) return 'busy';
      continue;
    }
    try {
      if ((await readLock(path)) === stale) await unlink(path);
    } finally {
      await unlink(claim).catch(() => undefined);
    }
    return 'removed';
  }
}

type Verdict = 'live' | 'stale' | 'elsewhere';

function judge(h: LockHolder): Verdict {
  if (h.hostname !== hostname()) return 'elsewhere';
  if (h.pid === process.pid) return heldHere.has(h.token) ? 'live' : 'stale';
  const boot = bootId();
  if (boot !== null && h.bootId !== null && h.bootId !== boot) return 'stale';
  if (!alive(h.pid)) return 'stale';
  const startTime = processStartTime(h.pid);
  if (startTime !== null && h.startTime !== null && startTime !== h.startTime) return 'stale';
  return 'live';
}

function ownHolder(): LockHolder {
  return {
    pid: process.pid,
    hostname: hostname(),
    started: new Date().toISOString(),
    startTime: processStartTime(process.pid),
    bootId: bootId(),
    token: randomBytes(8).toString('hex'),
  };
}

/** Signal 0 tests for existence: ESRCH means no such process; EPERM means it exists under another user. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat; null where there is no /proc (not Linux) or the process is gone. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the command name in parentheses, may hold spaces and parentheses itself: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

let boot: string | null | undefined;
function bootId(): string | null {
  if (boot === undefined) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = null;
    }
  }
  return boot;
}

function parseHolder(text: string): LockHolder | undefined {
  let v: Partial<LockHolder>;
  try {
    v = JSON.parse(text) as Partial<LockHolder>;
  } catch {
    return undefined;
  }
  // pid 0 or negative would make process.kill() signal a whole process group.
  if (typeof v !== 'object' || v === null || !Number.isSafeInteger(v.pid) || v.pid! <= 0 || typeof v.hostname !== 'string' || typeof v.token !== 'string') return undefined;
  return {
    pid: v.pid!, hostname: v.hostname, token: v.token,
    started: typeof v.started === 'string' ? v.started : 'at an unknown time',
    startTime: typeof v.startTime === 'string' ? v.startTime : null,
    bootId: typeof v.bootId === 'string' ? v.bootId : null,
  };
}

/** The file's text, or undefined when there is no such file. */
async function readLock(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Creates `path` with `text` and syncs it, so a lock linked to it is whole after a power loss too. */
async function writeSynced(path: string, text: string): Promise<void> {
  const file = await open(path, 'wx');
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
}

function inUse(folder: string, h: LockHolder): LindenError {
  const who = h.pid === process.pid ? `a broker in this process (pid ${h.pid})` : `another broker, pid ${h.pid} (started ${h.started})`;
  return new LindenError('DATA_DIR_LOCKED', `data folder ${folder} is in use by ${who}; stop it first, or give this broker another data folder`, {
    dataDir: folder, pid: h.pid, hostname: h.hostname,
  });
}

function heldElsewhere(folder: string, path: string, h: LockHolder): LindenError {
  return new LindenError(
    'DATA_DIR_LOCKED',
    `data folder ${folder} is locked by pid ${h.pid} on host ${h.hostname} (started ${h.started}), which cannot be checked from host ${hostname()}; if no broker runs on that folder there any more, delete ${path}`,
    { dataDir: folder, pid: h.pid, hostname: h.hostname },
  );
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}
