// A worker thread of the training's input pipeline (train/loader.ts): it makes the batches it is
// sent (train/batches.ts: decode, augment, normalize, match) and sends them back, their big
// arrays transferred rather than copied. Compiled to dist/train/loader_worker.js.

import * as fs from 'fs';
import * as os from 'os';
import { parentPort, workerData } from 'worker_threads';
import { createPriors } from '../ssd/priors';
import { BatchItem, BatchOptions, PreparedBatch, prepareBatch } from './batches';

/** What the loader sends: one batch to make. */
export interface LoaderJob {
  id: number;
  items: BatchItem[];
}

/** What a worker answers. */
export type LoaderReply = { id: number; ok: true; batch: PreparedBatch } | { id: number; ok: false; error: string };

if (parentPort === null) throw new Error('train/loader_worker.js must be started as a worker thread');
const port = parentPort;
lowerPriority();
const options = workerData as BatchOptions;
const priors = createPriors(); // (8732, 4): the same values as the model's

port.on('message', (job: LoaderJob) => {
  let reply: LoaderReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const batch = prepareBatch(job.items, priors, options);
    reply = { id: job.id, ok: true, batch };
    transfer = [batch.images.buffer as ArrayBuffer];
    for (const t of batch.targets) transfer.push(t.locTargets.buffer as ArrayBuffer, t.classTargets.buffer as ArrayBuffer);
  } catch (error) {
    // the batch fails (the trainer stops, naming the file); the worker stays usable
    reply = { id: job.id, ok: false, error: (error as Error).message };
  }
  port.postMessage(reply, transfer);
});

/**
 * This thread runs at the lowest priority (nice 19), so that the kernels' threads, whose every
 * job waits for its slowest thread, are never preempted by a batch being made ahead of its time:
 * the batch only needs to be ready before its step, and takes what the kernels leave. Linux gives
 * each thread a nice value of its own (this thread's id is in /proc/thread-self); elsewhere, or if
 * refused, the thread keeps the process's priority. Measured here (the /8 model, batch 16, crop
 * and flip from disk): see docs/training.md.
 */
function lowerPriority(): void {
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, 19);
  } catch {
    // not Linux, or not allowed: the same batches, made at the same priority
  }
}
