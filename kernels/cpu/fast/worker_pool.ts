// A small pool of worker threads that run convolution tasks next to the main thread.
//
// Inputs and outputs live in SharedArrayBuffers owned by the pool (grown to the largest layer,
// then reused, so memory stays flat), so every thread reads and writes the same memory without
// copies; the workers only receive a description of the job. Work is shared out dynamically: all
// threads, the main one included, take task numbers from one atomic counter (see conv.ts).
//
// The life cycle (starting, posting, waiting, errors, unref while idle, dispose) is the wasm
// backend's too: kernels/task_threads.ts.

import * as path from 'path';
import { TaskThreads } from '../../task_threads';
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

export class WorkerPool {
  private readonly threads: TaskThreads;
  private readonly buffers = new Map<string, SharedArrayBuffer>();
  private queue: Promise<unknown> = Promise.resolve();

  /** Starts `workerCount` workers (the main thread works as well, so threads = workerCount + 1). */
  constructor(workerCount: number) {
    // The compiled worker sits next to this file: dist/kernels/cpu/fast/worker.js.
    this.threads = new TaskThreads('WorkerPool', path.join(__dirname, 'worker.js'), workerCount, { name: (i) => `worker ${i}` });
  }

  get size(): number {
    return this.threads.size;
  }

  /** The workers' thread ids (for tests: the pool must not grow). */
  get threadIds(): number[] {
    return this.threads.threadIds;
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
  run(job: ConvJob): Promise<void> {
    const counter = this.threads.counter;
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
      counter: counter.buffer as SharedArrayBuffer,
    };
    return this.threads.run(message, () => runConvTasks(job, counter), job.tasks.length);
  }

  /** Terminates the workers. The pool cannot be used afterwards. */
  async dispose(): Promise<void> {
    await this.queue; // let a job in flight finish
    await this.threads.dispose();
    this.buffers.clear();
  }
}
