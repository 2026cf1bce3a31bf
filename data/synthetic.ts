// A synthetic detection data set the project makes itself, from a seed: filled circles, squares
// and triangles on a plain, slightly noisy background. There is nothing to download, every box
// is exactly right, and the task is easy enough for a small SSD to learn in minutes on a CPU:
// each class has its own shape and its own strong colour, the background is a greyish colour
// far from all three, and objects never overlap, so every box is tight around visible pixels.

import { Rng } from '../tensor/random';
import { BoxXy, LabeledImage, ObjectAnnotation, validateObjects } from './annotations';
import { Rgb } from './image';

export type ShapeName = 'circle' | 'square' | 'triangle';

/** The class list of the default synthetic set: label k is SYNTHETIC_CLASSES[k]. */
export const SYNTHETIC_CLASSES: readonly string[] = ['background', 'circle', 'square', 'triangle'];

/** Each shape's colour; an object's colour varies by at most COLOR_JITTER per channel around it. */
export const SHAPE_COLORS: Readonly<Record<ShapeName, Rgb>> = {
  circle: [220, 40, 40], // red
  square: [40, 180, 60], // green
  triangle: [40, 80, 220], // blue
};
export const COLOR_JITTER = 10;

export interface SyntheticOptions {
  /** Side of the square image in pixels (default 300, SSD300's input). */
  size?: number;
  /** Each image holds 1..maxObjects objects (default 3); fewer if they do not fit apart. */
  maxObjects?: number;
  /**
   * The shapes to draw (default circle, square, triangle). The data set's class list is
   * ['background', ...classes], so an object's label is 1 + the index of its shape here.
   */
  classes?: readonly string[];
  /** Shape side as a fraction of the image side, drawn uniformly from [minSide, maxSide] (0.15, 0.6). */
  minSide?: number;
  maxSide?: number;
  /** Each channel of each pixel moves by a uniform integer in [-noise, noise] (default 6). */
  noise?: number;
  /**
   * 'plain' (default): one grey with a slight tint. 'textured': that grey overlaid with two
   * stripe patterns at random angles and periods, so that edges are everywhere and the network
   * must tell a shape from the texture around it, as in real images.
   */
  background?: 'plain' | 'textured';
}

/**
 * The task the demo and `ssd make-synthetic` use: one to three objects per image, from small
 * (a tenth of the image side) to large (six tenths), on textured backgrounds.
 */
export const SYNTHETIC_TASK: SyntheticOptions = { maxObjects: 3, minSide: 0.1, maxSide: 0.6, background: 'textured' };

/** Gap in pixels kept between the boxes of two objects, so no shape touches or hides another. */
const GAP = 2;
/** Placements tried for one object before it is left out. */
const MAX_PLACEMENT_TRIES = 50;

/** The class list (background first) of a synthetic set made with these options. */
export function syntheticClasses(options: SyntheticOptions = {}): string[] {
  return ['background', ...(options.classes ?? SYNTHETIC_CLASSES.slice(1))];
}

/** Pixel rectangle [x0, x1) x [y0, y1). */
interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * One image with 1..maxObjects non-overlapping shapes and their tight boxes (fractions). All
 * randomness comes from `rng`, so the same seed gives the same image, byte for byte.
 */
export function makeSyntheticSample(rng: Rng, options: SyntheticOptions = {}): LabeledImage {
  const size = options.size ?? 300;
  const maxObjects = options.maxObjects ?? 3;
  const shapes = options.classes ?? SYNTHETIC_CLASSES.slice(1);
  const minSide = options.minSide ?? 0.15;
  const maxSide = options.maxSide ?? 0.6;
  const noise = options.noise ?? 6;
  checkOptions(size, maxObjects, shapes, minSide, maxSide, noise);

  // Background: a grey between 70 and 180 with a slight tint, far from every shape colour.
  const grey = 70 + rng.int(111);
  const background: Rgb = [grey + rng.int(21) - 10, grey + rng.int(21) - 10, grey + rng.int(21) - 10];
  const data = new Uint8Array(size * size * 3);
  for (let p = 0; p < size * size; p++) data.set(background, p * 3);
  if (options.background === 'textured') paintTexture(data, size, rng);

  const placed: Rect[] = [];
  const objects: ObjectAnnotation[] = [];
  const count = 1 + rng.int(maxObjects);
  for (let k = 0; k < count; k++) {
    const shapeIndex = rng.int(shapes.length);
    const shape = shapes[shapeIndex] as ShapeName;
    const side = Math.max(2, Math.round((minSide + (maxSide - minSide) * rng.uniform()) * size));
    const rect = placeApart(rng, side, size, placed);
    if (rect === null) continue; // no room left apart from the others: fewer objects
    placed.push(rect);
    const base = SHAPE_COLORS[shape];
    const color: Rgb = [jitter(base[0], rng), jitter(base[1], rng), jitter(base[2], rng)];
    const tight = drawShape(data, size, shape, rect, color);
    objects.push({ boxXy: tight, label: shapeIndex + 1, difficult: false });
  }

  if (noise > 0) {
    for (let i = 0; i < data.length; i++) {
      data[i] = Math.min(255, Math.max(0, data[i] + rng.int(2 * noise + 1) - noise));
    }
  }
  validateObjects(objects, 'makeSyntheticSample', shapes.length + 1);
  return { image: { width: size, height: size, data }, objects };
}

/** n samples from one seed: the same (n, seed, options) always give the same data set. */
export function makeSyntheticDataset(n: number, seed: number, options: SyntheticOptions = {}): LabeledImage[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`makeSyntheticDataset: n must be a non-negative integer, got ${n}`);
  const rng = new Rng(seed);
  const samples: LabeledImage[] = [];
  for (let i = 0; i < n; i++) samples.push(makeSyntheticSample(rng, options));
  return samples;
}

function checkOptions(size: number, maxObjects: number, shapes: readonly string[], minSide: number, maxSide: number, noise: number): void {
  if (!Number.isInteger(size) || size < 8) throw new Error(`synthetic data: size must be an integer >= 8, got ${size}`);
  if (!Number.isInteger(maxObjects) || maxObjects < 1) throw new Error(`synthetic data: maxObjects must be an integer >= 1, got ${maxObjects}`);
  if (shapes.length === 0) throw new Error('synthetic data: classes is empty');
  for (const s of shapes) {
    if (!(s in SHAPE_COLORS)) throw new Error(`synthetic data: unknown shape "${s}", expected circle, square or triangle`);
  }
  if (!(minSide > 0 && minSide <= maxSide && maxSide <= 1)) {
    throw new Error(`synthetic data: need 0 < minSide <= maxSide <= 1, got ${minSide}, ${maxSide}`);
  }
  if (!Number.isInteger(noise) || noise < 0) throw new Error(`synthetic data: noise must be a non-negative integer, got ${noise}`);
}

/**
 * Two sinusoidal stripe patterns, each at a random angle, period (6 to 60 pixels) and phase,
 * added to every channel with a random strength (up to +-45 levels in all) and a slight random
 * tint per channel: greyish textures that stay away from the shapes' strong colours.
 */
function paintTexture(data: Uint8Array, size: number, rng: Rng): void {
  const waves = [0, 1].map(() => ({
    angle: rng.uniform() * Math.PI,
    period: 6 + rng.uniform() * 54,
    phase: rng.uniform() * 2 * Math.PI,
    amplitude: 8 + rng.uniform() * 14,
  }));
  const tint = [0.8 + 0.4 * rng.uniform(), 0.8 + 0.4 * rng.uniform(), 0.8 + 0.4 * rng.uniform()];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = 0;
      for (const w of waves) v += w.amplitude * Math.sin((2 * Math.PI * (x * Math.cos(w.angle) + y * Math.sin(w.angle))) / w.period + w.phase);
      const p = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) data[p + c] = Math.min(255, Math.max(0, Math.round(data[p + c] + v * tint[c])));
    }
  }
}

function jitter(value: number, rng: Rng): number {
  return value + rng.int(2 * COLOR_JITTER + 1) - COLOR_JITTER;
}

/** A side x side square at a random place, at least GAP pixels from every placed one; null if none found. */
function placeApart(rng: Rng, side: number, size: number, placed: readonly Rect[]): Rect | null {
  for (let t = 0; t < MAX_PLACEMENT_TRIES; t++) {
    const x0 = rng.int(size - side + 1);
    const y0 = rng.int(size - side + 1);
    const rect = { x0, y0, x1: x0 + side, y1: y0 + side };
    const clear = placed.every(
      (o) => rect.x1 + GAP <= o.x0 || o.x1 + GAP <= rect.x0 || rect.y1 + GAP <= o.y0 || o.y1 + GAP <= rect.y0,
    );
    if (clear) return rect;
  }
  return null;
}

/**
 * Fill the pixels of `shape` inscribed in `rect` and return the tight box of the pixels actually
 * filled, in fractions: [minX / size, minY / size, (maxX + 1) / size, (maxY + 1) / size]. A pixel
 * belongs to the shape when its centre (x + 0.5, y + 0.5) does.
 */
function drawShape(data: Uint8Array, size: number, shape: ShapeName, rect: Rect, color: Rgb): BoxXy {
  const w = rect.x1 - rect.x0;
  const h = rect.y1 - rect.y0;
  const cx = rect.x0 + w / 2;
  const cy = rect.y0 + h / 2;
  const inside = (px: number, py: number): boolean => {
    switch (shape) {
      case 'square':
        return true;
      case 'circle':
        return (px - cx) ** 2 + (py - cy) ** 2 <= (w / 2) ** 2;
      case 'triangle':
        // Apex at the top middle, base along the bottom: the half-width grows linearly downwards.
        return Math.abs(px - cx) <= ((py - rect.y0) * (w / 2)) / h;
    }
  };
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let y = rect.y0; y < rect.y1; y++) {
    for (let x = rect.x0; x < rect.x1; x++) {
      if (!inside(x + 0.5, y + 0.5)) continue;
      data.set(color, (y * size + x) * 3);
      minX = Math.min(minX, x);
      minY = Math.min(minY, y);
      maxX = Math.max(maxX, x);
      maxY = Math.max(maxY, y);
    }
  }
  return [minX / size, minY / size, (maxX + 1) / size, (maxY + 1) / size];
}
