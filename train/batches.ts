// How one training batch is made from images of the data set: each image augmented (or only
// resized), normalized into the batch's input tensor, and its objects matched to the priors.
// This is the work of the input pipeline (train/loader.ts): it runs in the loader's worker threads
// (train/loader_worker.ts), or on the trainer's thread when there are none, with the same result
// bit for bit: everything random about an image comes from its own seed.

import { Rng } from '../tensor/random';
import { Tensor } from '../tensor/tensor';
import { LabeledImage, ObjectAnnotation, Sample, loadSampleImage } from '../data/annotations';
import { RgbImage } from '../data/image';
import { DecodeOptions } from '../data/image_files';
import { AugmentSteps, ALL_AUGMENT_STEPS, augmentForTraining } from '../data/augment';
import { resizeBilinear } from '../data/resize';
import { SSD_INPUT_SIZE, normalizeInto } from '../data/image_tensor';
import { matchPriors } from '../ssd/matching';

/** An image's pixels in memory that threads share (a decoded image of the loader's cache). */
export interface SharedImage {
  width: number;
  height: number;
  data: SharedArrayBuffer; // (height, width, 3) bytes
}

/** One image of a batch to make: its pixels (shared), or the file to decode them from. */
export interface BatchItem {
  /** Its index in the data set (for messages and the cache). */
  index: number;
  /** The seed of its augmentation: new Rng(seed) makes every random choice. */
  seed: number;
  objects: ObjectAnnotation[];
  /** Where it came from, for error messages. */
  source?: string;
  image?: SharedImage;
  /** When `image` is absent: the file (the loader's cache did not have it). */
  sample?: Sample;
}

/** How items become a batch. */
export interface BatchOptions {
  /** The SSD augmentations (data/augment.ts), or none: the image is only resized to 300x300. */
  augment: boolean;
  augmentSteps?: AugmentSteps;
  /** The overlap threshold of the matching (the loss's, 0.5). */
  threshold: number;
  decode?: DecodeOptions;
  /** Hand back the images decoded here, as SharedImages, for the loader's cache. */
  returnDecoded: boolean;
  /** Leave out an image that cannot be decoded, saying why, instead of failing the batch. */
  skipBad: boolean;
}

/** One image's targets: its boxes and labels, and their matches to the priors (for the loss). */
export interface PreparedTargets {
  boxes: Float32Array; // (n_objects, 4) xy fractions
  labels: Int32Array; // (n_objects)
  locTargets: Float32Array; // (n_priors, 4) gcxgcy
  classTargets: Int32Array; // (n_priors)
  nPositives: number;
}

/** A made batch, in plain arrays (what a worker sends back; its buffers are transferred, not copied). */
export interface PreparedBatch {
  /** (B, 3, 300, 300) normalized, B = the items made (skipped ones left out). */
  images: Float32Array;
  targets: PreparedTargets[];
  /** The data set indices of the images in the batch, in order. */
  indices: number[];
  /** Images decoded for this batch, for the cache (returnDecoded). */
  decoded: { index: number; image: SharedImage }[];
  skipped: { index: number; message: string }[];
}

/** The pixels of a SharedImage, as an RgbImage (a view: no copy). */
export function sharedToRgb(image: SharedImage): RgbImage {
  return { width: image.width, height: image.height, data: new Uint8Array(image.data) };
}

/** An RgbImage copied into memory that threads can share. */
export function rgbToShared(image: RgbImage): SharedImage {
  const data = new SharedArrayBuffer(image.data.length);
  new Uint8Array(data).set(image.data);
  return { width: image.width, height: image.height, data };
}

/**
 * Makes a batch: decode (where needed), augment with each item's seed, normalize, match.
 * `priorsCxcy` (n_priors, 4) are the model's priors (createPriors()).
 */
export function prepareBatch(items: readonly BatchItem[], priorsCxcy: Tensor, options: BatchOptions): PreparedBatch {
  const size = SSD_INPUT_SIZE;
  const made: { index: number; sample: LabeledImage }[] = [];
  const decoded: { index: number; image: SharedImage }[] = [];
  const skipped: { index: number; message: string }[] = [];
  for (const item of items) {
    let image: RgbImage;
    if (item.image !== undefined) image = sharedToRgb(item.image);
    else if (item.sample !== undefined) {
      try {
        image = loadSampleImage(item.sample, options.decode);
      } catch (error) {
        if (!options.skipBad) throw error;
        skipped.push({ index: item.index, message: (error as Error).message });
        continue;
      }
      if (options.returnDecoded) decoded.push({ index: item.index, image: rgbToShared(image) });
    } else {
      throw new Error(`prepareBatch: image ${item.index} has neither pixels nor a file`);
    }
    const sample: LabeledImage = { image, objects: item.objects, source: item.source };
    const out = options.augment
      ? augmentForTraining(sample, new Rng(item.seed), size, options.augmentSteps ?? ALL_AUGMENT_STEPS)
      : { image: resizeBilinear(image, size, size), objects: item.objects };
    made.push({ index: item.index, sample: out });
  }
  const images = new Float32Array(made.length * 3 * size * size); // (B, 3, 300, 300)
  const targets = made.map(({ sample }, k): PreparedTargets => {
    normalizeInto(sample.image, images, k * 3 * size * size);
    const boxes = new Float32Array(4 * sample.objects.length);
    sample.objects.forEach((o, j) => boxes.set(o.boxXy, 4 * j));
    const labels = Int32Array.from(sample.objects, (o) => o.label);
    const match = matchPriors(new Tensor([sample.objects.length, 4], boxes), labels, priorsCxcy, options.threshold, k);
    return { boxes, labels, locTargets: match.locTargets.data as Float32Array, classTargets: match.classTargets, nPositives: match.nPositives };
  });
  return { images, targets, indices: made.map((m) => m.index), decoded, skipped };
}
