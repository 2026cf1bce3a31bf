// Reading and writing files with errors that name the file, and writes that never leave a
// half-written file behind ("nothing is lost"). Used by the weights files here
// and by the images and annotations of data/.

import * as fs from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';

/** The whole file, or an error saying which file and why ("no such file" rather than ENOENT). */
export function readFileNamed(filePath: string, what: string): Buffer {
  try {
    return fs.readFileSync(filePath);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'no such file' : e.message;
    throw new Error(`${filePath}: cannot read ${what}: ${reason}`);
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
 * Write `bytes` to `filePath` atomically: they go to a temporary file in the same directory,
 * which is flushed and then renamed over `filePath`. A rename within one directory is atomic,
 * so an interrupted write leaves either the old file or the complete new one, never a mix.
 * With `createDirectory`, a missing directory is created; otherwise it is an error.
 */
export function writeFileAtomic(filePath: string, bytes: Uint8Array | string, what: string, options: { createDirectory?: boolean } = {}): void {
  const tmpPath = `${filePath}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | undefined;
  try {
    if (options.createDirectory) makeDirectory(path.dirname(filePath));
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
