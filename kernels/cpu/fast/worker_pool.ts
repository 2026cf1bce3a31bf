// A small pool of worker threads that run convolution tasks next to the main thread.
//
// Inputs and outputs live in SharedArrayBuffers owned by the pool (grown to the largest layer,
// then reused, so memory stays flat), so every thread reads and writes the same memory without
// copies; the workers only receive a description of the job. Work is shared out dynamically: all
// threads, the main one included, take task numbers from one atomic counter (see conv.ts).
//
// Lifetime: workers are unref()'d while idle, so a forgotten pool never keeps Node alive, and
// ref()'d only while a job runs (otherwise a script awaiting a job could exit half-way).
// dispose() terminates them.

import * as path from 'path';
import { Worker } from 'worker_threads';
import { Conv2dGeometry } from '../../geometry';
import { ConvJob, ConvPass, runConvTasks } from './conv';

/** A typed array as it travels to a worker: the shared memory, its type and how much is used. */
interface SharedArray {
  buffer: SharedArrayBuffer;
  float64: boolean;
  length: number;
}

/** What a worker receives for each job. */
export interface ConvJobMessage {
  pass: ConvPass;
  g: Conv2dGeometry;
  x: SharedArray | null;
  w: SharedArray | null;
  bias: SharedArray | null;
  dy: SharedArray | null;
  out: SharedArray;
  packed: SharedArray | null;
  tasks: Int32Array;
  counter: SharedArrayBuffer;
}

/** What a worker answers once the counter has run out. */
export type WorkerReply = { ok: true } | { ok: false; error: string };

function toShared(array: Float32Array | Float64Array | null): SharedArray | null {
  if (array === null) return null;
  if (!(array.buffer instanceof SharedArrayBuffer) || array.byteOffset !== 0) {
    throw new Error('WorkerPool: job arrays must be views at the start of a SharedArrayBuffer (use pool.shared)');
  }
  return { buffer: array.buffer, float64: array instanceof Float64Array, length: array.length };
}

function fromShared32(array: SharedArray | null): Float32Array | null {
  return array === null ? null : new Float32Array(array.buffer, 0, array.length);
}

function fromShared(array: SharedArray): Float32Array | Float64Array {
  return array.float64 ? new Float64Array(array.buffer, 0, array.length) : new Float32Array(array.buffer, 0, array.length);
}

/** Rebuilds the job on the worker's side: views on the same shared memory. */
export function jobFromMessage(m: ConvJobMessage): { job: ConvJob; counter: Int32Array } {
  const job: ConvJob = {
    pass: m.pass,
    g: m.g,
    x: fromShared32(m.x),
    w: fromShared32(m.w),
    bias: fromShared32(m.bias),
    dy: fromShared32(m.dy),
    out: fromShared(m.out),
    packed: m.packed === null ? null : (fromShared(m.packed) as Float64Array),
    tasks: m.tasks,
  };
  return { job, counter: new Int32Array(m.counter) };
}

interface Pending {
  resolve: () => void;
  reject: (error: Error) => void;
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending: (Pending | null)[] = [];
  private readonly counter = new Int32Array(new SharedArrayBuffer(4));
  private readonly buffers = new Map<string, SharedArrayBuffer>();
  private queue: Promise<unknown> = Promise.resolve();
  private broken: Error | null = null;
  private disposed = false;

  /** Starts `workerCount` workers (the main thread works as well, so threads = workerCount + 1). */
  constructor(workerCount: number) {
    for (let i = 0; i < workerCount; i++) {
      // The compiled worker sits next to this file: dist/kernels/cpu/fast/worker.js.
      const worker = new Worker(path.join(__dirname, 'worker.js'));
      worker.unref();
      worker.on('message', (reply: WorkerReply) => this.settle(i, reply.ok ? null : new Error(`worker ${i}: ${reply.error}`)));
      worker.on('error', (error) => this.fail(new Error(`worker ${i} crashed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (!this.disposed) this.fail(new Error(`worker ${i} exited unexpectedly (code ${code})`));
      });
      this.workers.push(worker);
      this.pending.push(null);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** The workers' thread ids (for tests: the pool must not grow). */
  get threadIds(): number[] {
    return this.workers.map((w) => w.threadId);
  }

  /** Bytes of shared memory the pool holds. */
  get sharedBytes(): number {
    let bytes = 0;
    for (const b of this.buffers.values()) bytes += b.byteLength;
    return bytes;
  }

  /**
   * A view of `length` entries on the pool's shared buffer `slot`, grown if needed. The contents
   * are left over from earlier jobs. Only valid inside exclusive().
   */
  shared(slot: string, length: number, type: 'float32'): Float32Array;
  shared(slot: string, length: number, type: 'float64'): Float64Array;
  shared(slot: string, length: number, type: 'float32' | 'float64'): Float32Array | Float64Array {
    const bytes = length * (type === 'float64' ? 8 : 4);
    let buffer = this.buffers.get(slot);
    if (buffer === undefined || buffer.byteLength < bytes) {
      const old = buffer?.byteLength ?? 0;
      buffer = new SharedArrayBuffer(Math.max(bytes, Math.ceil((old * 1.25) / 8) * 8));
      this.buffers.set(slot, buffer);
    }
    return type === 'float64' ? new Float64Array(buffer, 0, length) : new Float32Array(buffer, 0, length);
  }

  /**
   * Runs fn with the pool to itself: jobs (and the shared buffers they fill) never overlap, even
   * when a caller starts several kernels without awaiting each.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Runs a job on every worker and on the calling thread; resolves when all tasks are done. */
  async run(job: ConvJob): Promise<void> {
    if (this.disposed) throw new Error('WorkerPool: used after dispose()');
    if (this.broken !== null) throw this.broken;
    Atomics.store(this.counter, 0, 0);
    const message: ConvJobMessage = {
      pass: job.pass,
      g: job.g,
      x: toShared(job.x),
      w: toShared(job.w),
      bias: toShared(job.bias),
      dy: toShared(job.dy),
      out: toShared(job.out)!,
      packed: toShared(job.packed),
      tasks: job.tasks,
      counter: this.counter.buffer as SharedArrayBuffer,
    };
    const replies = this.workers.map(
      (_, i) => new Promise<void>((resolve, reject) => (this.pending[i] = { resolve, reject })),
    );
    for (const worker of this.workers) {
      worker.ref();
      worker.postMessage(message);
    }
    let mainError: unknown = null;
    try {
      runConvTasks(job, this.counter);
    } catch (error) {
      mainError = error;
      Atomics.store(this.counter, 0, job.tasks.length); // no more tasks for anyone
    }
    // Wait for every worker, even after a failure: none may still be writing when the next job starts.
    const settled = await Promise.allSettled(replies);
    for (const worker of this.workers) worker.unref();
    if (mainError !== null) throw mainError;
    for (const s of settled) if (s.status === 'rejected') throw s.reason;
  }

  /** Terminates the workers. The pool cannot be used afterwards. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.queue; // let a job in flight finish
    this.disposed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.buffers.clear();
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
