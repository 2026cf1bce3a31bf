// The network's input: RGB bytes become the normalized (N, 3, H, W) float32 tensor SSD300 takes
// (the numerics contract (docs/numerics.md)).

import { Tensor } from '../tensor/tensor';
import { SSD_INPUT_SIZE } from '../ssd/priors';
import { Rgb, RgbImage, checkImage } from './image';
import { resizeBilinear } from './resize';

/** The side of SSD300's square input (defined with the priors). */
export { SSD_INPUT_SIZE };

/** ImageNet statistics of RGB in [0, 1], which the VGG-16 base was trained with (the numerics contract (docs/numerics.md)). */
export const IMAGENET_MEAN: Rgb = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Rgb = [0.229, 0.224, 0.225];

/**
 * A batch of same-sized images as the network's input (N, 3, H, W), float32: each byte v becomes
 * (v / 255 - mean[c]) / std[c] with the ImageNet mean and std of its channel c (the numerics contract (docs/numerics.md)).
 */
export function imageToTensor(images: readonly RgbImage[]): Tensor {
  if (images.length === 0) throw new Error('imageToTensor: no images given');
  images.forEach((img, n) => checkImage(img, `imageToTensor: image ${n}`));
  const { width: W, height: H } = images[0];
  images.forEach((img, n) => {
    if (img.width !== W || img.height !== H) {
      throw new Error(`imageToTensor: image ${n} is ${img.width}x${img.height}, image 0 is ${W}x${H}; a batch needs one size`);
    }
  });
  const N = images.length;
  const out = new Tensor([N, 3, H, W]); // (N, 3, H, W)
  for (let n = 0; n < N; n++) normalizeInto(images[n], out.data, n * 3 * H * W);
  return out;
}

/**
 * One image's (3, H, W) normalized planes, written into `out` from `offset` on: the batch's
 * image at that place (imageToTensor, and the training's input pipeline, train/loader.ts).
 */
export function normalizeInto(image: RgbImage, out: Float32Array | Float64Array, offset: number): void {
  const { width: W, height: H, data: src } = image; // src: (H, W, 3) bytes
  for (let c = 0; c < 3; c++) {
    const mean = IMAGENET_MEAN[c];
    const std = IMAGENET_STD[c];
    const plane = offset + c * H * W; // start of channel c
    for (let p = 0; p < H * W; p++) out[plane + p] = (src[p * 3 + c] / 255 - mean) / std;
  }
}

/** One image as SSD300's input: resized to 300x300 (no aspect kept, as in the paper), (1, 3, 300, 300). */
export function prepareForSSD(img: RgbImage): Tensor {
  return imageToTensor([resizeBilinear(img, SSD_INPUT_SIZE, SSD_INPUT_SIZE)]); // (1, 3, 300, 300)
}
