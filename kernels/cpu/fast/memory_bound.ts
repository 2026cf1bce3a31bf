// The memory-bound kernels of the fast CPU backend: bias gradient, max pooling, L2 norm, ReLU.
//
// Each is one pass over its data on the calling thread: they cost a few memory sweeps, against
// the billions of multiply-adds of a convolution, so threads would buy little. Compared with the
// reference loops, they only reorder loops so that memory is read sequentially (channel-outer for
// the L2 norm, clipped window bounds for pooling); every sum is taken over the same terms in the
// same order, in float64, so the results equal the reference's bit for bit.
// float32 only: CpuKernels sends float64 tensors to the reference kernels.

import { Pool2dGeometry } from '../../geometry';

/** db[c] = sum over images and positions of dy[n, c, :]. dy (N, C, H, W) -> db (C). */
export function biasGradient(dy: Float32Array, batch: number, channels: number, plane: number): Float32Array {
  const db = new Float64Array(channels);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      let sum = db[c];
      const offset = (n * channels + c) * plane;
      for (let i = 0; i < plane; i++) sum += dy[offset + i];
      db[c] = sum;
    }
  }
  return Float32Array.from(db);
}

/** x (N, C, H, W) -> y (N, C, H_out, W_out) and the in-plane index of each maximum. */
export function maxPoolForward(x: Float32Array, g: Pool2dGeometry): { y: Float32Array; argmax: Int32Array } {
  const planes = g.batch * g.channels;
  const outPlane = g.outH * g.outW;
  const y = new Float32Array(planes * outPlane);
  const argmax = new Int32Array(planes * outPlane);
  for (let p = 0; p < planes; p++) {
    const inBase = p * g.inH * g.inW;
    for (let oy = 0; oy < g.outH; oy++) {
      // The window clipped to the input: padding never wins, so it is simply not visited.
      // (The geometry guarantees every window keeps at least one input element.)
      const yStart = oy * g.strideH - g.padH;
      const y0 = Math.max(yStart, 0);
      const y1 = Math.min(yStart + g.kernelH, g.inH);
      for (let ox = 0; ox < g.outW; ox++) {
        const xStart = ox * g.strideW - g.padW;
        const x0 = Math.max(xStart, 0);
        const x1 = Math.min(xStart + g.kernelW, g.inW);
        let bestIndex = y0 * g.inW + x0;
        let best = x[inBase + bestIndex];
        // Ties keep the first maximum in scan order; a NaN wins and ends the search (as PyTorch).
        if (best === best) {
          search: for (let iy = y0; iy < y1; iy++) {
            for (let ix = iy === y0 ? x0 + 1 : x0; ix < x1; ix++) {
              const v = x[inBase + iy * g.inW + ix];
              if (v > best || v !== v) {
                best = v;
                bestIndex = iy * g.inW + ix;
                if (v !== v) break search;
              }
            }
          }
        }
        const o = p * outPlane + oy * g.outW + ox;
        y[o] = best;
        argmax[o] = bestIndex;
      }
    }
  }
  return { y, argmax };
}

/** Routes each output gradient to its window's maximum; overlapping windows add up. */
export function maxPoolBackward(dy: Float32Array, argmax: Int32Array, g: Pool2dGeometry): Float32Array {
  const planes = g.batch * g.channels;
  const inPlane = g.inH * g.inW;
  const outPlane = g.outH * g.outW;
  const dx = new Float32Array(planes * inPlane);
  const acc = new Float64Array(inPlane); // one plane, summed in float64 like the reference
  for (let p = 0; p < planes; p++) {
    acc.fill(0);
    for (let o = p * outPlane; o < (p + 1) * outPlane; o++) acc[argmax[o]] += dy[o];
    dx.set(acc, p * inPlane);
  }
  return dx;
}

/**
 * y = scale[c] * x / norm, norm = sqrt(sum over channels of x^2 + eps), per image and position.
 * x (N, C, H, W), scale (C) -> y (N, C, H, W), norm (N, 1, H, W).
 */
export function l2NormForward(x: Float32Array, scale: Float32Array, shape: readonly number[], eps: number): { y: Float32Array; norm: Float32Array } {
  const [batch, channels, h, w] = shape;
  const plane = h * w;
  const y = new Float32Array(x.length);
  const norm = new Float32Array(batch * plane);
  const nrm = new Float64Array(plane); // one image's norms, unrounded
  for (let n = 0; n < batch; n++) {
    nrm.fill(0);
    // Channel outside, position inside: each channel plane is read sequentially.
    for (let c = 0; c < channels; c++) {
      const offset = (n * channels + c) * plane;
      for (let i = 0; i < plane; i++) nrm[i] += x[offset + i] * x[offset + i];
    }
    for (let i = 0; i < plane; i++) {
      nrm[i] = Math.sqrt(nrm[i] + eps);
      norm[n * plane + i] = nrm[i];
    }
    for (let c = 0; c < channels; c++) {
      const offset = (n * channels + c) * plane;
      const s = scale[c];
      for (let i = 0; i < plane; i++) y[offset + i] = (s * x[offset + i]) / nrm[i];
    }
  }
  return { y, norm };
}

/**
 * dx = scale * dy / norm - x / norm^3 * sum_c(scale_c * dy_c * x_c),
 * dscale[c] = sum over images and positions of dy * x / norm.
 */
export function l2NormBackward(
  dy: Float32Array,
  x: Float32Array,
  scale: Float32Array,
  norm: Float32Array,
  shape: readonly number[],
): { dx: Float32Array; dscale: Float32Array } {
  const [batch, channels, h, w] = shape;
  const plane = h * w;
  const dx = new Float32Array(x.length);
  const dscale = new Float64Array(channels);
  const weighted = new Float64Array(plane); // sum_c scale_c * dy_c * x_c, per position
  for (let n = 0; n < batch; n++) {
    weighted.fill(0);
    const norms = n * plane;
    for (let c = 0; c < channels; c++) {
      const offset = (n * channels + c) * plane;
      const s = scale[c];
      let ds = dscale[c];
      for (let i = 0; i < plane; i++) {
        const k = offset + i;
        weighted[i] += s * dy[k] * x[k];
        ds += (dy[k] * x[k]) / norm[norms + i];
      }
      dscale[c] = ds;
    }
    for (let c = 0; c < channels; c++) {
      const offset = (n * channels + c) * plane;
      const s = scale[c];
      for (let i = 0; i < plane; i++) {
        const k = offset + i;
        const nrm = norm[norms + i];
        dx[k] = (s * dy[k]) / nrm - (x[k] * weighted[i]) / (nrm * nrm * nrm);
      }
    }
  }
  return { dx, dscale: Float32Array.from(dscale) };
}

export function reluForward(x: Float32Array): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
  return y;
}

export function reluBackward(dy: Float32Array, y: Float32Array): Float32Array {
  const dx = new Float32Array(dy.length);
  for (let i = 0; i < dy.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
  return dx;
}
