// Scenes of real objects, made by pasting photographs of objects cut out with an alpha channel
// ("stamps", RGBA) onto crops of background photographs: a detection data set whose boxes are
// exact, from pictures of real things. bench/real_set.ts makes one from the Debian packages of
// Tux Paint's stamps and desktop wallpapers; this file knows nothing of where pictures come from.
//
// One scene (composeScene):
//   1. a size: the long side from minLong to maxLong pixels, landscape, portrait or square;
//   2. the background: a random crop (35% to 100% of the largest crop of that shape) of one of
//      the background photographs, maybe mirrored, resampled to the size;
//   3. 1..maxObjects labeled objects and 0..maxDistractors distractors (unlabeled clutter), in a
//      random order, each pasted on top of the ones before it. An object's longer side is
//      minScale..maxScale of the image's shorter side, drawn log-uniformly (so small objects are
//      as common as large ones per octave), but a stamp is enlarged at most maxUpscale times
//      (enlarged further it is a blur); it is mirrored half of the time and its brightness and
//      contrast jittered a little. It may reach past the image's edge by a quarter of its size;
//   4. occlusion is limited: a placement is tried again (up to MAX_PLACEMENT_TRIES times, then
//      the object is left out) while it would leave a labeled object (the new one included, for
//      the part of it outside the image) with less than minVisible of its alpha visible;
//   5. each labeled object's box is the tight box of the pixels where its VISIBLE alpha (its own
//      alpha times (1 - alpha) of everything pasted over it) exceeds one half.
//
// Stamps are alpha-blended with premultiplied alpha and resampled with a triangle filter that
// widens when it shrinks (PIL's bilinear resize), so that a large photograph shrunk to a few
// hundred pixels is not aliased. All randomness comes from the Rng given: the same seed, stamps
// and backgrounds give the same scene, byte for byte.

import * as path from 'path';
import { PNG } from 'pngjs';
import { Rng } from '../tensor/random';
import { writeFileAtomic } from '../io/files';
import { LabeledImage, ObjectAnnotation, validateObjects } from './annotations';
import { RgbImage, checkImage } from './image';
import { encodeJpeg } from './image_files';
import { formatVocAnnotation } from './voc';

/** An RGBA image with straight (not premultiplied) alpha, row-major, 4 bytes per pixel. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A cut-out object to paste: its picture and its label (1.. for a class, 0 for a distractor). */
export interface Stamp {
  image: RgbaImage;
  label: number;
  /** Where it came from (a file name), for the record. */
  name: string;
}

export interface SceneOptions {
  /** The image's long side is drawn uniformly from minLong..maxLong pixels (default 320..512). */
  minLong?: number;
  maxLong?: number;
  /** 1..maxObjects labeled objects per image (default 4). */
  maxObjects?: number;
  /** 0..maxDistractors distractors per image (default 3). */
  maxDistractors?: number;
  /** An object's longer side, as a share of the image's shorter side: log-uniform in [minScale, maxScale] (0.06, 0.7). */
  minScale?: number;
  maxScale?: number;
  /** A stamp is enlarged at most this many times (default 3). */
  maxUpscale?: number;
  /** No labeled object keeps less than this share of its alpha visible (default 0.5). */
  minVisible?: number;
  /** Brightness shift up to +-brightness levels, contrast factor 1 +- contrast (default 20, 0.2). */
  brightness?: number;
  contrast?: number;
}

/** The shapes an image may take: width / height. */
const ASPECTS = [1, 4 / 3, 3 / 2, 3 / 4, 2 / 3];
/** The background crop is this share (at least) of the largest crop of the image's shape. */
const MIN_CROP = 0.35;
/** An object may reach past the image's edge by this share of its own size. */
const OUTSIDE = 0.25;
const MAX_PLACEMENT_TRIES = 20;

/** Decode a PNG into RGBA (grey, palette, transparency chunks and 16 bits become 8-bit RGBA). */
export function decodeRgbaPng(bytes: Uint8Array, source: string): RgbaImage {
  let png: { width: number; height: number; data: Uint8Array };
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new Error(`${source}: not a readable PNG file (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!(png.width > 0 && png.height > 0) || png.data.length !== png.width * png.height * 4) {
    throw new Error(`${source}: corrupt PNG file (size ${png.width}x${png.height}, ${png.data.length} bytes of pixels)`);
  }
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

/** The stamp cropped to the pixels with any alpha (null when it is fully transparent). */
export function trimToAlpha(img: RgbaImage): RgbaImage | null {
  const { width: W, height: H, data } = img;
  let x0 = W;
  let y0 = H;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (data[(y * W + x) * 4 + 3] === 0) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const out = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) out.set(data.subarray(((y0 + y) * W + x0) * 4, ((y0 + y) * W + x1 + 1) * 4), y * w * 4);
  return { width: w, height: h, data: out };
}

/**
 * Resample an image of `channels` interleaved float channels from sw x sh to dw x dh with a
 * triangle filter: bilinear when enlarging; when shrinking the filter widens to the scale, so
 * every source pixel counts (PIL's BILINEAR). Pixel centres at half-integers (align_corners=False).
 */
export function resample(src: Float32Array, sw: number, sh: number, channels: number, dw: number, dh: number): Float32Array {
  if (src.length !== sw * sh * channels) throw new Error(`resample: ${sw}x${sh}x${channels} needs ${sw * sh * channels} values, got ${src.length}`);
  // horizontal pass: (sh, sw) -> (sh, dw), then vertical: (sh, dw) -> (dh, dw)
  const fx = filterTaps(sw, dw);
  const tmp = new Float32Array(sh * dw * channels);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < dw; x++) {
      const o = (y * dw + x) * channels;
      for (let t = fx.start[x], k = fx.offset[x]; t < fx.start[x] + fx.count[x]; t++, k++) {
        const w = fx.weight[k];
        const s = (y * sw + t) * channels;
        for (let c = 0; c < channels; c++) tmp[o + c] += w * src[s + c];
      }
    }
  }
  const fy = filterTaps(sh, dh);
  const out = new Float32Array(dh * dw * channels);
  for (let y = 0; y < dh; y++) {
    for (let t = fy.start[y], k = fy.offset[y]; t < fy.start[y] + fy.count[y]; t++, k++) {
      const w = fy.weight[k];
      const o = y * dw * channels;
      const s = t * dw * channels;
      for (let i = 0; i < dw * channels; i++) out[o + i] += w * tmp[s + i];
    }
  }
  return out;
}

/** For each output index: the first source index, how many, and their normalised weights. */
function filterTaps(inSize: number, outSize: number): { start: Int32Array; count: Int32Array; offset: Int32Array; weight: Float32Array } {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1); // the triangle's half-width in source pixels
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const offset = new Int32Array(outSize);
  const weights: number[] = [];
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale; // in source pixel edges; source pixel j has its centre at j + 0.5
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize, Math.ceil(centre + support));
    const row: number[] = [];
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - centre) / support));
      row.push(w);
      sum += w;
    }
    if (sum === 0) {
      // only when the output pixel's centre sits outside every source centre's reach: take the nearest
      const j = Math.min(inSize - 1, Math.max(0, Math.floor(centre)));
      start[i] = j;
      count[i] = 1;
      offset[i] = weights.length;
      weights.push(1);
      continue;
    }
    start[i] = lo;
    count[i] = hi - lo;
    offset[i] = weights.length;
    for (const w of row) weights.push(w / sum);
  }
  return { start, count, offset, weight: Float32Array.from(weights) };
}

/** An RGB image resized with the same filter (for backgrounds), rounded to bytes. */
export function resizeRgb(img: RgbImage, width: number, height: number): RgbImage {
  checkImage(img, 'resizeRgb');
  const out = resample(Float32Array.from(img.data), img.width, img.height, 3, width, height);
  return { width, height, data: toBytes(out) };
}

function toBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(values[i])));
  return out;
}

/** An object pasted into the scene: where, and its alpha (premultiplied colour kept only while pasting). */
interface Placed {
  label: number;
  /** Its visible alpha over the whole canvas (W * H), updated as later objects cover it. */
  visible: Float32Array;
  /** The sum of `visible`. */
  visibleSum: number;
  /** The sum of its alpha before anything covered it, inside and outside the image. */
  totalAlpha: number;
}

/** One scene: a background crop with pasted objects, and the boxes of the labeled ones. */
export function composeScene(
  rng: Rng,
  backgrounds: readonly RgbImage[],
  classStamps: readonly (readonly Stamp[])[],
  distractors: readonly Stamp[],
  options: SceneOptions = {},
): LabeledImage {
  const o = resolveOptions(options);
  if (backgrounds.length === 0) throw new Error('composeScene: no background images');
  if (classStamps.length === 0 || classStamps.some((s) => s.length === 0)) throw new Error('composeScene: every class needs at least one stamp');

  // 1. The size.
  const long = o.minLong + rng.int(o.maxLong - o.minLong + 1);
  const aspect = ASPECTS[rng.int(ASPECTS.length)];
  const W = aspect >= 1 ? long : Math.round(long * aspect);
  const H = aspect >= 1 ? Math.round(long / aspect) : long;
  const short = Math.min(W, H);

  // 2. The background.
  const canvas = backgroundCrop(rng, backgrounds[rng.int(backgrounds.length)], W, H);

  // 3. What to paste, in the order pasted (later ones on top).
  const items: Stamp[] = [];
  const nObjects = 1 + rng.int(o.maxObjects);
  for (let k = 0; k < nObjects; k++) {
    const stamps = classStamps[rng.int(classStamps.length)];
    items.push(stamps[rng.int(stamps.length)]);
  }
  const nDistractors = rng.int(o.maxDistractors + 1);
  for (let k = 0; k < nDistractors && distractors.length > 0; k++) items.push(distractors[rng.int(distractors.length)]);
  for (let k = items.length - 1; k > 0; k--) {
    const j = rng.int(k + 1);
    [items[k], items[j]] = [items[j], items[k]];
  }

  // 4. Paste each where it hides no labeled object beyond the limit (or leave it out).
  const placed: Placed[] = [];
  for (const stamp of items) {
    const sprite = prepareSprite(rng, stamp.image, short, o);
    for (let attempt = 0; attempt < MAX_PLACEMENT_TRIES; attempt++) {
      const x = Math.round(-OUTSIDE * sprite.width + rng.uniform() * (W - (1 - 2 * OUTSIDE) * sprite.width));
      const y = Math.round(-OUTSIDE * sprite.height + rng.uniform() * (H - (1 - 2 * OUTSIDE) * sprite.height));
      if (!fitsOcclusionLimit(sprite, x, y, W, H, stamp.label > 0, placed, o.minVisible)) continue;
      paste(canvas, W, H, sprite, x, y, placed);
      if (stamp.label > 0) {
        const visible = alphaOnCanvas(sprite, x, y, W, H);
        let visibleSum = 0;
        for (let i = 0; i < visible.length; i++) visibleSum += visible[i];
        placed.push({ label: stamp.label, visible, visibleSum, totalAlpha: sprite.alphaSum });
      }
      break;
    }
  }

  // 5. The boxes of what is visible.
  const objects: ObjectAnnotation[] = [];
  for (const p of placed) {
    const box = visibleBox(p.visible, W, H);
    if (box !== null) objects.push({ boxXy: box, label: p.label, difficult: false });
  }
  validateObjects(objects, 'composeScene', classStamps.length + 1);
  return { image: { width: W, height: H, data: toBytes(canvas) }, objects };
}

function resolveOptions(options: SceneOptions): Required<SceneOptions> {
  const o: Required<SceneOptions> = {
    minLong: options.minLong ?? 320,
    maxLong: options.maxLong ?? 512,
    maxObjects: options.maxObjects ?? 4,
    maxDistractors: options.maxDistractors ?? 3,
    minScale: options.minScale ?? 0.06,
    maxScale: options.maxScale ?? 0.7,
    maxUpscale: options.maxUpscale ?? 3,
    minVisible: options.minVisible ?? 0.5,
    brightness: options.brightness ?? 20,
    contrast: options.contrast ?? 0.2,
  };
  const int = (v: number, min: number): boolean => Number.isInteger(v) && v >= min;
  if (!int(o.minLong, 8) || !int(o.maxLong, o.minLong)) throw new Error(`composeScene: need integers 8 <= minLong <= maxLong, got ${o.minLong}, ${o.maxLong}`);
  if (!int(o.maxObjects, 1) || !int(o.maxDistractors, 0)) throw new Error(`composeScene: need maxObjects >= 1 and maxDistractors >= 0, got ${o.maxObjects}, ${o.maxDistractors}`);
  if (!(o.minScale > 0 && o.minScale <= o.maxScale && o.maxScale <= 2)) throw new Error(`composeScene: need 0 < minScale <= maxScale <= 2, got ${o.minScale}, ${o.maxScale}`);
  if (!(o.maxUpscale >= 1) || !(o.minVisible >= 0 && o.minVisible <= 1)) throw new Error(`composeScene: need maxUpscale >= 1 and minVisible in [0, 1], got ${o.maxUpscale}, ${o.minVisible}`);
  if (!(o.brightness >= 0) || !(o.contrast >= 0 && o.contrast < 1)) throw new Error(`composeScene: need brightness >= 0 and contrast in [0, 1), got ${o.brightness}, ${o.contrast}`);
  return o;
}

/** A random crop of the background with the image's shape, maybe mirrored, resampled to W x H: float RGB. */
function backgroundCrop(rng: Rng, bg: RgbImage, W: number, H: number): Float32Array {
  checkImage(bg, 'composeScene: background');
  const aspect = W / H;
  const maxW = Math.min(bg.width, bg.height * aspect);
  const share = MIN_CROP + (1 - MIN_CROP) * rng.uniform();
  const cw = Math.max(1, Math.min(bg.width, Math.round(maxW * share)));
  const ch = Math.max(1, Math.min(bg.height, Math.round((maxW * share) / aspect)));
  const cx = rng.int(bg.width - cw + 1);
  const cy = rng.int(bg.height - ch + 1);
  const mirror = rng.uniform() < 0.5;
  const crop = new Float32Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      const sx = mirror ? cx + cw - 1 - x : cx + x;
      const s = ((cy + y) * bg.width + sx) * 3;
      const d = (y * cw + x) * 3;
      crop[d] = bg.data[s];
      crop[d + 1] = bg.data[s + 1];
      crop[d + 2] = bg.data[s + 2];
    }
  }
  return resample(crop, cw, ch, 3, W, H);
}

/** A stamp as pasted: scaled, maybe mirrored, jittered; premultiplied RGBA floats (alpha in [0, 1]). */
interface Sprite {
  width: number;
  height: number;
  /** (height, width, 4): r*a, g*a, b*a in 0..255, then a in 0..1. */
  data: Float32Array;
  alphaSum: number;
}

function prepareSprite(rng: Rng, stamp: RgbaImage, short: number, o: Required<SceneOptions>): Sprite {
  const stampLong = Math.max(stamp.width, stamp.height);
  const lo = o.minScale * short;
  const hi = Math.min(o.maxScale * short, o.maxUpscale * stampLong);
  const target = hi <= lo ? hi : Math.exp(Math.log(lo) + rng.uniform() * (Math.log(hi) - Math.log(lo)));
  const f = target / stampLong;
  const width = Math.max(1, Math.round(stamp.width * f));
  const height = Math.max(1, Math.round(stamp.height * f));
  const mirror = rng.uniform() < 0.5;
  const contrast = 1 + o.contrast * (2 * rng.uniform() - 1);
  const brightness = o.brightness * (2 * rng.uniform() - 1);

  // jitter the straight colour, premultiply, then resample (premultiplied, so that the colour of
  // transparent pixels does not bleed into the edge)
  const pre = new Float32Array(stamp.width * stamp.height * 4);
  for (let y = 0; y < stamp.height; y++) {
    for (let x = 0; x < stamp.width; x++) {
      const s = (y * stamp.width + (mirror ? stamp.width - 1 - x : x)) * 4;
      const d = (y * stamp.width + x) * 4;
      const a = stamp.data[s + 3] / 255;
      for (let c = 0; c < 3; c++) {
        const v = Math.min(255, Math.max(0, (stamp.data[s + c] - 128) * contrast + 128 + brightness));
        pre[d + c] = v * a;
      }
      pre[d + 3] = a;
    }
  }
  const data = resample(pre, stamp.width, stamp.height, 4, width, height);
  let alphaSum = 0;
  for (let i = 0; i < width * height; i++) {
    const a = Math.min(1, Math.max(0, data[i * 4 + 3]));
    data[i * 4 + 3] = a;
    alphaSum += a;
  }
  return { width, height, data, alphaSum };
}

/**
 * Whether pasting `sprite` at (x, y) leaves every labeled object already placed with at least
 * minVisible of its alpha visible, and (when the sprite is labeled) the sprite itself with at
 * least minVisible of its alpha inside the image.
 */
function fitsOcclusionLimit(sprite: Sprite, x: number, y: number, W: number, H: number, labeled: boolean, placed: readonly Placed[], minVisible: number): boolean {
  if (sprite.alphaSum <= 0) return false;
  const x0 = Math.max(0, x);
  const y0 = Math.max(0, y);
  const x1 = Math.min(W, x + sprite.width);
  const y1 = Math.min(H, y + sprite.height);
  if (labeled) {
    let inside = 0;
    for (let py = y0; py < y1; py++) for (let px = x0; px < x1; px++) inside += sprite.data[((py - y) * sprite.width + (px - x)) * 4 + 3];
    if (inside < minVisible * sprite.alphaSum) return false;
  }
  for (const p of placed) {
    let covered = 0;
    for (let py = y0; py < y1; py++) {
      for (let px = x0; px < x1; px++) covered += p.visible[py * W + px] * sprite.data[((py - y) * sprite.width + (px - x)) * 4 + 3];
    }
    if (p.visibleSum - covered < minVisible * p.totalAlpha) return false;
  }
  return true;
}

/** Alpha-blend the sprite onto the canvas at (x, y), and cover what it hides of the placed objects. */
function paste(canvas: Float32Array, W: number, H: number, sprite: Sprite, x: number, y: number, placed: Placed[]): void {
  for (let py = Math.max(0, y); py < Math.min(H, y + sprite.height); py++) {
    for (let px = Math.max(0, x); px < Math.min(W, x + sprite.width); px++) {
      const s = ((py - y) * sprite.width + (px - x)) * 4;
      const a = sprite.data[s + 3];
      if (a === 0) continue;
      const d = (py * W + px) * 3;
      for (let c = 0; c < 3; c++) canvas[d + c] = canvas[d + c] * (1 - a) + sprite.data[s + c];
      for (const p of placed) {
        const hidden = p.visible[py * W + px] * a;
        p.visible[py * W + px] -= hidden;
        p.visibleSum -= hidden;
      }
    }
  }
}

/** The sprite's alpha on a W x H canvas (zero elsewhere). */
function alphaOnCanvas(sprite: Sprite, x: number, y: number, W: number, H: number): Float32Array {
  const out = new Float32Array(W * H);
  for (let py = Math.max(0, y); py < Math.min(H, y + sprite.height); py++) {
    for (let px = Math.max(0, x); px < Math.min(W, x + sprite.width); px++) out[py * W + px] = sprite.data[((py - y) * sprite.width + (px - x)) * 4 + 3];
  }
  return out;
}

/** The tight box (fractions, boundary coordinates) of the pixels whose visible alpha exceeds 1/2; null if none. */
export function visibleBox(alpha: ArrayLike<number>, W: number, H: number): [number, number, number, number] | null {
  let x0 = W;
  let y0 = H;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!(alpha[y * W + x] > 0.5)) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < 0) return null;
  // pixel column x spans [x, x + 1): the box covers columns x0..x1 and rows y0..y1
  return [x0 / W, y0 / H, (x1 + 1) / W, (y1 + 1) / H];
}

// ---------------------------------------------------------------------------------------------
// A data set of scenes in the VOC layout

export interface SceneSplit {
  /** Image ids are `<name>_000001`, ...; the ids are listed in ImageSets/Main/<list>.txt for each of `lists` (default [name]). */
  name: string;
  lists?: readonly string[];
  count: number;
  /** The backgrounds of this split's images (hold some out for a test split). */
  backgrounds: readonly RgbImage[];
}

export interface SceneDatasetOptions extends SceneOptions {
  /** JPEG quality of the images (default 92). */
  jpegQuality?: number;
  /** Called after each image is written (progress). */
  onImage?: (split: string, index: number, scene: LabeledImage) => void;
}

/**
 * Write scenes in the Pascal VOC layout (JPEGImages/<id>.jpg, Annotations/<id>.xml,
 * ImageSets/Main/<list>.txt), as `ssd train --data` reads them; `classes` (background first)
 * names the labels. Image k of split s is made from its own generator, seeded from (seed, s, k):
 * the same seed writes the same bytes, and image k does not depend on how many images the split
 * has. Images and annotations are written as they are made; each split's lists last, so an
 * interrupted run lists no missing file. Returns the objects of every image, split by split.
 */
export function writeSceneDataset(
  root: string,
  splits: readonly SceneSplit[],
  classStamps: readonly (readonly Stamp[])[],
  distractors: readonly Stamp[],
  classes: readonly string[],
  seed: number,
  options: SceneDatasetOptions = {},
): Record<string, ObjectAnnotation[][]> {
  if (classes.length !== classStamps.length + 1) throw new Error(`writeSceneDataset: ${classes.length} class names for ${classStamps.length} classes of stamps (plus the background)`);
  const quality = options.jpegQuality ?? 92;
  const written: Record<string, ObjectAnnotation[][]> = {};
  splits.forEach((split, s) => {
    const seeds = new Rng((seed + Math.imul(s, 0x5bd1e995)) >>> 0);
    const ids: string[] = [];
    written[split.name] = [];
    for (let k = 0; k < split.count; k++) {
      const scene = composeScene(new Rng(seeds.nextUint32()), split.backgrounds, classStamps, distractors, options);
      const id = `${split.name}_${String(k + 1).padStart(6, '0')}`;
      const annotationPath = path.join(root, 'Annotations', `${id}.xml`);
      const xml = formatVocAnnotation(`${id}.jpg`, scene.image.width, scene.image.height, scene.objects, classes, annotationPath);
      writeFileAtomic(path.join(root, 'JPEGImages', `${id}.jpg`), encodeJpeg(scene.image, quality), 'image', { createDirectory: true });
      writeFileAtomic(annotationPath, xml, 'VOC annotation', { createDirectory: true });
      ids.push(id);
      written[split.name].push(scene.objects);
      options.onImage?.(split.name, k, scene);
    }
    for (const list of split.lists ?? [split.name]) {
      writeFileAtomic(path.join(root, 'ImageSets', 'Main', `${list}.txt`), ids.join('\n') + '\n', 'VOC image list', { createDirectory: true });
    }
  });
  return written;
}
