// The training's input pipeline (train/loader.ts, train/batches.ts): the same batches, bit for
// bit, whatever the number of worker threads; a bad image stops the run naming its file, or is
// left out with --skip-bad; the cache of decoded images keeps to its bound and memory stays flat
// over many batches; a run made with workers resumes without them to the same weights.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Rng } from '../../tensor/random';
import { readSafetensors } from '../../tensor/safetensors';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { DataSource, diskSource, inMemorySource } from '../../data/source';
import { writeVocDataset } from '../../data/voc';
import { Batch, BatchLoader, LoaderConfig } from '../../train/loader';
import { TrainerConfig, batchRequest, planEpoch, train } from '../../train/trainer';
import { SSD300 } from '../../ssd/ssd300';

const classes = [...SYNTHETIC_CLASSES];
const images = makeSyntheticDataset(10, 21, { maxObjects: 3, minSide: 0.15, maxSide: 0.5, size: 120 });

/** The batches of the first `steps` steps of an epoch planned from `seed`, made by a loader. */
async function batchesOf(data: DataSource, config: LoaderConfig, steps: number, batchSize: number): Promise<Batch[]> {
  const plan = planEpoch(data.length, new Rng(7).getState());
  const loader = new BatchLoader(data, config);
  try {
    // asked for all at once, as the trainer asks ahead: the workers make them in any order
    return await Promise.all(Array.from({ length: steps }, (_, s) => loader.load(batchRequest(plan, s * batchSize, batchSize))));
  } finally {
    await loader.close();
  }
}

function expectSameBatches(a: Batch[], b: Batch[], what: string): void {
  expect(a.length).to.equal(b.length);
  a.forEach((batch, s) => {
    const other = b[s];
    expect(batch.indices, `${what}: step ${s} images`).to.deep.equal(other.indices);
    expect(Buffer.from(batch.images.data.buffer).equals(Buffer.from(other.images.data.buffer)), `${what}: step ${s} pixels`).to.equal(true);
    batch.targets.forEach((t, k) => {
      const u = other.targets[k];
      expect(Array.from(t.boxes.data), `${what}: step ${s} image ${k} boxes`).to.deep.equal(Array.from(u.boxes.data));
      expect(Array.from(t.labels)).to.deep.equal(Array.from(u.labels));
      expect(t.matched!.nPositives).to.equal(u.matched!.nPositives);
      expect(Buffer.from(t.matched!.classTargets.buffer).equals(Buffer.from(u.matched!.classTargets.buffer)), `${what}: class targets`).to.equal(true);
      expect(Buffer.from(t.matched!.locTargets.data.buffer).equals(Buffer.from(u.matched!.locTargets.data.buffer)), `${what}: box targets`).to.equal(true);
    });
  });
}

describe('train/loader: the input pipeline', () => {
  let dir = '';
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-loader-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gives the same batches (pixels, boxes, matched targets) bit for bit with 0, 1 and 2 workers, from memory and from disk, cached or not', async function () {
    this.timeout(120000);
    const root = path.join(dir, 'voc');
    const samples = writeVocDataset(root, 'train', images, classes);
    const sources: [string, DataSource][] = [['memory', inMemorySource(images)], ['disk', diskSource(samples)]];
    for (const [name, data] of sources) {
      const base = { augment: true, cacheBytes: 1 << 30 };
      const reference = await batchesOf(data, { ...base, workers: 0 }, 4, 2);
      expect(reference[0].images.shape).to.deep.equal([2, 3, 300, 300]);
      expect(reference.some((b) => b.targets.some((t) => t.matched!.nPositives > 0)), 'some priors matched').to.equal(true);
      expectSameBatches(await batchesOf(data, { ...base, workers: 1 }, 4, 2), reference, `${name}, 1 worker`);
      expectSameBatches(await batchesOf(data, { ...base, workers: 2 }, 4, 2), reference, `${name}, 2 workers`);
      expectSameBatches(await batchesOf(data, { ...base, workers: 2, cacheBytes: 0 }, 4, 2), reference, `${name}, 2 workers, no cache`);
    }
  });

  it('a bad image stops the batch with an error naming its file; with skipBad it is left out and named', async function () {
    this.timeout(60000);
    const root = path.join(dir, 'bad');
    const samples = writeVocDataset(root, 'train', images.slice(0, 4), classes);
    fs.writeFileSync(samples[2].imagePath, Buffer.from('not an image at all'));
    const data = diskSource(samples);
    const request = { indices: [1, 2, 3], seeds: [1, 2, 3] };
    for (const workers of [0, 2]) {
      const loader = new BatchLoader(data, { workers, augment: true, cacheBytes: 1 << 20 });
      let error: Error | null = null;
      await loader.load(request).catch((e: Error) => (error = e));
      expect(String(error), `${workers} workers`).to.contain(samples[2].imagePath);
      await loader.close();
      const skipping = new BatchLoader(data, { workers, augment: true, cacheBytes: 1 << 20, skipBad: true });
      const batch = await skipping.load(request);
      expect(batch.indices).to.deep.equal([1, 3]);
      expect(batch.images.shape[0]).to.equal(2);
      expect(batch.skipped.map((s) => s.index)).to.deep.equal([2]);
      expect(batch.skipped[0].message).to.contain(samples[2].imagePath);
      await skipping.close();
    }
  });

  it('keeps decoded images up to its cache bound, and memory stays flat over 300 batches', async function () {
    this.timeout(300000);
    const bytesPerImage = 120 * 120 * 3;
    const loader = new BatchLoader(inMemorySource(images), { workers: 2, augment: true, cacheBytes: 4 * bytesPerImage });
    try {
      const plan = planEpoch(images.length, new Rng(1).getState());
      const round = async (from: number, to: number): Promise<void> => {
        for (let s = from; s < to; s += 4) {
          // four batches in flight at a time, as the trainer keeps a few ahead
          await Promise.all([0, 1, 2, 3].map((k) => loader.load(batchRequest(plan, ((s + k) % 5) * 2, 2))));
        }
      };
      await round(0, 40);
      expect(loader.cacheSize).to.equal(4 * bytesPerImage);
      const before = process.memoryUsage();
      await round(40, 300);
      const after = process.memoryUsage();
      const grown = (after.rss - before.rss) / 2 ** 20;
      expect(grown, `resident memory grew by ${grown.toFixed(1)} MB over 260 batches`).to.be.lessThan(64);
      expect(loader.cacheSize).to.equal(4 * bytesPerImage);
    } finally {
      await loader.close();
    }
  });

  it('a run with 2 workers, stopped after 2 steps and resumed without workers to step 4, ends on the weights of one run of 4 steps', async function () {
    this.timeout(300000);
    const data = inMemorySource(images.slice(0, 6)); // batch 2: epoch 2 starts at step 4
    const config = (out: string, extra: Partial<TrainerConfig>): TrainerConfig => ({
      batchSize: 2, epochs: 10, schedule: { kind: 'cosine', lr: 0.01, warmupSteps: 2 }, maxGradNorm: 10, augment: true, seed: 5,
      out, classes, log: () => undefined, handleSigint: false, curves: false, ...extra,
    });
    const model = (): SSD300 => new SSD300({ nClasses: classes.length, widthDivisor: 32, batchNorm: true, baseInit: 'kaiming', seed: 3 });
    const once = path.join(dir, 'once.safetensors');
    await train(model(), data, config(once, { maxSteps: 4, workers: 0 }));
    const split = path.join(dir, 'split.safetensors');
    await train(model(), data, config(split, { maxSteps: 2, workers: 2 }));
    await train(model(), data, config(split, { maxSteps: 4, workers: 0, resume: split }));
    const a = readSafetensors(once).tensors;
    const b = readSafetensors(split).tensors;
    for (const [name, t] of a) expect(Buffer.from(b.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), `${name} differs`).to.equal(true);
  });
});
