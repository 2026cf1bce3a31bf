// Bilinear resizing of RGB images: how any picture becomes SSD300's 300x300 input.

import { RgbImage, checkImage, checkImageSize } from './image';

/**
 * Bilinear resize to outWidth x outHeight.
 *
 * Pixel-centre convention "align_corners=False" (PyTorch's F.interpolate default, OpenCV's
 * INTER_LINEAR): output pixel x has its centre at x + 0.5 in output pixels, which is
 * (x + 0.5) * inWidth / outWidth in input pixels, so it samples the input at
 * srcX = (x + 0.5) * inWidth / outWidth - 0.5, clamped to [0, inWidth - 1] at the borders, and
 * mixes the two neighbouring input pixels floor(srcX) and floor(srcX) + 1. The same in y.
 * Results are rounded to the nearest byte. Boxes in fractions need no change: the image plane
 * is only rescaled.
 *
 * Not bit-exact with PIL's `Image.resize(BILINEAR)`, which the PyTorch tutorial uses: when
 * shrinking, PIL widens its triangle filter to cover every input pixel (antialiasing), while
 * this samples only the 2x2 nearest input pixels. Enlarging agrees up to rounding.
 */
export function resizeBilinear(img: RgbImage, outWidth: number, outHeight: number): RgbImage {
  checkImage(img, 'resizeBilinear: input');
  checkImageSize(outWidth, outHeight, 'resizeBilinear: output');
  const xs = sampleGrid(img.width, outWidth);
  const ys = sampleGrid(img.height, outHeight);
  const out = new Uint8Array(outWidth * outHeight * 3);
  const src = img.data;
  for (let y = 0; y < outHeight; y++) {
    const rowTop = ys.lo[y] * img.width;
    const rowBottom = ys.hi[y] * img.width;
    const wy = ys.weight[y];
    for (let x = 0; x < outWidth; x++) {
      const wx = xs.weight[x];
      const topLeft = (rowTop + xs.lo[x]) * 3;
      const topRight = (rowTop + xs.hi[x]) * 3;
      const bottomLeft = (rowBottom + xs.lo[x]) * 3;
      const bottomRight = (rowBottom + xs.hi[x]) * 3;
      for (let c = 0; c < 3; c++) {
        const top = src[topLeft + c] * (1 - wx) + src[topRight + c] * wx;
        const bottom = src[bottomLeft + c] * (1 - wx) + src[bottomRight + c] * wx;
        out[(y * outWidth + x) * 3 + c] = Math.round(top * (1 - wy) + bottom * wy);
      }
    }
  }
  return { width: outWidth, height: outHeight, data: out };
}

/** For each output index along one axis: the two input indices to mix and the weight of `hi`. */
export function sampleGrid(inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array; weight: Float64Array } {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const weight = new Float64Array(outSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), inSize - 1); // align_corners=False
    lo[i] = Math.floor(src);
    hi[i] = Math.min(lo[i] + 1, inSize - 1);
    weight[i] = src - lo[i];
  }
  return { lo, hi, weight };
}
