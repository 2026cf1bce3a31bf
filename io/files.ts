// Reading and writing files with errors that name the file, and writes that never leave a
// half-written file behind ("nothing is lost"). Used by the weights files (tensor/safetensors.ts),
// the images and annotations of data/, the training checkpoints and the CLI's lock on its outputs.
//
// Every read has a size bound, checked on the open file before a byte is read: a data set's
// annotation may be a link to /dev/zero or to a 2 GB file, and reading "the whole file" would then
// never end or fill the memory.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomBytes } from 'crypto';

/** What went wrong opening or reading a file, in words ("no such file" rather than ENOENT). */
function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file';
    case 'ELOOP':
      return 'a loop of symbolic links';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    default:
      return e.message;
  }
}

function bytes(n: number): string {
  return `${n.toLocaleString('en-US')} bytes`;
}

/**
 * Open a file for reading and check that it is a plain file of at most `maxBytes` bytes, before
 * anything is read. O_NONBLOCK: opening a FIFO would otherwise wait for a writer for ever (it is
 * then refused as not a plain file); it changes nothing for a plain file. Returns the descriptor
 * (the caller closes it) and the size.
 */
export function openForReading(filePath: string, what: string, maxBytes: number): { fd: number; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(filePath, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw new Error(`${filePath}: cannot read ${what}: ${reasonOf(err)}`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw new Error(`${filePath}: cannot read ${what}: is a directory`);
    if (!stat.isFile()) throw new Error(`${filePath}: cannot read ${what}: not a plain file (a device, a FIFO or a socket)`);
    if (stat.size > maxBytes) {
      throw new Error(`${filePath}: cannot read ${what}: the file is ${bytes(stat.size)}, above the limit of ${bytes(maxBytes)} for ${what}`);
    }
    return { fd, size: stat.size };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Read `length` bytes from the start of an open file (fewer if the file shrank meanwhile). */
function readFromStart(fd: number, length: number): Buffer {
  const buffer = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buffer, got, length - got, got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buffer : buffer.subarray(0, got);
}

/**
 * The whole file, or an error saying which file and why. A file above `maxBytes`, or one that is
 * not a plain file (a device, a FIFO), is refused before it is read (see openForReading).
 */
export function readFileNamed(filePath: string, what: string, maxBytes: number): Buffer {
  const { fd, size } = openForReading(filePath, what, maxBytes);
  try {
    return readFromStart(fd, size); // the size checked, not "until the end": a file growing meanwhile stops there
  } catch (err) {
    throw new Error(`${filePath}: cannot read ${what}: ${reasonOf(err)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** The first `length` bytes of a file (all of it if shorter), with the checks of openForReading. */
export function readFilePrefix(filePath: string, what: string, maxBytes: number, length: number): { prefix: Buffer; size: number } {
  const { fd, size } = openForReading(filePath, what, maxBytes);
  try {
    return { prefix: readFromStart(fd, Math.min(length, size)), size };
  } catch (err) {
    throw new Error(`${filePath}: cannot read ${what}: ${reasonOf(err)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Create a directory and any missing parents (like `mkdir -p`), with errors that say which
 * directory could not be made. Done one level at a time on purpose: Node 20's
 * `fs.mkdirSync(dir, { recursive: true })` never returns for a path under /proc (it retries the
 * ENOENT forever), so a mistyped output folder would hang the command.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  while (!fs.existsSync(at)) {
    missing.push(at);
    const parent = path.dirname(at);
    if (parent === at) break; // the root
    at = parent;
  }
  if (fs.existsSync(at) && !fs.statSync(at).isDirectory()) throw new Error(`${dir}: cannot create the directory: ${at} is a file`);
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code !== 'EEXIST') throw new Error(`${dir}: cannot create the directory ${d}: ${e.code ?? e.message}`);
    }
  }
}

/**
 * Whether a process with this id runs on this machine. A process of another user counts (EPERM:
 * it exists); only ESRCH says there is none. Ids below 1 name process groups, never a writer.
 */
export function processIsAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid < 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The name of a temporary file of `filePath`: `<name>.tmp-<pid>-<12 hex digits>`, beside it. */
function temporaryName(filePath: string): string {
  return `${filePath}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

const TEMPORARY_SUFFIX = /^\.tmp-(\d+)-[0-9a-f]{12}$/;

/** The directories whose listing this process has read for stale temporaries: name -> the stale ones by target. */
const staleByDirectory = new Map<string, Map<string, string[]>>();

/**
 * Remove the temporary files of `filePath` that a killed writer left behind (kill -9 or a power cut
 * between the write and the rename). Only what is surely stale goes: a name of exactly
 * writeFileAtomic's pattern for this very target, whose writer's process id runs no process on this
 * machine. A live writer's temporary, another file's, and anything else are left alone. (A
 * directory shared with another machine could hold a live writer's temporary whose id happens to
 * be free here; writing one output from two machines at once is not supported: the lock on --out
 * is per machine too.) Each directory is listed once per process, so writing thousands of files
 * into one directory does not list it thousands of times.
 */
function removeStaleTemporaries(filePath: string): void {
  const dir = path.dirname(path.resolve(filePath));
  let byTarget = staleByDirectory.get(dir);
  if (byTarget === undefined) {
    byTarget = new Map();
    let names: string[] = [];
    try {
      names = fs.readdirSync(dir);
    } catch {
      // not listable: nothing to clean, and the write itself will say what is wrong
    }
    for (const name of names) {
      const at = name.lastIndexOf('.tmp-');
      const m = at > 0 ? TEMPORARY_SUFFIX.exec(name.slice(at)) : null;
      if (m === null) continue;
      const pid = Number(m[1]);
      // no writer has an id below 1 (those name process groups): such a name is not our leftover
      if (!Number.isSafeInteger(pid) || pid < 1 || pid === process.pid || processIsAlive(pid)) continue;
      const target = name.slice(0, at);
      byTarget.set(target, [...(byTarget.get(target) ?? []), name]);
    }
    staleByDirectory.set(dir, byTarget);
  }
  const base = path.basename(filePath);
  for (const name of byTarget.get(base) ?? []) {
    try {
      fs.unlinkSync(path.join(dir, name));
    } catch {
      // gone already (another run cleaned it): fine
    }
  }
  byTarget.delete(base);
}

/**
 * Write `bytes` to `filePath` atomically: they go to a temporary file in the same directory,
 * which is flushed and then renamed over `filePath`. A rename within one directory is atomic,
 * so an interrupted write leaves either the old file or the complete new one, never a mix; the
 * temporary a killed write leaves is removed by the next write of the same file.
 * With `createDirectory`, a missing directory is created; otherwise it is an error.
 */
/**
 * What an existing path is, when it is something a file written by rename must not replace: a
 * directory, a device (/dev/null: renaming a file over it, as root, turns it into a plain file for
 * every program on the machine), a FIFO or a socket. Links are followed. null for a plain file or
 * a path that does not exist yet.
 */
function notAFile(filePath: string): string | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(filePath);
  } catch {
    return null;
  }
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'is a device, not a file';
  if (st.isFIFO()) return 'is a FIFO, not a file';
  if (st.isSocket()) return 'is a socket, not a file';
  return 'is not a plain file';
}

export function writeFileAtomic(filePath: string, bytes: Uint8Array | string, what: string, options: { createDirectory?: boolean } = {}): void {
  const tmpPath = temporaryName(filePath);
  let fd: number | undefined;
  try {
    const notFile = notAFile(filePath);
    if (notFile !== null) throw new Error(notFile);
    if (options.createDirectory) makeDirectory(path.dirname(filePath));
    removeStaleTemporaries(filePath);
    fd = fs.openSync(tmpPath, 'wx'); // 'x': never clobber a file that happens to have this name
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    let written = 0;
    while (written < data.length) written += fs.writeSync(fd, data, written, data.length - written);
    fs.fsyncSync(fd); // on disk before the rename makes it "the" file
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmpPath, filePath);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error is the one worth reporting
      }
    }
    try {
      fs.unlinkSync(tmpPath);
    } catch {
      // it may never have been created
    }
    throw new Error(`${filePath}: cannot write ${what}: ${(err as Error).message}`);
  }
  syncDirectory(path.dirname(filePath));
}

/**
 * Check, before any work, that writeFileAtomic will be able to write `filePath`: its directory
 * exists and takes a new file of the temporary's name (which is longer than the file's own: a name
 * near the system's limit of 255 bytes fails only there), and `filePath` is not a directory, a device,
 * a FIFO or a socket.
 * Nothing is left behind. Errors name the file and `what`.
 */
export function checkCanWrite(filePath: string, what: string): void {
  try {
    const notFile = notAFile(filePath);
    if (notFile !== null) throw new Error(notFile);
    const probe = temporaryName(filePath);
    fs.closeSync(fs.openSync(probe, 'wx'));
    fs.unlinkSync(probe);
  } catch (err) {
    throw new Error(`${filePath}: cannot write ${what} there (${reasonOf(err)})`);
  }
}

/** Best effort: flush the directory so the rename itself survives a power cut (not possible everywhere). */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the file is already in place.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Locks: one run writes one output at a time
// ---------------------------------------------------------------------------------------------

/** What a lock file holds: who holds it. */
interface LockOwner {
  pid: number;
  host: string;
  /** The process's start time (Linux: clock ticks since boot), so that a reused process id is not taken for the owner. */
  started: string | null;
}

/** A process's start time from /proc, or null where there is no /proc (then only the id is compared). */
function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null; // field 22, starttime
  } catch {
    return null;
  }
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && (o.started === null || typeof o.started === 'string')) return { pid: o.pid, host: o.host, started: o.started };
  } catch {
    // not ours, or cut short
  }
  return null;
}

/** Whether the owner of a lock still runs: on this machine, with its id and (where known) its start time. */
function ownerIsAlive(owner: LockOwner): boolean {
  if (owner.host !== os.hostname()) return true; // cannot tell: another machine's process is taken to run
  if (!processIsAlive(owner.pid)) return false;
  const started = processStartTime(owner.pid);
  return owner.started === null || started === null || started === owner.started;
}

/** The lock file of an output: `<output>.lock` beside it. */
export function lockPathOf(output: string): string {
  return `${output}.lock`;
}

/**
 * Take the lock of `output` (a file `<output>.lock` beside it) for this process, or throw if
 * another run holds it: two runs writing one checkpoint would leave one of them, silently. The
 * lock file is made complete under a temporary name and hard-linked into place, which fails if a
 * lock exists, so it never exists half-written. A lock whose process is gone (killed, the machine
 * restarted) is stale: it is moved aside, checked to be the one read, and taken over; `onStale`
 * hears of it. The lock is removed by the returned function and, failing that, when the process
 * exits; after a kill -9 it stays, and the next run finds it stale.
 */
export function lockOutput(output: string, what: string, onStale: (message: string) => void = () => {}): () => void {
  const lock = lockPathOf(output);
  const mine = JSON.stringify({ pid: process.pid, host: os.hostname(), started: processStartTime(process.pid) } satisfies LockOwner);
  for (let attempt = 0; attempt < 3; attempt++) {
    const tmp = temporaryName(lock);
    let taken = false;
    try {
      fs.writeFileSync(tmp, mine, { flag: 'wx' });
      fs.linkSync(tmp, lock);
      taken = true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        // a file system without hard links: an exclusive create, written at once
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
          try {
            fs.writeFileSync(lock, mine, { flag: 'wx' });
            taken = true;
          } catch (err2) {
            if ((err2 as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${lock}: cannot lock ${what}: ${reasonOf(err2)}`);
          }
        } else {
          throw new Error(`${lock}: cannot lock ${what}: ${reasonOf(err)}`);
        }
      }
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    if (taken) {
      const release = (): void => {
        try {
          if (fs.readFileSync(lock, 'utf8') === mine) fs.unlinkSync(lock);
        } catch {
          // already gone
        }
        process.removeListener('exit', release);
      };
      process.on('exit', release);
      return release;
    }
    // someone holds it: alive, or stale?
    let text: string;
    try {
      text = fs.readFileSync(lock, 'utf8').slice(0, 4096);
    } catch {
      continue; // released meanwhile: try again
    }
    const owner = parseOwner(text);
    const age = (Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0)) / 1000;
    if (owner === null ? age < 60 : ownerIsAlive(owner)) {
      const who = owner === null ? 'another run' : `another run (process ${owner.pid}${owner.host !== os.hostname() ? ` on ${owner.host}` : ''})`;
      throw new Error(
        `${output}: ${what} is being written by ${who}: two runs on one output would leave only one of them ` +
          `(its lock is ${lock}; delete it if no run uses ${output})`,
      );
    }
    // stale: move it aside under a name of our own, and check that what moved is what was read
    // (another run may have taken it over in between: then it is put back)
    const aside = `${lock}.stale-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      fs.renameSync(lock, aside);
    } catch {
      continue; // taken over or removed by another run: look again
    }
    const moved = fs.readFileSync(aside, 'utf8').slice(0, 4096);
    if (moved !== text) {
      try {
        fs.linkSync(aside, lock);
      } catch {
        // a third run took the place meanwhile: it holds the lock
      }
      fs.rmSync(aside, { force: true });
      continue;
    }
    fs.rmSync(aside, { force: true });
    onStale(`${lock}: removed a stale lock (${owner === null ? 'unreadable' : `process ${owner.pid} no longer runs`})`);
  }
  throw new Error(`${lock}: cannot lock ${what}: other runs keep taking and leaving it`);
}
