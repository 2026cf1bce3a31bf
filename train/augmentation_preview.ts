// What the network is fed: a grid of training images as the SSD augmentations make them
// (photometric distortions, zoom out, random crop, flip, resized to 300x300), each with its
// boxes and class names drawn. `ssd augment-preview` writes it.

import { Rng } from '../tensor/random';
import { RgbImage } from '../data/image';
import { drawBoxes } from '../draw/boxes';
import { LABEL_COLORS } from '../draw/colors';
import { augmentForTraining } from '../data/augment';
import { DataSource } from '../data/source';
import { blankCanvas, drawLabel, paste } from '../draw/canvas';

const GAP = 8;

export function augmentationPreview(data: DataSource, classes: readonly string[], count: number, seed: number, columns = 4): RgbImage {
  if (data.length === 0) throw new Error('augmentationPreview: the data set is empty');
  const rng = new Rng(seed);
  const size = 300;
  const rows = Math.ceil(count / columns);
  const canvas = blankCanvas(GAP + Math.min(count, columns) * (size + GAP), GAP + rows * (size + GAP));
  for (let k = 0; k < count; k++) {
    const sample = augmentForTraining(data.get(k % data.length), rng); // 300x300, boxes in xy fractions
    const boxes = sample.objects.map((o) => o.boxXy);
    const picture = drawBoxes(sample.image, boxes, sample.objects.map((o) => o.label));
    const x = GAP + (k % columns) * (size + GAP);
    const y = GAP + Math.floor(k / columns) * (size + GAP);
    paste(canvas, picture, x, y);
    for (const o of sample.objects) {
      drawLabel(canvas, x + Math.round(o.boxXy[0] * (size - 1)), y + Math.round(o.boxXy[1] * (size - 1)) + 2, classes[o.label] ?? String(o.label), LABEL_COLORS[o.label % LABEL_COLORS.length]);
    }
  }
  return canvas;
}
