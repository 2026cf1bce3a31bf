// The wasm backend where there is no file system: in the page and in its training worker. The
// .wasm files are fetched from beside the page (scripts/build-web.js copies them to wasm/), and the
// threads are Web Workers (web/wasm_threads.ts) where the page is cross-origin isolated.

import { WasmKernels } from '../kernels/wasm';
import { WASM_FILES, provideWasmBytes, simdSupported } from '../kernels/wasm/runtime';

/** Whether this page may share memory with Web Workers (COOP and COEP headers: scripts/serve-web.js). */
export function isolated(): boolean {
  return (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
}

let wasmLoaded: Promise<void> | null = null;

/** Fetch the wasm backend's modules (built beside the page, in wasm/) once, for WasmKernels to compile. */
export function loadWasm(): Promise<void> {
  wasmLoaded ??= (async () => {
    const bytes = new Map<string, Uint8Array<ArrayBuffer>>();
    await Promise.all(WASM_FILES.map(async (name) => {
      const response = await fetch(`wasm/${name}.wasm`);
      if (!response.ok) throw new Error(`wasm/${name}.wasm: ${response.status} ${response.statusText}`);
      bytes.set(name, new Uint8Array(await response.arrayBuffer()));
    }));
    provideWasmBytes(bytes);
  })();
  return wasmLoaded;
}

/**
 * The wasm kernels: on every core (navigator.hardwareConcurrency threads, the page's included)
 * where the page is cross-origin isolated, else on one thread, with a note that says why.
 */
export async function createWasmKernels(threads?: number): Promise<{ kernels: WasmKernels; note: string }> {
  await loadWasm();
  if (!simdSupported()) throw new Error('this browser does not validate WebAssembly SIMD128');
  const cores = typeof navigator === 'object' && navigator.hardwareConcurrency > 0 ? navigator.hardwareConcurrency : 1;
  const n = isolated() ? (threads ?? cores) : 1;
  const note = isolated() ? '' : 'the page is not cross-origin isolated (no COOP/COEP headers), so the wasm kernels run on one thread';
  return { kernels: new WasmKernels({ threads: n }), note };
}

