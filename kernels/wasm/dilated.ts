// A dilated convolution as an undilated one on a batch of sub-sampled maps, so that Winograd
// (winograd.ts, 3x3 and dilation 1 only) can run it: SSD's conv6 (3x3, dilation 6, padding 6, on
// 19 x 19) is 13% of the full network's forward pass on the GEMM.
//
// With stride 1 and padding = dilation d, output (oy, ox) reads the inputs d apart around it:
//   y[oy, ox] = sum over ky, kx in 0..2 of w[ky, kx] x[oy + d (ky - 1), ox + d (kx - 1)]
// Write oy = d a + ry (ry = oy mod d): the rows it reads are d (a + ky - 1) + ry, all in the same
// residue class ry. So the outputs of one class (ry, rx) are an undilated 3x3 convolution, padding
// 1, of the sub-sampled map
//   x_sub[a, b] = x[d a + ry, d b + rx]     (zero where that lies past the edge)
// and the whole convolution is d^2 such maps per image, each ceil(H / d) x ceil(W / d), as one batch:
//   x (N, C, H, W) --gather--> x_sub (N d^2, C, ceil(H / d), ceil(W / d)) --conv 3x3, pad 1-->
//   y_sub (N d^2, C_out, ...) --scatter--> y (N, C_out, H, W)
// The positions of a map past the edge (class ry has fewer rows than ceil(H / d) when d does not
// divide H) hold zeros in x_sub, which is what the padding gives there, and their outputs are
// dropped. The two backward passes follow: dx is the scatter of the sub-maps' input gradient of
// the gathered dy, and dW is the sub-maps' weight gradient, summed over the whole batch of maps
// (dy's gathered zeros add nothing).
// conv6 (19 x 19, d = 6): 36 maps of 4 x 4 per image, one F(4x4) tile or four F(2x2) tiles each.
// The maps hold 576 positions for the layer's 361, so it pays only where Winograd's saving is
// large, on wide layers. Measured (2 threads, ms, the GEMM on the dilated layer / Winograd on the
// maps as 'auto' picks its tile; forward, input gradient, weight gradient):
//   batch 1,  512 -> 1024 (SSD300)     54 / 41    55 / 45    47 / 31
//   batch 16, 128 -> 256  (channels/4) 42 / 36    47 / 39    42 / 45
//   batch 16,  64 -> 128  (channels/8) 12 / 13    14 / 14    12 / 17-23
//   batch 8,   32 -> 64   (channels/16) 1.9 / 3.0  2.4 / 3.5  1.9 / 4.4
// hence dilatedAsBatchPays: at least 128 channels in and out for the forward pass and the input
// gradient, 256 input channels for the weight gradient.

import { FloatArray } from '../../tensor/tensor';
import { Conv2dGeometry, conv2dGeometry } from '../geometry';

/** Whether a convolution is of the form above: 3x3, stride 1, dilation > 1, padding = dilation. */
export function dilatedAsBatchApplies(g: Conv2dGeometry): boolean {
  return (
    g.kernelH === 3 && g.kernelW === 3 && g.strideH === 1 && g.strideW === 1 &&
    (g.dilationH > 1 || g.dilationW > 1) && g.padH === g.dilationH && g.padW === g.dilationW
  );
}

/** Whether 'auto' runs a pass this way (the measurements above): wide layers only. */
export function dilatedAsBatchPays(pass: 'forward' | 'backwardInput' | 'backwardWeight', g: Conv2dGeometry): boolean {
  return pass === 'backwardWeight' ? g.inChannels >= 256 : g.inChannels >= 128 && g.outChannels >= 128;
}

/** The undilated convolution on the batch of sub-sampled maps (dilatedAsBatchApplies(g) must hold). */
export function dilatedAsBatch(g: Conv2dGeometry): Conv2dGeometry {
  return conv2dGeometry(
    [g.batch * g.dilationH * g.dilationW, g.inChannels, Math.ceil(g.inH / g.dilationH), Math.ceil(g.inW / g.dilationW)],
    [g.outChannels, g.inChannels, 3, 3],
    { padding: 1 },
  );
}

/**
 * Maps (N, C, H, W) at `full` to the sub-sampled batch (N dH dW, C, ceil(H / dH), ceil(W / dW)) at
 * `sub` (gather: toSub true), or back (scatter: toSub false, the positions past the edge dropped).
 * Map n dH dW + ry dW + rx holds rows ry, ry + dH, ... and columns rx, rx + dW, ... of image n.
 * Both directions walk the full map row by row (its rows are contiguous; each sub-map row holds
 * only ceil(W / dW) floats): conv6's gathers of x (512 channels) and dy (1024) 1.7 / 3.4 ->
 * 0.7 / 1.4 ms, its scatters 1.3 / 2.6 -> 0.6 / 1.2 ms (one thread), six of them per training step.
 */
export function mapDilated(
  full: FloatArray, sub: FloatArray, batch: number, channels: number, h: number, w: number, dh: number, dw: number, toSub: boolean,
): void {
  const sh = Math.ceil(h / dh);
  const sw = Math.ceil(w / dw);
  const subPlane = sh * sw;
  // Where full's row y and column x go in the sub-maps of channel 0 of image 0: map ry dw + rx
  // (ry = y mod dh, rx = x mod dw), row a = floor(y / dh), column b = floor(x / dw); a channel
  // adds c sh sw, an image dh dw channels sh sw. So both loops run over full in its own order.
  const rowAt = new Int32Array(h);
  for (let y = 0; y < h; y++) rowAt[y] = (y % dh) * dw * channels * subPlane + Math.floor(y / dh) * sw;
  const columnAt = new Int32Array(w);
  for (let x = 0; x < w; x++) columnAt[x] = (x % dw) * channels * subPlane + Math.floor(x / dw);
  const image = dh * dw * channels * subPlane;
  // the positions past the edge hold the padding's zeros (when dh does not divide h, or dw w)
  if (toSub && (h % dh !== 0 || w % dw !== 0)) sub.fill(0, 0, batch * image);
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const plane = n * image + c * subPlane;
      let f = (n * channels + c) * h * w;
      for (let y = 0; y < h; y++) {
        const row = plane + rowAt[y];
        if (toSub) for (let x = 0; x < w; x++) sub[row + columnAt[x]] = full[f + x];
        else for (let x = 0; x < w; x++) full[f + x] = sub[row + columnAt[x]];
        f += w;
      }
    }
  }
}
