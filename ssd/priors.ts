// Prior boxes ("default boxes" in the paper): the fixed set of 8732 boxes that SSD's predictions
// are relative to.
//
// SSD predicts from six feature maps of decreasing size. Every position of a map is the centre
// of a few priors of one scale (a fraction of the image) and several shapes (aspect ratios).
// Big maps with small scales catch small objects; small maps with big scales catch big ones.
// For each prior the network predicts 4 offsets (how to move and stretch it onto an object) and
// n_classes scores, so the order of the priors below is also the channel order of the prediction
// convolutions: it is what makes converted PyTorch weights work, and it must not change.

import { DType, Tensor } from '../tensor/tensor';

/**
 * The side of SSD300's square input, in pixels: the "300". The feature map sizes below (38, 19, 10,
 * 5, 3, 1) are what the network makes of it, and the priors' fractions are fractions of it.
 */
export const SSD_INPUT_SIZE = 300;

/** One of the six feature maps SSD predicts from. */
export interface FeatureMap {
  /** The layer of the network it comes from. */
  readonly name: string;
  /** Its height and width (the maps are square). */
  readonly size: number;
  /** The size of its priors as a fraction of the image (s_k in the paper). */
  readonly scale: number;
  /** Width / height of its priors, in the order they are generated. */
  readonly aspectRatios: readonly number[];
}

/**
 * The six feature maps of SSD300, in the order their predictions are concatenated.
 * The scales are the tutorial's (the paper's s_min 0.2 .. s_max 0.9, with conv4_3 at 0.1).
 * 0.333 is written as 0.333, not 1/3: the reference weights were trained with these priors.
 */
export const FEATURE_MAPS: readonly FeatureMap[] = Object.freeze([
  { name: 'conv4_3', size: 38, scale: 0.1, aspectRatios: [1, 2, 0.5] },
  { name: 'conv7', size: 19, scale: 0.2, aspectRatios: [1, 2, 3, 0.5, 0.333] },
  { name: 'conv8_2', size: 10, scale: 0.375, aspectRatios: [1, 2, 3, 0.5, 0.333] },
  { name: 'conv9_2', size: 5, scale: 0.55, aspectRatios: [1, 2, 3, 0.5, 0.333] },
  { name: 'conv10_2', size: 3, scale: 0.725, aspectRatios: [1, 2, 0.5] },
  { name: 'conv11_2', size: 1, scale: 0.9, aspectRatios: [1, 2, 0.5] },
].map((m) => Object.freeze({ ...m, aspectRatios: Object.freeze(m.aspectRatios) })));

/**
 * Priors per position of a feature map: one per aspect ratio, plus the extra square prior that
 * goes with ratio 1 (4 for conv4_3, conv10_2 and conv11_2; 6 for the others).
 */
export function boxesPerPosition(map: FeatureMap): number {
  return map.aspectRatios.length + 1;
}

/** The number of priors: sum over the maps of size * size * boxesPerPosition = 8732 for SSD300. */
export function priorCount(maps: readonly FeatureMap[] = FEATURE_MAPS): number {
  let count = 0;
  for (const map of maps) count += map.size * map.size * boxesPerPosition(map);
  return count;
}

/**
 * Throw, naming the map, unless every map can make priors the way createPriors does: a name, an
 * integer size >= 1, a scale in (0, 1], and positive finite aspect ratios holding 1 exactly once
 * (the extra square prior goes with ratio 1, and boxesPerPosition counts it).
 */
export function checkFeatureMaps(maps: readonly FeatureMap[]): void {
  if (maps.length === 0) throw new Error('feature maps: there must be at least one');
  maps.forEach((map, k) => {
    const where = `feature map ${k} (${map.name})`;
    if (!(Number.isInteger(map.size) && map.size >= 1)) throw new Error(`${where}: size must be an integer >= 1, got ${map.size}`);
    if (!(map.scale > 0 && map.scale <= 1)) throw new Error(`${where}: scale must be in (0, 1], got ${map.scale}`);
    if (map.aspectRatios.length === 0 || !map.aspectRatios.every((r) => Number.isFinite(r) && r > 0)) {
      throw new Error(`${where}: aspect ratios must be positive numbers, got [${map.aspectRatios.join(', ')}]`);
    }
    const ones = map.aspectRatios.filter((r) => r === 1).length;
    if (ones !== 1) throw new Error(`${where}: the aspect ratios must hold 1 exactly once (the extra square prior goes with it), got [${map.aspectRatios.join(', ')}]`);
  });
}

/**
 * The priors of SSD300 in centre-size form (c_x, c_y, w, h), fractions of the image: (8732, 4).
 *
 * Order: map by map (FEATURE_MAPS order), then row i, then column j, then the priors of that
 * position: one per aspect ratio r, (s * sqrt(r), s / sqrt(r)), and right after ratio 1 the
 * extra square prior of side sqrt(s_k * s_k+1), the geometric mean of this map's scale and the
 * next one's (1 for the last map, which has no next).
 *
 * Every value is computed in double precision and then clamped to [0, 1] in this centre-size form,
 * as the reference does. Clamping w and h (not the corners) means a prior near the edge can still
 * reach past the image: conv11_2's ratio-2 prior is 0.9 * sqrt(2) = 1.27 wide and becomes 1.
 *
 * `maps` (default FEATURE_MAPS, the model's own) makes the priors of other feature maps in the same
 * way (checked by checkFeatureMaps): the page's prior controls draw with them. The model always
 * uses the defaults: its prediction convs have boxesPerPosition(map) boxes per position.
 */
export function createPriors(dtype: DType = 'float32', maps: readonly FeatureMap[] = FEATURE_MAPS): Tensor {
  if (maps !== FEATURE_MAPS) checkFeatureMaps(maps);
  const priors = new Tensor([priorCount(maps), 4], undefined, dtype); // (8732, 4) for FEATURE_MAPS
  const clamp = (v: number): number => Math.min(Math.max(v, 0), 1);
  let row = 0;
  const push = (cx: number, cy: number, w: number, h: number): void => {
    priors.data[4 * row] = clamp(cx);
    priors.data[4 * row + 1] = clamp(cy);
    priors.data[4 * row + 2] = clamp(w);
    priors.data[4 * row + 3] = clamp(h);
    row++;
  };

  maps.forEach((map, k) => {
    const s = map.scale;
    const next = maps[k + 1];
    const extraSide = next === undefined ? 1 : Math.sqrt(s * next.scale);
    for (let i = 0; i < map.size; i++) {
      for (let j = 0; j < map.size; j++) {
        // The centre of cell (i, j), as a fraction of the image.
        const cx = (j + 0.5) / map.size;
        const cy = (i + 0.5) / map.size;
        for (const r of map.aspectRatios) {
          push(cx, cy, s * Math.sqrt(r), s / Math.sqrt(r)); // same area s^2, shape r
          if (r === 1) push(cx, cy, extraSide, extraSide);
        }
      }
    }
  });
  return priors;
}

/** Where prior `index` (0..8731) comes from: its feature map, cell (row, column) and box at that cell. */
export function priorLocation(index: number): { map: FeatureMap; row: number; column: number; box: number } {
  if (!Number.isInteger(index) || index < 0 || index >= priorCount()) {
    throw new Error(`priorLocation: prior index must be an integer in 0..${priorCount() - 1}, got ${index}`);
  }
  let first = 0; // the index of the current map's first prior
  for (const map of FEATURE_MAPS) {
    const perCell = boxesPerPosition(map);
    const count = map.size * map.size * perCell;
    if (index < first + count) {
      const inMap = index - first;
      const cell = Math.floor(inMap / perCell);
      return { map, row: Math.floor(cell / map.size), column: cell % map.size, box: inMap % perCell };
    }
    first += count;
  }
  throw new Error('priorLocation: unreachable'); // the range check above covers every index
}
