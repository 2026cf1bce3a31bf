// A worker thread of the training's input pipeline (train/loader.ts): it makes the batches it is
// sent (train/batches.ts: decode, augment, normalize, match) and sends them back, their big
// arrays transferred rather than copied. Compiled to dist/train/loader_worker.js.

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
