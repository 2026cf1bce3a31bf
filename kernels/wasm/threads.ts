// The worker threads of the 'wasm' backend: each instantiates the same compiled modules on the
// same shared WebAssembly.Memory, so a job is only a description (addresses and a task list: a
// convolution pass of conv.ts or a sweep of sweep.ts), and every thread, the main one included,
// takes task numbers from one atomic counter.
//
// Lifetime as in the cpu backend's pool: workers are unref()'d while idle (a forgotten backend
// never keeps Node alive) and ref()'d while a job runs; dispose() terminates them.

import * as path from 'path';
import { Worker } from 'worker_threads';
import { ConvJob, runConvTasks } from './conv';
import { SweepJob, runSweepTasks } from './sweep';
import { WinogradJob, runWinogradTasks } from './winograd';
import { WasmExports, WasmModules } from './runtime';

/** What the threads run: a convolution pass (GEMM or Winograd) or a memory-bound sweep. */
export type Job = ConvJob | WinogradJob | SweepJob;

/** Runs a job's tasks on this thread until there are none left (counter null: all of them). */
export function runJobTasks(job: Job, wasm: WasmExports, thread: number, counter: Int32Array | null): void {
  if ('pass' in job) runConvTasks(job, wasm, thread, counter);
  else if ('winograd' in job) runWinogradTasks(job, wasm, thread, counter);
  else runSweepTasks(job, wasm, counter);
}

/** What a worker is started with. */
export interface WorkerSetup {
  modules: WasmModules;
  memory: WebAssembly.Memory;
  /** This worker's thread number (the main thread is 0): which scratch block it uses. */
  thread: number;
}

/** What a worker receives per job: the job and the shared task counter. */
export interface JobMessage {
  job: Job;
  counter: SharedArrayBuffer;
}

/** What a worker answers once the counter has run out. */
export type WorkerReply = { ok: true } | { ok: false; error: string };

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class WasmThreads {
  private readonly workers: Worker[] = [];
  private readonly pending: (Pending | null)[] = [];
  private readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private broken: Error | null = null;
  private disposed = false;

  /** Starts `workerCount` workers, threads 1..workerCount. */
  constructor(workerCount: number, modules: WasmModules, memory: WebAssembly.Memory) {
    for (let i = 0; i < workerCount; i++) {
      const workerData: WorkerSetup = { modules, memory, thread: i + 1 };
      // The compiled worker sits next to this file: dist/kernels/wasm/worker.js.
      const worker = new Worker(path.join(__dirname, 'worker.js'), { workerData });
      worker.unref();
      worker.on('message', (reply: WorkerReply) => this.settle(i, reply.ok ? null : new Error(`wasm worker ${i + 1}: ${reply.error}`)));
      worker.on('error', (error) => this.fail(new Error(`wasm worker ${i + 1} crashed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (!this.disposed) this.fail(new Error(`wasm worker ${i + 1} exited unexpectedly (code ${code})`));
      });
      this.workers.push(worker);
      this.pending.push(null);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  get threadIds(): number[] {
    return this.workers.map((w) => w.threadId);
  }

  /** Runs a job on every worker and on the calling thread (thread 0); resolves when all tasks are done. */
  async run(job: Job, wasm: WasmExports): Promise<void> {
    if (this.disposed) throw new Error('wasm backend: worker threads used after dispose()');
    if (this.broken !== null) throw this.broken;
    Atomics.store(this.counter, 0, 0);
    const message: JobMessage = { job, counter: this.counter.buffer as SharedArrayBuffer };
    const replies = this.workers.map((_, i) => new Promise<void>((resolve, reject) => (this.pending[i] = { resolve, reject })));
    for (const worker of this.workers) {
      worker.ref();
      worker.postMessage(message);
    }
    let mainError: unknown = null;
    try {
      runJobTasks(job, wasm, 0, this.counter);
    } catch (error) {
      mainError = error;
      Atomics.store(this.counter, 0, job.tasks.length); // no more tasks for anyone (a task is several ints)
    }
    // Wait for every worker, even after a failure: none may still be writing when the next job starts.
    const settled = await Promise.allSettled(replies);
    for (const worker of this.workers) worker.unref();
    if (mainError !== null) throw mainError;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private settle(i: number, error: Error | null): void {
    const p = this.pending[i];
    this.pending[i] = null;
    if (p === null) return;
    if (error === null) p.resolve();
    else p.reject(error);
  }

  private fail(error: Error): void {
    this.broken ??= error;
    for (let i = 0; i < this.pending.length; i++) this.settle(i, error);
  }
}
