// The one place where output sizes of convolutions and poolings are computed.
//
// Every kernel (reference, fast CPU, GPU.js), forward and backward, asks this file for its
// geometry, so a floor-versus-ceil or padding mistake cannot hide in one backend only.
// Most SSD bugs are shape bugs: pool3 must give 38 (ceil mode), conv6 must keep 19 (dilation 6,
// padding 6), conv10_2 must give 3 (3x3 valid).

import { Shape, shapeToString } from '../tensor/tensor';

/** A size given once for both directions (3) or as [height, width]. */
export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
}

export interface Pool2dOptions {
  kernelSize: Pair;
  stride?: Pair; // defaults to kernelSize, as in PyTorch
  padding?: Pair;
  ceilMode?: boolean;
}

export function pair(p: Pair): [number, number] {
  return typeof p === 'number' ? [p, p] : [p[0], p[1]];
}

/**
 * Output length along one axis, with PyTorch's rule:
 *   out = floor_or_ceil((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1
 * and, in ceil mode, the last window must start inside the input or its left padding
 * (otherwise it is dropped), so a window never lies entirely in the right padding.
 */
export function outputLength(
  inLength: number,
  kernel: number,
  stride: number,
  pad: number,
  dilation: number,
  ceilMode = false,
): number {
  const span = inLength + 2 * pad - dilation * (kernel - 1) - 1;
  let out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (ceilMode && (out - 1) * stride >= inLength + pad) out--;
  return out;
}

export interface Conv2dGeometry {
  batch: number;
  inChannels: number;
  inH: number;
  inW: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  outH: number;
  outW: number;
}

function checkPositiveInts(values: Record<string, number>, what: string): void {
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${k} must be a positive integer, got ${v}`);
  }
}

/**
 * Geometry of a convolution of an input (N, C_in, H, W) with weights (C_out, C_in, kH, kW).
 * `what` names the layer in error messages.
 */
export function conv2dGeometry(inputShape: Shape, weightShape: Shape, options: Conv2dOptions, what = 'conv2d'): Conv2dGeometry {
  if (inputShape.length !== 4) throw new Error(`${what}: input must be (N, C, H, W), got ${shapeToString(inputShape)}`);
  if (weightShape.length !== 4) throw new Error(`${what}: weight must be (C_out, C_in, kH, kW), got ${shapeToString(weightShape)}`);
  const [batch, inChannels, inH, inW] = inputShape;
  const [outChannels, weightInChannels, kernelH, kernelW] = weightShape;
  if (weightInChannels !== inChannels) {
    throw new Error(
      `${what}: input ${shapeToString(inputShape)} has ${inChannels} channels but weight ${shapeToString(weightShape)} expects ${weightInChannels}`,
    );
  }
  const [strideH, strideW] = pair(options.stride ?? 1);
  const [padH, padW] = pair(options.padding ?? 0);
  const [dilationH, dilationW] = pair(options.dilation ?? 1);
  checkPositiveInts({ strideH, strideW, dilationH, dilationW }, what);
  if (!Number.isInteger(padH) || !Number.isInteger(padW) || padH < 0 || padW < 0) {
    throw new Error(`${what}: padding must be non-negative integers, got ${padH}, ${padW}`);
  }
  const outH = outputLength(inH, kernelH, strideH, padH, dilationH);
  const outW = outputLength(inW, kernelW, strideW, padW, dilationW);
  if (outH < 1 || outW < 1) {
    throw new Error(`${what}: input ${shapeToString(inputShape)} is too small for a ${kernelH}x${kernelW} kernel (dilation ${dilationH}, padding ${padH}): output would be ${outH}x${outW}`);
  }
  return { batch, inChannels, inH, inW, outChannels, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

export interface Pool2dGeometry {
  batch: number;
  channels: number;
  inH: number;
  inW: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  outH: number;
  outW: number;
}

/** Geometry of a max pooling of an input (N, C, H, W). */
export function pool2dGeometry(inputShape: Shape, options: Pool2dOptions, what = 'maxpool2d'): Pool2dGeometry {
  if (inputShape.length !== 4) throw new Error(`${what}: input must be (N, C, H, W), got ${shapeToString(inputShape)}`);
  const [batch, channels, inH, inW] = inputShape;
  const [kernelH, kernelW] = pair(options.kernelSize);
  const [strideH, strideW] = pair(options.stride ?? options.kernelSize);
  const [padH, padW] = pair(options.padding ?? 0);
  checkPositiveInts({ kernelH, kernelW, strideH, strideW }, what);
  // As in PyTorch: padding beyond half the window would allow windows made only of padding.
  if (padH < 0 || padW < 0 || padH > kernelH / 2 || padW > kernelW / 2) {
    throw new Error(`${what}: padding (${padH}, ${padW}) must be between 0 and half the kernel (${kernelH}x${kernelW})`);
  }
  const ceil = options.ceilMode ?? false;
  const outH = outputLength(inH, kernelH, strideH, padH, 1, ceil);
  const outW = outputLength(inW, kernelW, strideW, padW, 1, ceil);
  if (outH < 1 || outW < 1) {
    throw new Error(`${what}: input ${shapeToString(inputShape)} is too small for a ${kernelH}x${kernelW} window: output would be ${outH}x${outW}`);
  }
  return { batch, channels, inH, inW, kernelH, kernelW, strideH, strideW, padH, padW, outH, outW };
}
