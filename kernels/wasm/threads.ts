// The worker threads of the 'wasm' backend: each instantiates the same compiled modules on the
// same shared WebAssembly.Memory, so a job is only a description (addresses and a task list: a
// convolution pass of conv.ts or a sweep of sweep.ts), and every thread, the main one included,
// takes task numbers from one atomic counter.
//
// The life cycle (starting, posting, waiting, errors, unref while idle, dispose) is the cpu
// backend's too: kernels/task_threads.ts. In the browser, the page's bundle puts
// web/wasm_threads.ts (Web Workers, the same jobs: ./jobs.ts) in this file's place.

import * as path from 'path';
import { TaskThreads } from '../task_threads';
import { Job, JobMessage, WorkerSetup, runJobTasks } from './jobs';
import { WasmExports, WasmModules } from './runtime';

export type { Job };
export { runJobTasks };

export type { JobMessage, WorkerSetup };

export class WasmThreads {
  private readonly threads: TaskThreads;

  /** Starts `workerCount` workers, threads 1..workerCount. */
  constructor(workerCount: number, modules: WasmModules, memory: WebAssembly.Memory) {
    // The compiled worker sits next to this file: dist/kernels/wasm/worker.js.
    this.threads = new TaskThreads('wasm backend worker threads', path.join(__dirname, 'worker.js'), workerCount, {
      name: (i) => `wasm worker ${i + 1}`,
      workerData: (i): WorkerSetup => ({ modules, memory, thread: i + 1 }),
    });
  }

  get size(): number {
    return this.threads.size;
  }

  get threadIds(): number[] {
    return this.threads.threadIds;
  }

  /** Runs a job on every worker and on the calling thread (thread 0); resolves when all tasks are done. */
  run(job: Job, wasm: WasmExports): Promise<void> {
    const counter = this.threads.counter;
    const message: JobMessage = { job, counter: counter.buffer as SharedArrayBuffer };
    // a task is several ints of job.tasks: its length is past the last task number
    return this.threads.run(message, () => runJobTasks(job, wasm, 0, counter), job.tasks.length);
  }

  dispose(): Promise<void> {
    return this.threads.dispose();
  }
}
