// A Web Worker of the 'wasm' backend in the page (bundled by scripts/build-web.js as
// wasm-worker.js; web/wasm_threads.ts starts it): the same job loop as Node's worker thread
// (kernels/wasm/worker.ts). The first message brings the compiled modules and the shared memory;
// each later one a job, whose tasks it takes from the shared counter until none are left.

import { WasmExports, instantiate } from '../kernels/wasm/runtime';
import { runJobTasks } from '../kernels/wasm/jobs';
import type { JobMessage, WorkerSetup } from './wasm_threads';

/** The worker's global scope, as much of it as is used (the DOM's types describe the page's window). */
const scope = self as unknown as { onmessage: ((event: MessageEvent<WorkerSetup | JobMessage>) => void) | null; postMessage(message: unknown): void };

let wasm: WasmExports | null = null;
let thread = 0;

scope.onmessage = (event) => {
  const message = event.data;
  if ('modules' in message) {
    wasm = instantiate(message.modules, message.memory);
    thread = message.thread;
    return;
  }
  try {
    if (wasm === null) throw new Error('a job came before the modules');
    runJobTasks(message.job, wasm, thread, new Int32Array(message.counter));
    scope.postMessage({ ok: true });
  } catch (error) {
    scope.postMessage({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
};
