// The input pipeline of training: batches made ahead of the step that needs them, in worker
// threads, as PyTorch's DataLoader does with `num_workers` and `prefetch_factor`.
//
// Why: a step's images must be read, decoded, augmented, resized, normalized and matched to the
// priors (train/batches.ts). Done on the trainer's thread, between steps, that work (about 10 ms
// an image for real photographs here) is time during which the kernels wait. Here each batch is
// made by a worker while earlier steps run, and waits, made, when its step comes.
//
// What stays the same whatever the number of workers, to the bit: each image's augmentation draws
// from its own generator, new Rng(seed), and the seeds come from the trainer's plan (the epoch's
// order and augmentation seed, in the checkpoint), not from which thread made it or when. So 0, 1
// or 2 workers give the same batches, and a resumed run the same as an uninterrupted one.
//
// Memory: decoded images are kept (shared with the workers, not copied per worker) up to
// `cacheBytes`; beyond that an image is decoded each time it is used. At most `workers` batches
// are made at once, and the trainer asks for a bounded number ahead (`prefetch`).

import * as path from 'path';
import { Worker } from 'worker_threads';
import { Tensor } from '../tensor/tensor';
import { DataSource } from '../data/source';
import { AugmentSteps } from '../data/augment';
import { SSD_INPUT_SIZE } from '../data/image_tensor';
import { ImageTargets } from '../ssd/loss';
import { createPriors } from '../ssd/priors';
import { BatchItem, BatchOptions, PreparedBatch, SharedImage, prepareBatch, rgbToShared } from './batches';
import { LoaderJob, LoaderReply } from './loader_worker';

export interface LoaderConfig {
  /** Worker threads that make batches; 0 makes each on the trainer's thread when it is asked for. */
  workers: number;
  /** The SSD augmentations, or none (resize only). */
  augment: boolean;
  augmentSteps?: AugmentSteps;
  /** Keep decoded images in memory up to this many bytes (0: decode every time). */
  cacheBytes: number;
  /** Leave out images that cannot be decoded (saying which) instead of stopping. */
  skipBad?: boolean;
  /** The matching threshold (the loss's; default 0.5). */
  threshold?: number;
}

/** What the trainer asks for: images of the data set, and the seeds of their augmentations. */
export interface BatchRequest {
  indices: number[];
  seeds: number[];
}

/** A batch as trainStep takes it, and what was left out of it. */
export interface Batch {
  images: Tensor; // (B, 3, 300, 300)
  targets: ImageTargets[]; // with the priors' matches
  indices: number[];
  skipped: { index: number; message: string }[];
}

/** Default cache: 2 GiB of decoded images (a 500x375 photograph is 0.56 MB: 3,700 of them). */
export const DEFAULT_CACHE_BYTES = 2 * 1024 ** 3;

export class BatchLoader {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { job: LoaderJob; resolve: (b: PreparedBatch) => void; reject: (e: Error) => void }[] = [];
  private readonly running = new Map<number, { resolve: (b: PreparedBatch) => void; reject: (e: Error) => void }>();
  private readonly cache = new Map<number, SharedImage>();
  private cachedBytes = 0;
  private nextId = 0;
  private broken: Error | null = null;
  private closed = false;
  private readonly options: BatchOptions;
  private priors: Tensor | null = null; // made on first use, for batches made on this thread

  constructor(
    private readonly data: DataSource,
    private readonly config: LoaderConfig,
  ) {
    if (!(Number.isInteger(config.workers) && config.workers >= 0)) throw new Error(`BatchLoader: workers must be a whole number >= 0, got ${config.workers}`);
    if (!(config.cacheBytes >= 0)) throw new Error(`BatchLoader: cacheBytes must be >= 0, got ${config.cacheBytes}`);
    this.options = {
      augment: config.augment, augmentSteps: config.augmentSteps, threshold: config.threshold ?? 0.5, decode: data.decode,
      returnDecoded: config.cacheBytes > 0, skipBad: config.skipBad ?? false,
    };
    for (let i = 0; i < config.workers; i++) {
      // The compiled worker sits next to this file: dist/train/loader_worker.js.
      const worker = new Worker(path.join(__dirname, 'loader_worker.js'), { workerData: this.options });
      worker.on('message', (reply: LoaderReply) => this.settle(worker, reply));
      worker.on('error', (error) => this.fail(new Error(`input pipeline worker ${i + 1} crashed: ${error.message}`)));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(new Error(`input pipeline worker ${i + 1} exited unexpectedly (code ${code})`));
      });
      worker.unref(); // a forgotten loader never keeps Node alive
      this.workers.push(worker);
      this.idle.push(worker);
    }
  }

  /** Bytes of decoded images kept now. */
  get cacheSize(): number {
    return this.cachedBytes;
  }

  /**
   * Makes a batch: on a worker (now, or when one is free; the batches are made in the order
   * asked for), or, without workers, here and now. Rejects with the error of a bad image, naming
   * its file (unless skipBad).
   */
  async load(request: BatchRequest): Promise<Batch> {
    if (this.closed) throw new Error('BatchLoader: used after close()');
    if (this.broken !== null) throw this.broken;
    const items = request.indices.map((index, k) => this.item(index, request.seeds[k]));
    let prepared: PreparedBatch;
    if (this.workers.length === 0) {
      this.priors ??= createPriors();
      prepared = prepareBatch(items, this.priors, this.options);
    } else {
      prepared = await new Promise<PreparedBatch>((resolve, reject) => {
        this.queue.push({ job: { id: this.nextId++, items }, resolve, reject });
        this.dispatch();
      });
    }
    for (const { index, image } of prepared.decoded) this.keep(index, image);
    return toBatch(prepared, this.options.threshold);
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new Error('BatchLoader: closed');
    for (const { reject } of this.queue.splice(0)) reject(error);
    for (const { reject } of this.running.values()) reject(error);
    this.running.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** What a worker needs of image `index`: its cached pixels, its file, or its pixels got here. */
  private item(index: number, seed: number): BatchItem {
    if (!(Number.isInteger(index) && index >= 0 && index < this.data.length)) throw new Error(`BatchLoader: no image ${index} in a data set of ${this.data.length}`);
    const cached = this.cache.get(index);
    const sample = this.data.samples?.[index];
    if (sample !== undefined) return { index, seed, objects: sample.objects, source: sample.imagePath, image: cached, sample: cached === undefined ? sample : undefined };
    // no file to read: the data source gives the image (an in-memory set, for one)
    const labeled = this.data.get(index);
    const image = cached ?? rgbToShared(labeled.image);
    if (cached === undefined) this.keep(index, image);
    return { index, seed, objects: labeled.objects, source: labeled.source, image };
  }

  private keep(index: number, image: SharedImage): void {
    if (this.cache.has(index) || this.cachedBytes + image.data.byteLength > this.config.cacheBytes) return;
    this.cache.set(index, image);
    this.cachedBytes += image.data.byteLength;
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const worker = this.idle.shift() as Worker;
      const { job, resolve, reject } = this.queue.shift()!;
      this.running.set(job.id, { resolve, reject });
      worker.ref(); // busy: keep Node alive until it answers
      worker.postMessage(job);
    }
  }

  private settle(worker: Worker, reply: LoaderReply): void {
    worker.unref();
    this.idle.push(worker);
    const waiting = this.running.get(reply.id);
    this.running.delete(reply.id);
    if (waiting !== undefined) {
      if (reply.ok) waiting.resolve(reply.batch);
      else waiting.reject(new Error(reply.error));
    }
    this.dispatch();
  }

  private fail(error: Error): void {
    this.broken ??= error;
    for (const { reject } of this.queue.splice(0)) reject(error);
    for (const { reject } of this.running.values()) reject(error);
    this.running.clear();
  }
}

/** A made batch as tensors, with the matches the loss takes as they are. */
function toBatch(prepared: PreparedBatch, threshold: number): Batch {
  const size = SSD_INPUT_SIZE;
  const count = prepared.targets.length;
  const images = new Tensor([count, 3, size, size], prepared.images);
  const targets = prepared.targets.map((t): ImageTargets => ({
    boxes: new Tensor([t.labels.length, 4], t.boxes),
    labels: t.labels,
    matched: { locTargets: new Tensor([t.classTargets.length, 4], t.locTargets), classTargets: t.classTargets, nPositives: t.nPositives, threshold },
  }));
  return { images, targets, indices: prepared.indices, skipped: prepared.skipped };
}
