// Where a command writes, checked against what it reads before anything is written: no output
// may be one of the command's inputs, whatever name it goes by (./x, a/../x, a symbolic link, a
// hard link), and none may lie inside a data set the command reads. Every command that writes
// calls checkOutputs; each output is then locked for the run (io/files.ts, lockOutput).

import * as fs from 'fs';
import * as path from 'path';
import { checkCanWrite, makeDirectory } from '../io/files';

/** A path and what it is to the command, in words ('the image', 'the --weights file'). */
export interface NamedPath {
  path: string;
  what: string;
}

/** Which file a path is, links followed (device and inode: hard links and every other name agree), or null if there is none. */
function identity(p: string): string | null {
  try {
    const st = fs.statSync(p);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/**
 * Where a path that may not exist yet would be: the real path (links followed) of its nearest
 * existing ancestor, with the rest of it after. Two names of one place come out the same.
 */
function realLocation(p: string): string {
  const rest: string[] = [];
  let at = path.resolve(p);
  for (;;) {
    try {
      return path.join(fs.realpathSync(at), ...rest);
    } catch {
      const parent = path.dirname(at);
      if (parent === at) return path.resolve(p);
      rest.unshift(path.basename(at));
      at = parent;
    }
  }
}

function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || !(rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel));
}

/**
 * The folders a data set's files are in: the root and its three VOC folders, each by its real path
 * (a JPEGImages that is a link to a folder of photos elsewhere counts as the data set's too).
 */
function dataFolders(root: string): string[] {
  const folders = [root, path.join(root, 'JPEGImages'), path.join(root, 'Annotations'), path.join(root, 'ImageSets')];
  return folders.filter((f) => fs.existsSync(f)).map((f) => fs.realpathSync(f));
}

/**
 * Throw, naming both paths, if an output is one of the inputs or lies inside a data set. Run it
 * before anything is written (and again once a data set's files are known: an image of the data
 * set may be a link to a file elsewhere). `inputs` are files the command reads; `dataRoots` data
 * set folders, everything under which is input.
 */
export function checkOutputs(outputs: readonly NamedPath[], inputs: readonly NamedPath[], dataRoots: readonly NamedPath[] = []): void {
  const byIdentity = new Map<string, NamedPath>();
  for (const input of inputs) {
    const id = identity(input.path);
    if (id !== null && !byIdentity.has(id)) byIdentity.set(id, input);
  }
  const folders = dataRoots.flatMap((root) => dataFolders(root.path).map((real) => ({ real, root })));
  for (const out of outputs) {
    const id = identity(out.path);
    const same = id === null ? undefined : byIdentity.get(id);
    if (same !== undefined) {
      const also = path.resolve(same.path) === path.resolve(out.path) ? '' : ' (the same file by another name)';
      throw new Error(`${out.path}: ${out.what} would overwrite ${same.what} ${same.path}${also}; choose another output`);
    }
    const location = realLocation(out.path);
    for (const { real, root } of folders) {
      if (isInside(location, real)) {
        throw new Error(`${out.path}: ${out.what} would be written inside ${root.what} ${root.path}; choose an output outside it`);
      }
    }
  }
}

/** Make `dir` if needed and check that it can be written, before any work; `refusal` starts the error. */
export function checkWritableDirectory(dir: string, refusal: string): void {
  try {
    makeDirectory(dir);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new Error(`${refusal} (${(e as Error).message})`);
  }
}

/**
 * Fail before any work, not after the first epoch, if an output file cannot be written: its
 * folder is made and a file of the temporary's name (the longest name the write uses) is created
 * and removed there. A 100,000-character --out used to fail only after training.
 */
export function checkWritable(file: string, what: string): void {
  checkWritableDirectory(path.dirname(path.resolve(file)), `--out ${file}: cannot write there`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new Error(`--out ${file}: is a directory`);
  try {
    checkCanWrite(file, what); // its message names the file: "FILE: cannot write WHAT there (why)"
  } catch (e) {
    throw new Error(`--out ${(e as Error).message}`);
  }
}
