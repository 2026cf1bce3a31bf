// The 'wasm' backend's worker threads in the browser: Web Workers in the place of Node's
// worker_threads (scripts/build-web.js bundles this file where kernels/wasm/threads.ts is
// imported). Everything else is the backend's own: the same compiled modules and the same shared
// WebAssembly.Memory are posted to each worker (web/wasm_worker.ts, bundled as wasm-worker.js),
// a job is the same small description (kernels/wasm/jobs.ts), and every thread, this one
// included, takes task numbers from one atomic counter until none are left.
//
// Posting a shared memory to a worker needs a cross-origin isolated page (COOP same-origin and
// COEP require-corp: scripts/serve-web.js sends them); where the page is not isolated, the page
// makes its WasmKernels with one thread, and this file is never used.

import type { WasmExports, WasmModules } from '../kernels/wasm/runtime';
import { Job, JobMessage, WorkerSetup, runJobTasks } from '../kernels/wasm/jobs';

export type { Job };
export { runJobTasks };

/** What a worker answers once the counter has run out. */
type WorkerReply = { ok: true } | { ok: false; error: string };

export type { JobMessage, WorkerSetup };

/** The worker script, beside the page's main.js. */
export const WORKER_SCRIPT = 'wasm-worker.js';

export class WasmThreads {
  private readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private readonly workers: Worker[] = [];
  private pending: ((reply: WorkerReply) => void)[] = [];
  private broken: Error | null = null;

  /** Starts `workerCount` workers, threads 1..workerCount. */
  constructor(workerCount: number, modules: WasmModules, memory: WebAssembly.Memory) {
    for (let i = 0; i < workerCount; i++) {
      const worker = new Worker(WORKER_SCRIPT);
      const setup: WorkerSetup = { modules, memory, thread: i + 1 };
      worker.postMessage(setup);
      worker.onmessage = (event: MessageEvent<WorkerReply>) => this.pending[i]?.(event.data);
      worker.onerror = (event: ErrorEvent) => {
        this.broken ??= new Error(`wasm worker ${i + 1} crashed: ${event.message}`);
        this.pending[i]?.({ ok: false, error: event.message });
      };
      this.workers.push(worker);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  get threadIds(): number[] {
    return this.workers.map((_, i) => i + 1);
  }

  /** Runs a job on every worker and on this thread (thread 0); resolves when all tasks are done. */
  async run(job: Job, wasm: WasmExports): Promise<void> {
    if (this.broken !== null) throw this.broken;
    Atomics.store(this.counter, 0, 0);
    const replies = this.workers.map((_, i) => new Promise<WorkerReply>((resolve) => (this.pending[i] = resolve)));
    const message: JobMessage = { job, counter: this.counter.buffer as SharedArrayBuffer };
    for (const worker of this.workers) worker.postMessage(message);
    let hereError: unknown = null;
    try {
      runJobTasks(job, wasm, 0, this.counter);
    } catch (error) {
      hereError = error;
      Atomics.store(this.counter, 0, job.tasks.length); // no more tasks for anyone
    }
    const answers = await Promise.all(replies); // none may still be writing when the next job starts
    this.pending = [];
    if (hereError !== null) throw hereError;
    const failed = answers.findIndex((a) => !a.ok);
    if (failed >= 0) throw new Error(`wasm worker ${failed + 1}: ${(answers[failed] as { error: string }).error}`);
  }

  async dispose(): Promise<void> {
    for (const worker of this.workers) worker.terminate();
  }
}
