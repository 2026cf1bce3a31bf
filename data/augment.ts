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
import { sampleGrid } from './resize';
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

/**
 * Map every byte through a table of 256 bytes: a distortion that depends on the value alone
 * (brightness, contrast) computed once per level instead of once per pixel.
 */
function mapLevels(img: RgbImage, level: (v: number) => number): RgbImage {
  const table = new Uint8Array(256);
  for (let v = 0; v < 256; v++) table[v] = toByte(level(v));
  const src = img.data;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
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
  return mapLevels(img, (v) => v * factor);
}

/** Move every value away from (factor > 1) or towards (< 1) the image's mean grey; adjust_contrast. */
export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  let sum = 0;
  for (let p = 0; p < img.width * img.height; p++) sum += luma(img.data, p);
  const meanGrey = Math.round(sum / (img.width * img.height)); // PIL rounds the mean to a level
  return mapLevels(img, (v) => meanGrey + factor * (v - meanGrey));
}

/** Move every pixel away from (factor > 1) or towards (< 1) its own grey; adjust_saturation. */
export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  const src = img.data;
  const out = new Uint8Array(src.length);
  for (let p = 0; p < img.width * img.height; p++) {
    const r = src[p * 3];
    const g = src[p * 3 + 1];
    const b = src[p * 3 + 2];
    const grey = Math.round(0.299 * r + 0.587 * g + 0.114 * b); // luma, rounded: PIL's "L" image is bytes
    out[p * 3] = clampByte(Math.round(grey + factor * (r - grey)));
    out[p * 3 + 1] = clampByte(Math.round(grey + factor * (g - grey)));
    out[p * 3 + 2] = clampByte(Math.round(grey + factor * (b - grey)));
  }
  return { width: img.width, height: img.height, data: out };
}

/** A whole number clamped to [0, 255] (toByte once rounded). */
function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Rotate every pixel's hue by `shift`, a fraction of the full colour circle in [-0.5, 0.5]
 * (adjust_hue): RGB -> HSV, h + shift (mod 1), HSV -> RGB. Greys have no hue and stay.
 */
export function adjustHue(img: RgbImage, shift: number): RgbImage {
  if (!(Math.abs(shift) <= 0.5)) throw new Error(`adjustHue: shift must be in [-0.5, 0.5], got ${shift}`);
  const out = new Uint8Array(img.data.length);
  const hsv = new Float64Array(3); // one pixel's (h, s, v), then its (r, g, b): no array per pixel
  for (let p = 0; p < img.width * img.height; p++) {
    rgbToHsv(img.data[p * 3] / 255, img.data[p * 3 + 1] / 255, img.data[p * 3 + 2] / 255, hsv);
    hsvToRgb(wrap01(wrap01(hsv[0] + shift) + 1), hsv[1], hsv[2], hsv);
    out[p * 3] = toByte(hsv[0] * 255);
    out[p * 3 + 1] = toByte(hsv[1] * 255);
    out[p * 3 + 2] = toByte(hsv[2] * 255);
  }
  return { width: img.width, height: img.height, data: out };
}

/**
 * x % 1 for x in (-1, 2), the remainder's sign that of x, as JavaScript's % (C's fmod): x, or
 * x - 1 from 1 on, which is exact there. The same value as x % 1, without V8's slow
 * floating-point modulo: the hue shift of a 480x360 image took 27 ms with it, 8 without.
 */
function wrap01(x: number): number {
  return x >= 1 ? x - 1 : x;
}

/** RGB in [0, 1] -> (hue in [0, 1), saturation, value), into `out`. */
function rgbToHsv(r: number, g: number, b: number, out: Float64Array): void {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const delta = max - min;
  let h = 0;
  if (delta > 0) {
    // (g - b) / delta lies in [-1, 1] when r is the maximum, so the formula's "% 6" leaves it as it is
    if (max === r) h = (g - b) / delta;
    else if (max === g) h = (b - r) / delta + 2;
    else h = (r - g) / delta + 4;
    h = wrap01(h / 6 + 1); // h / 6 lies in [-1/6, 5/6]: the formula's ((h / 6) % 1 + 1) % 1
  }
  out[0] = h;
  out[1] = max === 0 ? 0 : delta / max;
  out[2] = max;
}

/** (hue, saturation, value) -> RGB in [0, 1], into `out`. */
function hsvToRgb(h: number, s: number, v: number, out: Float64Array): void {
  const sector = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  switch (sector) {
    case 0: out[0] = v; out[1] = t; out[2] = p; break;
    case 1: out[0] = q; out[1] = v; out[2] = p; break;
    case 2: out[0] = p; out[1] = v; out[2] = t; break;
    case 3: out[0] = p; out[1] = q; out[2] = v; break;
    case 4: out[0] = t; out[1] = p; out[2] = v; break;
    default: out[0] = v; out[1] = p; out[2] = q;
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
  const objects = expandBoxes(sample.objects, W, H, { width: newWidth, height: newHeight, left, top });
  return { image: { width: newWidth, height: newHeight, data }, objects };
}

/** Where expand puts an image: on a canvas of width x height, its top-left corner at pixel (left, top). */
export interface Placement {
  width: number;
  height: number;
  left: number;
  top: number;
}

/** The boxes of a W x H image's objects once it is placed on a canvas: the same pixels, in fractions of the canvas. */
function expandBoxes(objects: readonly ObjectAnnotation[], W: number, H: number, canvas: Placement): ObjectAnnotation[] {
  return objects.map((o): ObjectAnnotation => {
    const [x1, y1, x2, y2] = o.boxXy;
    const boxXy: BoxXy = [
      (x1 * W + canvas.left) / canvas.width,
      (y1 * H + canvas.top) / canvas.height,
      (x2 * W + canvas.left) / canvas.width,
      (y2 * H + canvas.top) / canvas.height,
    ];
    return { boxXy, label: o.label, difficult: o.difficult };
  });
}

/**
 * The tutorial's expand: a canvas `scale` times the image's size, scale uniform in [1, maxScale],
 * the image at a uniformly random place on it. Objects become smaller: the paper's remedy for
 * SSD's weakness on small objects.
 */
export function expand(sample: LabeledImage, rng: Rng, maxScale = 4, filler: Rgb = IMAGENET_MEAN_BYTES): LabeledImage {
  const canvas = expandPlacement(sample.image.width, sample.image.height, rng, maxScale);
  return expandOnto(sample, canvas.width, canvas.height, canvas.left, canvas.top, filler);
}

/** expand's random choice for a W x H image: the canvas and where the image lies on it. */
function expandPlacement(W: number, H: number, rng: Rng, maxScale = 4): Placement {
  if (!(maxScale >= 1)) throw new Error(`expand: maxScale must be >= 1, got ${maxScale}`);
  const scale = uniform(rng, 1, maxScale);
  const width = Math.floor(scale * W);
  const height = Math.floor(scale * H);
  const left = rng.int(width - W + 1);
  const top = rng.int(height - H + 1);
  return { width, height, left, top };
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
  return { image: { width: cropW, height: cropH, data }, objects: cropBoxes(sample.objects, W, H, crop) };
}

/** The objects of a W x H image that a crop keeps (their centres inside it), clipped to it, in fractions of it. */
function cropBoxes(objects: readonly ObjectAnnotation[], W: number, H: number, crop: PixelRect): ObjectAnnotation[] {
  const { left, top, right, bottom } = crop;
  const cropW = right - left;
  const cropH = bottom - top;
  const kept: ObjectAnnotation[] = [];
  for (const o of objects) {
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
    kept.push({ boxXy, label: o.label, difficult: o.difficult });
  }
  return kept;
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
  checkImage(sample.image, 'randomCrop');
  return cropRectFor(sample.image.width, sample.image.height, sample.objects, rng, maxTrials);
}

/** randomCropRect's choice for a W x H image with these objects (it needs their boxes, not the pixels). */
function cropRectFor(W: number, H: number, objects: readonly ObjectAnnotation[], rng: Rng, maxTrials: number): PixelRect | null {
  if (objects.length === 0) return null;
  const boxesPx = objects.map((o) => toPixels(o.boxXy, W, H));
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
  return { image: { width: W, height: H, data }, objects: flipBoxes(sample.objects) };
}

/** The objects mirrored left-right: x -> 1 - x. */
function flipBoxes(objects: readonly ObjectAnnotation[]): ObjectAnnotation[] {
  return objects.map((o): ObjectAnnotation => ({
    boxXy: [1 - o.boxXy[2], o.boxXy[1], 1 - o.boxXy[0], o.boxXy[3]],
    label: o.label,
    difficult: o.difficult,
  }));
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
 *
 * The result is, bit for bit, that of the steps one after the other,
 *   resizeBilinear(randomFlip(randomCrop(expand(photometricDistort(image)))), size, size)
 * with the same random choices (spec/data/augment.spec.ts checks it), but made faster: expand,
 * crop and flip are decided on the boxes alone, and the pixels of the result are read straight
 * from the image by one resampling pass (renderView), instead of building the canvas of the
 * expand (up to 16 times the image), cutting the crop out of it and mirroring it. That took the
 * augmentation of a 480x360 image from about 50 ms to a few here.
 */
export function augmentForTraining(sample: LabeledImage, rng: Rng, size = SSD_INPUT_SIZE, steps: AugmentSteps = ALL_AUGMENT_STEPS): LabeledImage {
  // 1. the colours (the one step that changes pixels, not where they are)
  const image = steps.photometric ? photometricDistort(sample.image, rng) : sample.image;
  checkImage(image, 'augmentForTraining');
  const { width: W, height: H } = image;
  // 2. where the image lies on the expand's canvas (the canvas is the image itself without it)
  let canvas: Placement = { width: W, height: H, left: 0, top: 0 };
  let objects = cloneObjects(sample.objects);
  if (steps.expand && rng.uniform() < 0.5) {
    canvas = expandPlacement(W, H, rng);
    objects = expandBoxes(objects, W, H, canvas);
  }
  // 3. which part of the canvas is kept
  let crop: PixelRect = { left: 0, top: 0, right: canvas.width, bottom: canvas.height };
  const rect = steps.crop ? cropRectFor(canvas.width, canvas.height, objects, rng, 50) : null;
  if (rect !== null) {
    objects = cropBoxes(objects, canvas.width, canvas.height, rect);
    crop = rect;
  }
  // 4. mirrored or not
  const mirrored = steps.flip && rng.uniform() < 0.5;
  if (mirrored) objects = flipBoxes(objects);
  // 5. the pixels of all that, resized
  return { image: renderView(image, canvas, crop, mirrored, size), objects };
}

/**
 * resizeBilinear(flip?(crop of (the image on its canvas))) without making any of the
 * intermediate images: for each output pixel, the same four neighbours with the same weights
 * (data/resize.ts's sample grid over the crop), each read from the image, or the filler where the
 * canvas has no image, in the mirrored column when mirrored.
 */
function renderView(image: RgbImage, canvas: Placement, crop: PixelRect, mirrored: boolean, size: number, filler: Rgb = IMAGENET_MEAN_BYTES): RgbImage {
  const cropW = crop.right - crop.left;
  const cropH = crop.bottom - crop.top;
  const xs = sampleGrid(cropW, size);
  const ys = sampleGrid(cropH, size);
  // the image's column (row) behind a column (row) of the crop, or -1 where it is filler
  const column = (x: number): number => {
    const ix = crop.left + (mirrored ? cropW - 1 - x : x) - canvas.left;
    return ix >= 0 && ix < image.width ? ix : -1;
  };
  const row = (y: number): number => {
    const iy = crop.top + y - canvas.top;
    return iy >= 0 && iy < image.height ? iy : -1;
  };
  const colLo = Int32Array.from(xs.lo, column);
  const colHi = Int32Array.from(xs.hi, column);
  const src = image.data;
  const out = new Uint8Array(size * size * 3);
  if (colLo.every((c) => c >= 0) && colHi.every((c) => c >= 0) && ys.lo.every((r) => row(r) >= 0) && ys.hi.every((r) => row(r) >= 0)) {
    // the whole view lies on the image (always so without the expand): the same sums without a
    // test for the filler at every read, which made this loop about twice as slow
    for (let y = 0; y < size; y++) {
      const rowLo = row(ys.lo[y]) * image.width;
      const rowHi = row(ys.hi[y]) * image.width;
      const wy = ys.weight[y];
      for (let x = 0; x < size; x++) {
        const wx = xs.weight[x];
        const tl = (rowLo + colLo[x]) * 3;
        const tr = (rowLo + colHi[x]) * 3;
        const bl = (rowHi + colLo[x]) * 3;
        const br = (rowHi + colHi[x]) * 3;
        const at = (y * size + x) * 3;
        for (let c = 0; c < 3; c++) {
          const top = src[tl + c] * (1 - wx) + src[tr + c] * wx;
          const bottom = src[bl + c] * (1 - wx) + src[br + c] * wx;
          out[at + c] = Math.round(top * (1 - wy) + bottom * wy);
        }
      }
    }
    return { width: size, height: size, data: out };
  }
  for (let y = 0; y < size; y++) {
    const rowLo = row(ys.lo[y]);
    const rowHi = row(ys.hi[y]);
    const wy = ys.weight[y];
    for (let x = 0; x < size; x++) {
      const wx = xs.weight[x];
      const topLeft = rowLo < 0 || colLo[x] < 0 ? -1 : (rowLo * image.width + colLo[x]) * 3;
      const topRight = rowLo < 0 || colHi[x] < 0 ? -1 : (rowLo * image.width + colHi[x]) * 3;
      const bottomLeft = rowHi < 0 || colLo[x] < 0 ? -1 : (rowHi * image.width + colLo[x]) * 3;
      const bottomRight = rowHi < 0 || colHi[x] < 0 ? -1 : (rowHi * image.width + colHi[x]) * 3;
      for (let c = 0; c < 3; c++) {
        const tl = topLeft < 0 ? filler[c] : src[topLeft + c];
        const tr = topRight < 0 ? filler[c] : src[topRight + c];
        const bl = bottomLeft < 0 ? filler[c] : src[bottomLeft + c];
        const br = bottomRight < 0 ? filler[c] : src[bottomRight + c];
        const top = tl * (1 - wx) + tr * wx;
        const bottom = bl * (1 - wx) + br * wx;
        out[(y * size + x) * 3 + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width: size, height: size, data: out };
}

/** Which steps augmentForTraining takes (all of them, the paper's recipe, unless told otherwise). */
export interface AugmentSteps {
  photometric: boolean;
  expand: boolean;
  crop: boolean;
  flip: boolean;
}

export const ALL_AUGMENT_STEPS: AugmentSteps = { photometric: true, expand: true, crop: true, flip: true };
