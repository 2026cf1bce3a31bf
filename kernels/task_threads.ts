// Worker threads that share out one job's tasks with the calling thread: the life cycle that the
// cpu backend's pool (kernels/cpu/fast/worker_pool.ts) and the wasm backend's threads
// (kernels/wasm/threads.ts) have in common. Their data lives in shared memory, so a job travels to
// the workers as a small message that describes it; then every thread, the calling one included,
// takes task numbers from one atomic counter (`counter`) until none are left, and each worker
// answers once. An error inside a worker's tasks fails that one call and leaves the threads
// usable; a worker that crashes or exits breaks them for good.
//
// Lifetime: workers are unref()'d while idle, so forgotten threads never keep Node alive, and
// ref()'d only while a job runs (otherwise a script awaiting a job could exit half-way).
// dispose() terminates them.

import { Worker, parentPort } from 'worker_threads';

/** What a worker answers once the counter has run out. */
export type WorkerReply = { ok: true } | { ok: false; error: string };

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface TaskThreadsOptions {
  /** How errors name worker i ('worker 0', 'wasm worker 1'). */
  name: (i: number) => string;
  /** What worker i is started with (its worker_threads workerData). */
  workerData?: (i: number) => unknown;
}

export class TaskThreads {
  /** The task counter every thread takes task numbers from (Atomics.add). */
  readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private readonly workers: Worker[] = [];
  private readonly pending: (Pending | null)[] = [];
  private broken: Error | null = null;
  private disposed = false;

  /** Starts `workerCount` workers running the compiled `script`; `owner` names them in errors. */
  constructor(private readonly owner: string, script: string, workerCount: number, options: TaskThreadsOptions) {
    for (let i = 0; i < workerCount; i++) {
      const name = options.name(i);
      const worker = new Worker(script, { workerData: options.workerData?.(i) });
      worker.unref();
      worker.on('message', (reply: WorkerReply) => this.settle(i, reply.ok ? null : new Error(`${name}: ${reply.error}`)));
      worker.on('error', (error) => this.fail(new Error(`${name} crashed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (!this.disposed) this.fail(new Error(`${name} exited unexpectedly (code ${code})`));
      });
      this.workers.push(worker);
      this.pending.push(null);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** The workers' thread ids (for tests: the threads must not grow). */
  get threadIds(): number[] {
    return this.workers.map((w) => w.threadId);
  }

  /**
   * Resets the counter, posts `message` to every worker, runs `here` (this thread's share of the
   * tasks) and resolves once every worker has answered. If `here` throws, the counter jumps to
   * `taskCount` so that no thread starts another task; the call still waits for every worker,
   * since none may be writing when the next job starts.
   */
  async run(message: unknown, here: () => void, taskCount: number): Promise<void> {
    if (this.disposed) throw new Error(`${this.owner}: used after dispose()`);
    if (this.broken !== null) throw this.broken;
    Atomics.store(this.counter, 0, 0);
    const replies = this.workers.map((_, i) => new Promise<void>((resolve, reject) => (this.pending[i] = { resolve, reject })));
    for (const worker of this.workers) {
      worker.ref();
      worker.postMessage(message);
    }
    let hereError: unknown = null;
    try {
      here();
    } catch (error) {
      hereError = error;
      Atomics.store(this.counter, 0, taskCount); // no more tasks for anyone
    }
    const settled = await Promise.allSettled(replies);
    for (const worker of this.workers) worker.unref();
    if (hereError !== null) throw hereError;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }

  /** Terminates the workers. They cannot be used afterwards. */
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

/**
 * The worker's side: run `handle` on every job message and answer { ok: true }, or report its
 * error instead of crashing (the call fails, the threads stay usable).
 */
export function serveJobs<M>(script: string, handle: (message: M) => void): void {
  if (parentPort === null) throw new Error(`${script} must be started as a worker thread`);
  const port = parentPort;
  port.on('message', (message: M) => {
    let reply: WorkerReply;
    try {
      handle(message);
      reply = { ok: true };
    } catch (error) {
      reply = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    }
    port.postMessage(reply);
  });
}
