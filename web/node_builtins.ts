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

// path
export function join(...parts: string[]): string {
  return parts.join('/');
}

// v8: a browser validates what it has; there is no flag to set
export function setFlagsFromString(): void {}

// os
export function availableParallelism(): number {
  return typeof navigator === 'object' && navigator.hardwareConcurrency > 0 ? navigator.hardwareConcurrency : 1;
}
