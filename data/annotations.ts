// What a detection data set is made of: images with labelled boxes, and the checks that keep a
// bad box (inverted, empty, outside the image, NaN) from ever reaching the matching and the log
// in the box encoding, where it would turn the loss into NaN, and is reported where it happens.

import { createHash } from 'crypto';
import * as path from 'path';
import { RgbImage } from './image';
import { DecodeOptions, readImage } from './image_files';

/** A box as (x1, y1, x2, y2): boundary coordinates in fractions of the image width and height. */
export type BoxXy = [number, number, number, number];

export interface ObjectAnnotation {
  /** Boundary coordinates (x_min, y_min, x_max, y_max), fractions of the image in [0, 1]. */
  boxXy: BoxXy;
  /** Class index into the data set's class list; 0 is background and never an object. */
  label: number;
  /** VOC's "difficult": kept for evaluation, where it counts neither as a hit nor as a miss. */
  difficult: boolean;
  /**
   * COCO's iscrowd: the box covers a crowd of objects (a stand full of people) rather than one.
   * Never a training target (see trainingObjects); in evaluation an ignore region, where
   * detections count neither as hits nor as false positives. Absent: not a crowd.
   */
  crowd?: boolean;
  /**
   * COCO's `area` in pixels of the image as read (the segmentation's area, smaller than the box's),
   * which decides COCO's small / medium / large ranges. Absent: the box's area in pixels.
   */
  area?: number;
}

/** One image of a data set on disk, with its objects; the pixels are read when needed. */
export interface Sample {
  imagePath: string;
  /** The annotation file it was read from, where there is one. */
  annotationPath?: string;
  width: number;
  height: number;
  objects: ObjectAnnotation[];
  /** COCO's image id, which COCO's evaluation and its result files name images by; absent for VOC and YOLO. */
  imageId?: number;
}

/** An image in memory with its objects: what the synthetic set makes and augmentation transforms. */
export interface LabeledImage {
  image: RgbImage;
  objects: ObjectAnnotation[];
  /** Where the image came from (its file), for error messages; absent for images made in memory. */
  source?: string;
}

/**
 * Throw unless every object is a usable training target. `source` (a file path or a name) and
 * the object's index are in the message. Checks, for each object:
 * - all four coordinates are finite numbers;
 * - x_min < x_max and y_min < y_max (an inverted box or a zero width/height box is rejected);
 * - the box lies inside the image, 0 <= coordinate <= 1;
 * - the label is an integer >= 1 (0 is background), and < numClasses when that is given.
 */
export function validateObjects(objects: readonly ObjectAnnotation[], source: string, numClasses?: number): void {
  objects.forEach((obj, i) => {
    const where = `${source}: object ${i}`;
    const b = obj.boxXy;
    if (!Array.isArray(b) || b.length !== 4) {
      throw new Error(`${where}: box must be 4 numbers (x1, y1, x2, y2)`);
    }
    const text = `[${b.join(', ')}]`;
    if (!b.every(Number.isFinite)) throw new Error(`${where}: box ${text} has a non-finite coordinate`);
    const [x1, y1, x2, y2] = b;
    if (x2 < x1 || y2 < y1) throw new Error(`${where}: inverted box ${text} (x_max < x_min or y_max < y_min)`);
    if (x2 === x1 || y2 === y1) throw new Error(`${where}: zero-size box ${text} (zero width or height)`);
    if (x1 < 0 || y1 < 0 || x2 > 1 || y2 > 1) throw new Error(`${where}: box ${text} reaches outside the image [0, 1]`);
    if (!Number.isInteger(obj.label) || obj.label < 1) {
      throw new Error(`${where}: label ${obj.label} must be an integer >= 1 (0 is background)`);
    }
    if (numClasses !== undefined && obj.label >= numClasses) {
      throw new Error(`${where}: label ${obj.label} is out of range for ${numClasses} classes (background included)`);
    }
    if (obj.crowd !== undefined && typeof obj.crowd !== 'boolean') throw new Error(`${where}: crowd must be true or false, got ${String(obj.crowd)}`);
    if (obj.area !== undefined && !(Number.isFinite(obj.area) && obj.area >= 0)) {
      throw new Error(`${where}: area ${obj.area} must be a finite number >= 0 (pixels)`);
    }
  });
}

/**
 * The objects training matches anchors to: all but crowd regions. A crowd box holds many
 * objects at once, so neither "this is one object" (a positive anchor) nor "this is background"
 * is true of it; COCO's own training recipes leave them out. (Its anchors still count as
 * background there; ignoring them in the loss too would need the matcher's help.)
 */
export function trainingObjects(sample: Pick<Sample, 'objects'>): ObjectAnnotation[] {
  return sample.objects.filter((o) => o.crowd !== true);
}

/** An object's area in pixels for COCO's size ranges: its `area` where the data set gives one, else its box's. */
export function objectArea(obj: ObjectAnnotation, width: number, height: number): number {
  if (obj.area !== undefined) return obj.area;
  const [x1, y1, x2, y2] = obj.boxXy;
  return (x2 - x1) * width * (y2 - y1) * height;
}

/** Read a sample's image, checking that its size is the one the annotation says. */
export function loadSampleImage(sample: Sample, options: DecodeOptions = {}): RgbImage {
  const image = readImage(sample.imagePath, options);
  if (image.width !== sample.width || image.height !== sample.height) {
    throw new Error(
      `${sample.imagePath}: image is ${image.width}x${image.height} but its annotation says ${sample.width}x${sample.height}`,
    );
  }
  return image;
}

/**
 * A deep copy of objects (boxes are arrays, so a shallow copy would share them). crowd and area
 * are copied where set, and only there, so a copy compares equal to its original. (area counts
 * pixels of the image as read: a transform that scales the image leaves it stale, but only
 * evaluation, which transforms nothing, reads it.)
 */
export function cloneObjects(objects: readonly ObjectAnnotation[]): ObjectAnnotation[] {
  return objects.map((o) => ({
    boxXy: [...o.boxXy],
    label: o.label,
    difficult: o.difficult,
    ...(o.crowd === undefined ? {} : { crowd: o.crowd }),
    ...(o.area === undefined ? {} : { area: o.area }),
  }));
}

/**
 * A fingerprint of a data set's image list: which images, in which order, of which sizes, with
 * which objects. A training checkpoint keeps it, and resuming on another data set (another
 * split, another seed of the synthetic set, the same ids relabelled) is refused: the shuffled order
 * in the checkpoint indexes this list. Image paths count relative to `root`, so a data set that
 * moved keeps its fingerprint. Written as '<count> images, sha256 <16 hex digits>'.
 */
export function samplesFingerprint(samples: readonly Sample[], root: string): string {
  const hash = createHash('sha256');
  for (const s of samples) {
    const objects = s.objects.map((o) => [o.label, o.difficult ? 1 : 0, ...o.boxXy]);
    hash.update(JSON.stringify([path.relative(root, s.imagePath).split(path.sep).join('/'), s.width, s.height, objects]) + '\n');
  }
  return `${samples.length} images, sha256 ${hash.digest('hex').slice(0, 16)}`;
}
