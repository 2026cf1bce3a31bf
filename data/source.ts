// Where training and evaluation get their images: a data source is a length and a way to get
// image i with its objects, whether the images sit in memory or on disk. The trainer, the
// evaluation and the CLI only see this interface.

import { Tensor } from '../tensor/tensor';
import { LabeledImage, Sample, loadSampleImage } from './annotations';
import { DecodeOptions } from './image_files';
import { resizeBilinear } from './resize';
import { SSD_INPUT_SIZE, imageToTensor } from './image_tensor';

/** A data set as the loops see it: a length and a way to get image i with its objects. */
export interface DataSource {
  length: number;
  get(i: number): LabeledImage;
  /**
   * Where image i lies on disk, for a data set read from files (diskSource): the training's
   * input pipeline (train/loader.ts) then decodes it in a worker thread instead of calling get.
   */
  readonly samples?: readonly Sample[];
  /** How the samples' images are decoded (diskSource's options). */
  readonly decode?: DecodeOptions;
}

export function inMemorySource(items: readonly LabeledImage[]): DataSource {
  return { length: items.length, get: (i) => items[i] };
}

/** Samples on disk (VOC layout): the image is decoded when asked for (options: see decodeImage). */
export function diskSource(samples: readonly Sample[], options: DecodeOptions = {}): DataSource {
  return {
    length: samples.length,
    get: (i) => ({ image: loadSampleImage(samples[i], options), objects: samples[i].objects, source: samples[i].imagePath }),
    samples,
    decode: options,
  };
}

/** One target per image, as the MultiBox loss takes them: boxes (n_objects, 4) in xy fractions, and labels. */
export interface ImageTargetsXy {
  boxes: Tensor; // (n_objects, 4)
  labels: number[];
}

/** Images (N, 3, 300, 300), resized and normalized, and their targets. */
export function makeBatch(items: readonly LabeledImage[]): { images: Tensor; targets: ImageTargetsXy[] } {
  const images = imageToTensor(items.map((item) => resizeBilinear(item.image, SSD_INPUT_SIZE, SSD_INPUT_SIZE)));
  const targets = items.map((item) => {
    const boxes = new Tensor([item.objects.length, 4]);
    item.objects.forEach((o, k) => boxes.data.set(o.boxXy, 4 * k));
    return { boxes, labels: item.objects.map((o) => o.label) };
  });
  return { images, targets };
}
