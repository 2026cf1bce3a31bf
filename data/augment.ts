// The SSD paper's data augmentation (section 2.2, "Data augmentation", and the "zoom out" of
// section 3.6), as the PyTorch tutorial implements it. The paper credits it with most of SSD's
// accuracy (Table 2: 65.5 -> 74.3 mAP on VOC2007 test), small objects gaining most from the zoom out.
//
// Training pipeline (augmentForTraining), in the tutorial's order:
//   1. photometric distortions: brightness, contrast, saturation, hue, in random order, each
//      applied with probability 1/2;
//   2. with probability 1/2, expand ("zoom out"): the image is put at a random place on a canvas
//      up to 4x its size, filled with the ImageNet mean colour;
//   3. random crop ("zoom in"): a patch with a minimum overlap with some object, or the whole image;
//   4. with probability 1/2, horizontal flip;
//   5. resize to 300x300 (boxes are fractions, so they do not change).
//
// Everything works on RgbImage bytes, as the tutorial's PIL images are bytes: each step rounds to
// whole levels, as PIL does. Boxes are boundary coordinates in fractions of the current image;
// every step maps them to the new image, so they stay inside [0, 1]. Every step is a function of
// its own, callable alone, taking an Rng for its random choices; the deterministic cores
// (expandOnto, cropTo, flipHorizontal) take the choice as arguments, and randomCropRect returns
// the patch it chose, for tests and reuse.

import { Rng } from '../tensor/random';
import { BoxXy, LabeledImage, ObjectAnnotation, cloneObjects } from './annotations';
import { Rgb, RgbImage, checkImage } from './image';
import { resizeBilinear } from './resize';
import { IMAGENET_MEAN, SSD_INPUT_SIZE } from './image_tensor';

/** The ImageNet mean as bytes, [124, 116, 104]: expand's filler, which normalizes to (about) 0. */
export const IMAGENET_MEAN_BYTES: Rgb = [
  Math.round(IMAGENET_MEAN[0] * 255),
  Math.round(IMAGENET_MEAN[1] * 255),
  Math.round(IMAGENET_MEAN[2] * 255),
];

function toByte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}

/** Map every channel value through f(value, channel, pixel index); a new image. */
function mapPixels(img: RgbImage, f: (v: number, c: number, p: number) => number): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < img.data.length; i++) out[i] = toByte(f(img.data[i], i % 3, Math.floor(i / 3)));
  return { width: img.width, height: img.height, data: out };
}

/** PIL's luma (ITU-R 601-2): L = 0.299 R + 0.587 G + 0.114 B, used for "grey". */
function luma(data: Uint8Array, p: number): number {
  return 0.299 * data[p * 3] + 0.587 * data[p * 3 + 1] + 0.114 * data[p * 3 + 2];
}

// ---------------------------------------------------------------------------------------------
// 1. Photometric distortions (the image only; boxes are untouched)
// ---------------------------------------------------------------------------------------------

/** Multiply every channel by `factor` (0 black, 1 unchanged); as torchvision's adjust_brightness. */
export function adjustBrightness(img: RgbImage, factor: number): RgbImage {
  return mapPixels(img, (v) => v * factor);
}

/** Move every value away from (factor > 1) or towards (< 1) the image's mean grey; adjust_contrast. */
export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  let sum = 0;
  for (let p = 0; p < img.width * img.height; p++) sum += luma(img.data, p);
  const meanGrey = Math.round(sum / (img.width * img.height)); // PIL rounds the mean to a level
  return mapPixels(img, (v) => meanGrey + factor * (v - meanGrey));
}

/** Move every pixel away from (factor > 1) or towards (< 1) its own grey; adjust_saturation. */
export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  const grey = new Float64Array(img.width * img.height);
  for (let p = 0; p < grey.length; p++) grey[p] = Math.round(luma(img.data, p)); // PIL's "L" image is bytes
  return mapPixels(img, (v, _c, p) => grey[p] + factor * (v - grey[p]));
}

/**
 * Rotate every pixel's hue by `shift`, a fraction of the full colour circle in [-0.5, 0.5]
 * (adjust_hue): RGB -> HSV, h + shift (mod 1), HSV -> RGB. Greys have no hue and stay.
 */
export function adjustHue(img: RgbImage, shift: number): RgbImage {
  if (!(Math.abs(shift) <= 0.5)) throw new Error(`adjustHue: shift must be in [-0.5, 0.5], got ${shift}`);
  const out = new Uint8Array(img.data.length);
  for (let p = 0; p < img.width * img.height; p++) {
    const r = img.data[p * 3] / 255;
    const g = img.data[p * 3 + 1] / 255;
    const b = img.data[p * 3 + 2] / 255;
    const [h, s, v] = rgbToHsv(r, g, b);
    const [r2, g2, b2] = hsvToRgb((((h + shift) % 1) + 1) % 1, s, v);
    out[p * 3] = toByte(r2 * 255);
    out[p * 3 + 1] = toByte(g2 * 255);
    out[p * 3 + 2] = toByte(b2 * 255);
  }
  return { width: img.width, height: img.height, data: out };
}

/** RGB in [0, 1] -> (hue in [0, 1), saturation, value). */
function rgbToHsv(r: number, g: number, b: number): [number, number, number] {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const delta = max - min;
  let h = 0;
  if (delta > 0) {
    if (max === r) h = ((g - b) / delta) % 6;
    else if (max === g) h = (b - r) / delta + 2;
    else h = (r - g) / delta + 4;
    h = ((h / 6) % 1 + 1) % 1;
  }
  return [h, max === 0 ? 0 : delta / max, max];
}

function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const sector = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  switch (sector) {
    case 0: return [v, t, p];
    case 1: return [q, v, p];
    case 2: return [p, v, t];
    case 3: return [p, q, v];
    case 4: return [t, p, v];
    default: return [v, p, q];
  }
}

/**
 * The tutorial's photometric_distort: brightness, contrast, saturation and hue in a random order,
 * each applied with probability 1/2, with a factor uniform in [0.5, 1.5] (hue: a shift uniform in
 * [-18/255, 18/255] of the colour circle).
 */
export function photometricDistort(img: RgbImage, rng: Rng): RgbImage {
  checkImage(img, 'photometricDistort');
  const distortions: Array<(im: RgbImage) => RgbImage> = [
    (im) => adjustBrightness(im, uniform(rng, 0.5, 1.5)),
    (im) => adjustContrast(im, uniform(rng, 0.5, 1.5)),
    (im) => adjustSaturation(im, uniform(rng, 0.5, 1.5)),
    (im) => adjustHue(im, uniform(rng, -18 / 255, 18 / 255)),
  ];
  shuffle(distortions, rng);
  let out = img;
  for (const distort of distortions) {
    if (rng.uniform() < 0.5) out = distort(out);
  }
  return out === img ? { width: img.width, height: img.height, data: img.data.slice() } : out;
}

function uniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng.uniform();
}

/** Fisher-Yates, in place. */
function shuffle<T>(items: T[], rng: Rng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Expand ("zoom out")
// ---------------------------------------------------------------------------------------------

/**
 * Put the image on a newWidth x newHeight canvas filled with `filler`, its top-left corner at
 * pixel (left, top). A box (x1, y1, x2, y2) in fractions of the old image becomes
 * ((x1 * W + left) / newWidth, (y1 * H + top) / newHeight, ...) of the new one: the same pixels.
 */
export function expandOnto(
  sample: LabeledImage,
  newWidth: number,
  newHeight: number,
  left: number,
  top: number,
  filler: Rgb = IMAGENET_MEAN_BYTES,
): LabeledImage {
  const { image } = sample;
  checkImage(image, 'expandOnto');
  const { width: W, height: H } = image;
  if (!Number.isInteger(left) || !Number.isInteger(top) || left < 0 || top < 0 || left + W > newWidth || top + H > newHeight) {
    throw new Error(`expandOnto: a ${W}x${H} image at (${left}, ${top}) does not fit a ${newWidth}x${newHeight} canvas`);
  }
  const data = new Uint8Array(newWidth * newHeight * 3);
  for (let p = 0; p < newWidth * newHeight; p++) data.set(filler, p * 3);
  for (let y = 0; y < H; y++) {
    // Row y of the image -> row top + y of the canvas, from column left.
    data.set(image.data.subarray(y * W * 3, (y + 1) * W * 3), ((top + y) * newWidth + left) * 3);
  }
  const objects = sample.objects.map((o): ObjectAnnotation => {
    const [x1, y1, x2, y2] = o.boxXy;
    const boxXy: BoxXy = [
      (x1 * W + left) / newWidth,
      (y1 * H + top) / newHeight,
      (x2 * W + left) / newWidth,
      (y2 * H + top) / newHeight,
    ];
    return { boxXy, label: o.label, difficult: o.difficult };
  });
  return { image: { width: newWidth, height: newHeight, data }, objects };
}

/**
 * The tutorial's expand: a canvas `scale` times the image's size, scale uniform in [1, maxScale],
 * the image at a uniformly random place on it. Objects become smaller: the paper's remedy for
 * SSD's weakness on small objects.
 */
export function expand(sample: LabeledImage, rng: Rng, maxScale = 4, filler: Rgb = IMAGENET_MEAN_BYTES): LabeledImage {
  if (!(maxScale >= 1)) throw new Error(`expand: maxScale must be >= 1, got ${maxScale}`);
  const { width: W, height: H } = sample.image;
  const scale = uniform(rng, 1, maxScale);
  const newWidth = Math.floor(scale * W);
  const newHeight = Math.floor(scale * H);
  const left = rng.int(newWidth - W + 1);
  const top = rng.int(newHeight - H + 1);
  return expandOnto(sample, newWidth, newHeight, left, top, filler);
}

// ---------------------------------------------------------------------------------------------
// 3. Random crop ("zoom in")
// ---------------------------------------------------------------------------------------------

/** A pixel rectangle: columns left..right-1, rows top..bottom-1 (boundary coordinates in pixels). */
export interface PixelRect {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * Cut `crop` out of the image. As in the tutorial (and the paper): an object is kept when the
 * centre of its box lies strictly inside the crop; its box is then clipped to the crop and
 * expressed in fractions of it. Objects whose centres fall outside are dropped, so the result
 * may have no objects (randomCrop never returns such a crop).
 */
export function cropTo(sample: LabeledImage, crop: PixelRect): LabeledImage {
  const { image } = sample;
  checkImage(image, 'cropTo');
  const { width: W, height: H } = image;
  const { left, top, right, bottom } = crop;
  if (![left, top, right, bottom].every(Number.isInteger) || left < 0 || top < 0 || right > W || bottom > H || left >= right || top >= bottom) {
    throw new Error(`cropTo: crop [${left}, ${top}, ${right}, ${bottom}] is not a non-empty rectangle inside the ${W}x${H} image`);
  }
  const cropW = right - left;
  const cropH = bottom - top;
  const data = new Uint8Array(cropW * cropH * 3);
  for (let y = 0; y < cropH; y++) {
    const from = ((top + y) * W + left) * 3;
    data.set(image.data.subarray(from, from + cropW * 3), y * cropW * 3);
  }
  const objects: ObjectAnnotation[] = [];
  for (const o of sample.objects) {
    const boxPx = toPixels(o.boxXy, W, H);
    if (!centreInside(boxPx, crop)) continue;
    const [x1, y1, x2, y2] = boxPx;
    // Clip to the crop, then shift to its origin and scale to its size.
    const boxXy: BoxXy = [
      (Math.max(x1, left) - left) / cropW,
      (Math.max(y1, top) - top) / cropH,
      (Math.min(x2, right) - left) / cropW,
      (Math.min(y2, bottom) - top) / cropH,
    ];
    objects.push({ boxXy, label: o.label, difficult: o.difficult });
  }
  return { image: { width: cropW, height: cropH, data }, objects };
}

/**
 * Minimum overlaps the random crop chooses from, uniformly: null keeps the whole image, 0 is
 * any patch (the paper's "randomly sample a patch"), the others need a patch whose Jaccard
 * overlap with at least one object reaches that value. The tutorial's list, which is the paper's.
 */
export const CROP_MIN_OVERLAPS: readonly (number | null)[] = [0, 0.1, 0.3, 0.5, 0.7, 0.9, null];

/**
 * The tutorial's random_crop, choosing the patch. Choose a minimum overlap from
 * CROP_MIN_OVERLAPS (null: keep the whole image, return null). Then try up to `maxTrials` (50)
 * patches: each side 0.3..1 of the image's (uniform), aspect ratio height/width strictly between
 * 0.5 and 2, at a random place; accept the first whose best Jaccard overlap with an object is at
 * least the minimum and that holds at least one object's box centre (see cropTo). After
 * `maxTrials` failures, choose a minimum overlap again. An image without objects keeps the whole
 * image (there is nothing to overlap with).
 */
export function randomCropRect(sample: LabeledImage, rng: Rng, maxTrials = 50): PixelRect | null {
  const { image } = sample;
  checkImage(image, 'randomCrop');
  if (sample.objects.length === 0) return null;
  const { width: W, height: H } = image;
  const boxesPx = sample.objects.map((o) => toPixels(o.boxXy, W, H));
  // Terminates: the null choice comes up with probability 1/7 each round.
  for (;;) {
    const minOverlap = CROP_MIN_OVERLAPS[rng.int(CROP_MIN_OVERLAPS.length)];
    if (minOverlap === null) return null;
    for (let trial = 0; trial < maxTrials; trial++) {
      const newW = Math.floor(uniform(rng, 0.3, 1) * W);
      const newH = Math.floor(uniform(rng, 0.3, 1) * H);
      if (newW < 1 || newH < 1) continue;
      const aspect = newH / newW;
      if (!(aspect > 0.5 && aspect < 2)) continue;
      const left = rng.int(W - newW + 1);
      const top = rng.int(H - newH + 1);
      const crop: PixelRect = { left, top, right: left + newW, bottom: top + newH };
      const bestOverlap = Math.max(...boxesPx.map((b) => jaccard(b, crop)));
      if (bestOverlap < minOverlap) continue;
      if (!boxesPx.some((b) => centreInside(b, crop))) continue; // the crop would hold no object
      return crop;
    }
  }
}

/** The tutorial's random_crop: randomCropRect's patch cut out by cropTo (or an unchanged copy). */
export function randomCrop(sample: LabeledImage, rng: Rng, maxTrials = 50): LabeledImage {
  const crop = randomCropRect(sample, rng, maxTrials);
  if (crop === null) return { image: sample.image, objects: cloneObjects(sample.objects) };
  return cropTo(sample, crop);
}

/** Whether a box's centre (pixels) lies strictly inside the rectangle: the rule for keeping it. */
function centreInside(boxPx: BoxXy, rect: PixelRect): boolean {
  const centreX = (boxPx[0] + boxPx[2]) / 2;
  const centreY = (boxPx[1] + boxPx[3]) / 2;
  return centreX > rect.left && centreX < rect.right && centreY > rect.top && centreY < rect.bottom;
}

function toPixels(boxXy: BoxXy, W: number, H: number): BoxXy {
  return [boxXy[0] * W, boxXy[1] * H, boxXy[2] * W, boxXy[3] * H];
}

/** Jaccard overlap (intersection over union) of a box and a rectangle, both in pixels. */
function jaccard(box: BoxXy, rect: PixelRect): number {
  const iw = Math.max(0, Math.min(box[2], rect.right) - Math.max(box[0], rect.left));
  const ih = Math.max(0, Math.min(box[3], rect.bottom) - Math.max(box[1], rect.top));
  const intersection = iw * ih;
  const union = (box[2] - box[0]) * (box[3] - box[1]) + (rect.right - rect.left) * (rect.bottom - rect.top) - intersection;
  return union > 0 ? intersection / union : 0;
}

// ---------------------------------------------------------------------------------------------
// 4. Horizontal flip
// ---------------------------------------------------------------------------------------------

/**
 * Mirror left-right. Pixel column x goes to W - 1 - x; in boundary fractions, x goes to 1 - x,
 * so a box (x1, y1, x2, y2) becomes (1 - x2, y1, 1 - x1, y2). (The tutorial's "- 1" in pixels
 * comes from its 0-based-pixel boxes; in boundary coordinates there is none.)
 */
export function flipHorizontal(sample: LabeledImage): LabeledImage {
  const { image } = sample;
  checkImage(image, 'flipHorizontal');
  const { width: W, height: H } = image;
  const data = new Uint8Array(image.data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const from = (y * W + x) * 3;
      const to = (y * W + (W - 1 - x)) * 3;
      data[to] = image.data[from];
      data[to + 1] = image.data[from + 1];
      data[to + 2] = image.data[from + 2];
    }
  }
  const objects = sample.objects.map((o): ObjectAnnotation => ({
    boxXy: [1 - o.boxXy[2], o.boxXy[1], 1 - o.boxXy[0], o.boxXy[3]],
    label: o.label,
    difficult: o.difficult,
  }));
  return { image: { width: W, height: H, data }, objects };
}

/** Flip with probability p (default 1/2), else an unchanged copy. */
export function randomFlip(sample: LabeledImage, rng: Rng, p = 0.5): LabeledImage {
  if (rng.uniform() < p) return flipHorizontal(sample);
  return { image: sample.image, objects: cloneObjects(sample.objects) };
}

// ---------------------------------------------------------------------------------------------
// The whole pipeline
// ---------------------------------------------------------------------------------------------

/**
 * The tutorial's training transform (steps 1-5 at the top of this file): a size x size image
 * (300 for SSD300) and its objects, every box inside [0, 1], ready for imageToTensor. An image
 * with no objects goes through photometric distortion, expand, flip and resize but no crop.
 */
export function augmentForTraining(sample: LabeledImage, rng: Rng, size = SSD_INPUT_SIZE, steps: AugmentSteps = ALL_AUGMENT_STEPS): LabeledImage {
  let out: LabeledImage = { image: steps.photometric ? photometricDistort(sample.image, rng) : sample.image, objects: cloneObjects(sample.objects) };
  if (steps.expand && rng.uniform() < 0.5) out = expand(out, rng);
  if (steps.crop) out = randomCrop(out, rng);
  if (steps.flip) out = randomFlip(out, rng);
  return { image: resizeBilinear(out.image, size, size), objects: out.objects };
}

/** Which steps augmentForTraining takes (all of them, the paper's recipe, unless told otherwise). */
export interface AugmentSteps {
  photometric: boolean;
  expand: boolean;
  crop: boolean;
  flip: boolean;
}

export const ALL_AUGMENT_STEPS: AugmentSteps = { photometric: true, expand: true, crop: true, flip: true };
