// Stand-ins, in the browser bundle only, for the Node built-in modules that the wasm backend's
// files import (fs, path and v8 in kernels/wasm/runtime.ts, os in kernels/wasm/index.ts). The page
// gives the backend what they would: the .wasm bytes it fetched (provideWasmBytes), the thread
// count (navigator.hardwareConcurrency), and no V8 flags. See scripts/build-web.js.

function nodeOnly(what: string): never {
  throw new Error(`${what} needs Node; the page passes what it needs instead (see web/node_builtins.ts)`);
}

// fs
export function existsSync(): boolean {
  return false;
}
export function readFileSync(file: string): never {
  return nodeOnly(`reading ${file}`);
}
// data/voc.ts's file functions (the page uses only its formatVocAnnotation and checkClassName)
export function statSync(file: string): never {
  return nodeOnly(`reading ${file}`);
}
export function lstatSync(file: string): never {
  return nodeOnly(`reading ${file}`);
}
export function rmSync(file: string): never {
  return nodeOnly(`removing ${file}`);
}

// path (only for names in messages and for files, which the page does not have)
export const sep = '/';
export function join(...parts: string[]): string {
  return parts.join('/');
}
export function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '.' : p.slice(0, i);
}
export function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
export function relative(from: string, to: string): string {
  return to.startsWith(`${from}/`) ? to.slice(from.length + 1) : to;
}

// v8: a browser validates what it has; there is no flag to set
export function setFlagsFromString(): void {}

// os
export function availableParallelism(): number {
  return typeof navigator === 'object' && navigator.hardwareConcurrency > 0 ? navigator.hardwareConcurrency : 1;
}

// worker_threads: the trainer's input pipeline runs with `workers: 0` in the page (each batch is
// made in the training worker itself), so none of these is ever used
export class Worker {
  constructor() {
    nodeOnly('worker_threads');
  }
}
export const parentPort = null;
export const workerData = undefined;

// crypto: data sets on disk are fingerprinted with it; the page's are in memory
export function createHash(): never {
  return nodeOnly('hashing (crypto)');
}

// zlib: PNG files are read and written through it in Node; the page decodes with the browser
export function inflateSync(): never {
  return nodeOnly('zlib');
}
export function deflateSync(): never {
  return nodeOnly('zlib');
}
