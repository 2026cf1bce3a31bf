// Boxes and the coordinate systems SSD moves them between. Every box list is a Tensor (n, 4).
//
//   xy      boundary coordinates (x_min, y_min, x_max, y_max), fractions of the image size
//   cxcy    centre-size coordinates (c_x, c_y, w, h), fractions of the image size
//   gcxgcy  offsets from a prior, as the network predicts them (SSD's "encoded" boxes):
//             g_cx = (c_x - p_cx) / (p_w / 10)     g_w = log(w / p_w) * 5
//             g_cy = (c_y - p_cy) / (p_h / 10)     g_h = log(h / p_h) * 5
//           The 10 and 5 are the inverses of the "variances" 0.1 and 0.2 of the original Caffe
//           code: they scale the targets to roughly unit size, which balances the loss.

import { Tensor, assertShape, shapeToString } from '../tensor/tensor';

function checkBoxes(t: Tensor, what: string): number {
  if (t.rank !== 2 || t.shape[1] !== 4) throw new Error(`${what}: expected boxes of shape (n, 4), got ${shapeToString(t.shape)}`);
  return t.shape[0];
}

/** (x_min, y_min, x_max, y_max) -> (c_x, c_y, w, h) */
export function xyToCxcy(xy: Tensor): Tensor {
  const n = checkBoxes(xy, 'xyToCxcy');
  const out = new Tensor([n, 4], undefined, xy.dtype);
  const a = xy.data;
  for (let i = 0; i < n; i++) {
    const k = 4 * i;
    out.data[k] = (a[k] + a[k + 2]) / 2;
    out.data[k + 1] = (a[k + 1] + a[k + 3]) / 2;
    out.data[k + 2] = a[k + 2] - a[k];
    out.data[k + 3] = a[k + 3] - a[k + 1];
  }
  return out;
}

/** (c_x, c_y, w, h) -> (x_min, y_min, x_max, y_max) */
export function cxcyToXy(cxcy: Tensor): Tensor {
  const n = checkBoxes(cxcy, 'cxcyToXy');
  const out = new Tensor([n, 4], undefined, cxcy.dtype);
  const a = cxcy.data;
  for (let i = 0; i < n; i++) {
    const k = 4 * i;
    out.data[k] = a[k] - a[k + 2] / 2;
    out.data[k + 1] = a[k + 1] - a[k + 3] / 2;
    out.data[k + 2] = a[k] + a[k + 2] / 2;
    out.data[k + 3] = a[k + 1] + a[k + 3] / 2;
  }
  return out;
}

/**
 * Encode boxes against their priors (one prior per box): cxcy (n, 4), priorsCxcy (n, 4) -> gcxgcy (n, 4).
 * A box of zero or negative width or height has no logarithm: it is an error, not a NaN.
 */
export function cxcyToGcxgcy(cxcy: Tensor, priorsCxcy: Tensor): Tensor {
  const n = checkBoxes(cxcy, 'cxcyToGcxgcy: boxes');
  assertShape(priorsCxcy, [n, 4], 'cxcyToGcxgcy: priors');
  const out = new Tensor([n, 4], undefined, cxcy.dtype);
  const b = cxcy.data;
  const p = priorsCxcy.data;
  for (let i = 0; i < n; i++) {
    const k = 4 * i;
    if (!(b[k + 2] > 0 && b[k + 3] > 0)) {
      throw new Error(`cxcyToGcxgcy: box ${i} has width ${b[k + 2]} and height ${b[k + 3]}; both must be positive`);
    }
    out.data[k] = (b[k] - p[k]) / (p[k + 2] / 10);
    out.data[k + 1] = (b[k + 1] - p[k + 1]) / (p[k + 3] / 10);
    out.data[k + 2] = Math.log(b[k + 2] / p[k + 2]) * 5;
    out.data[k + 3] = Math.log(b[k + 3] / p[k + 3]) * 5;
  }
  return out;
}

/** Decode predicted offsets against their priors: the exact inverse of cxcyToGcxgcy. */
export function gcxgcyToCxcy(gcxgcy: Tensor, priorsCxcy: Tensor): Tensor {
  const n = checkBoxes(gcxgcy, 'gcxgcyToCxcy: offsets');
  assertShape(priorsCxcy, [n, 4], 'gcxgcyToCxcy: priors');
  const out = new Tensor([n, 4], undefined, gcxgcy.dtype);
  const g = gcxgcy.data;
  const p = priorsCxcy.data;
  for (let i = 0; i < n; i++) {
    const k = 4 * i;
    out.data[k] = (g[k] * p[k + 2]) / 10 + p[k];
    out.data[k + 1] = (g[k + 1] * p[k + 3]) / 10 + p[k + 1];
    out.data[k + 2] = Math.exp(g[k + 2] / 5) * p[k + 2];
    out.data[k + 3] = Math.exp(g[k + 3] / 5) * p[k + 3];
  }
  return out;
}

/** Area of intersection of every box of `boxesXyA` (n_a, 4) with every box of `boxesXyB` (n_b, 4), xy coordinates: (n_a, n_b). */
export function intersection(boxesXyA: Tensor, boxesXyB: Tensor): Tensor {
  const na = checkBoxes(boxesXyA, 'intersection: first set');
  const nb = checkBoxes(boxesXyB, 'intersection: second set');
  const a = boxesXyA.data;
  const b = boxesXyB.data;
  const out = new Tensor([na, nb], undefined, boxesXyA.dtype);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      const w = Math.min(a[4 * i + 2], b[4 * j + 2]) - Math.max(a[4 * i], b[4 * j]);
      const h = Math.min(a[4 * i + 3], b[4 * j + 3]) - Math.max(a[4 * i + 1], b[4 * j + 1]);
      out.data[i * nb + j] = Math.max(w, 0) * Math.max(h, 0);
    }
  }
  return out;
}

/** Jaccard overlap (intersection over union) of every box of `boxesXyA` with every box of `boxesXyB`, xy coordinates: (n_a, n_b). */
export function jaccardOverlap(boxesXyA: Tensor, boxesXyB: Tensor): Tensor {
  const inter = intersection(boxesXyA, boxesXyB);
  const na = boxesXyA.shape[0];
  const nb = boxesXyB.shape[0];
  const area = (boxesXy: Tensor, i: number): number =>
    (boxesXy.data[4 * i + 2] - boxesXy.data[4 * i]) * (boxesXy.data[4 * i + 3] - boxesXy.data[4 * i + 1]);
  for (let i = 0; i < na; i++) {
    const areaA = area(boxesXyA, i);
    for (let j = 0; j < nb; j++) {
      const union = areaA + area(boxesXyB, j) - inter.data[i * nb + j];
      inter.data[i * nb + j] = union > 0 ? inter.data[i * nb + j] / union : 0;
    }
  }
  return inter;
}
