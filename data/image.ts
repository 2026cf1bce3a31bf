// Images in and out of the detector: decode PNG and JPEG files into plain RGB bytes, resize them,
// turn them into the normalized (N, 3, H, W) tensor SSD300 takes (the numerics contract (README, Numerics)), encode them
// back, and draw boxes on them for the detect command's output picture.
//
// An image here is the simplest thing that works: width, height and RGB bytes, row-major, three
// bytes per pixel (the byte of channel c of pixel (x, y) is at (y * width + x) * 3 + c). Pixel
// (x, y) covers the square [x, x+1) x [y, y+1) of the image plane, so its centre is at
// (x + 0.5, y + 0.5); a box in fractions (x1, y1, x2, y2) covers the pixel columns
// x1*width .. x2*width (boundary coordinates, as the numerics contract (README, Numerics) handles boxes).

import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import { Tensor } from '../tensor/tensor';
import { readFileNamed, writeFileAtomic } from '../tensor/files';
import { SSD_INPUT_SIZE } from '../ssd/ssd300';

export interface RgbImage {
  width: number;
  height: number;
  /** RGB, row-major, 3 bytes per pixel: length width * height * 3. */
  data: Uint8Array;
}

/** An RGB colour, each channel 0..255. */
export type Rgb = readonly [number, number, number];

/** ImageNet statistics of RGB in [0, 1], which the VGG-16 base was trained with (the numerics contract (README, Numerics)). */
export const IMAGENET_MEAN: Rgb = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Rgb = [0.229, 0.224, 0.225];

/** The side of SSD300's square input (defined with the model). */
export { SSD_INPUT_SIZE };

/** A black image of the given size (or filled with `fill`). */
export function makeImage(width: number, height: number, fill: Rgb = [0, 0, 0]): RgbImage {
  checkSize(width, height, 'makeImage');
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(fill, i * 3);
  return { width, height, data };
}

/** A deep copy (its own pixel bytes). */
export function cloneImage(img: RgbImage): RgbImage {
  return { width: img.width, height: img.height, data: img.data.slice() };
}

/** Throw unless `img` is a well-formed RgbImage; `what` names it in the message. */
export function checkImage(img: RgbImage, what: string): void {
  checkSize(img.width, img.height, what);
  const expected = img.width * img.height * 3;
  if (!(img.data instanceof Uint8Array) || img.data.length !== expected) {
    throw new Error(
      `${what}: a ${img.width}x${img.height} RGB image needs ${expected} bytes, got ${img.data?.length ?? 'none'}`,
    );
  }
}

function checkSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${what}: image size must be positive integers, got ${width}x${height}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding and encoding
// ---------------------------------------------------------------------------------------------

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SIGNATURE = [0xff, 0xd8, 0xff]; // SOI marker, then the first marker's 0xFF

function startsWith(bytes: Uint8Array, signature: number[]): boolean {
  if (bytes.length < signature.length) return false;
  return signature.every((b, i) => bytes[i] === b);
}

/** True if the bytes are a proper beginning of the signature: a file cut off inside its magic. */
function isPrefixOf(bytes: Uint8Array, signature: number[]): boolean {
  return bytes.length > 0 && bytes.length < signature.length && [...bytes].every((b, i) => signature[i] === b);
}

/** A name for formats we recognise but do not read, so the error can say what the file is. */
function otherFormatName(bytes: Uint8Array): string | null {
  const ascii = (from: number, to: number): string => String.fromCharCode(...bytes.subarray(from, to));
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'GIF';
  if (ascii(0, 2) === 'BM') return 'BMP';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'TIFF';
  return null;
}

/**
 * Decode PNG or JPEG bytes (told apart by their magic bytes, not the file name) into RGB.
 * An alpha channel is dropped: transparent pixels keep whatever colour they store. 16-bit PNGs
 * are scaled to 8 bits; grey and palette images become RGB. `source` (a file path, or any name)
 * is in every error message.
 */
export function decodeImage(bytes: Uint8Array, source: string): RgbImage {
  if (bytes.length === 0) throw new Error(`${source}: empty file, not an image`);
  if (startsWith(bytes, PNG_SIGNATURE)) return decodePng(bytes, source);
  if (startsWith(bytes, JPEG_SIGNATURE)) return decodeJpeg(bytes, source);
  if (isPrefixOf(bytes, PNG_SIGNATURE)) throw new Error(`${source}: truncated PNG file (${bytes.length} bytes)`);
  if (isPrefixOf(bytes, JPEG_SIGNATURE)) throw new Error(`${source}: truncated JPEG file (${bytes.length} bytes)`);
  const name = otherFormatName(bytes);
  const first = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `${source}: unsupported image format (${name ?? `unrecognised, first bytes ${first}`}); only PNG and JPEG can be read`,
  );
}

function decodePng(bytes: Uint8Array, source: string): RgbImage {
  let png: { width: number; height: number; data: Uint8Array };
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    // pngjs reports a cut-off file as "read requests waiting on finished stream": say what it means.
    throw new Error(`${source}: truncated or corrupt PNG file (${messageOf(err)})`);
  }
  const { width, height } = png;
  // pngjs always hands back RGBA, 8 bits per channel.
  if (!(width > 0 && height > 0) || png.data.length !== width * height * 4) {
    throw new Error(`${source}: corrupt PNG file (size ${width}x${height}, ${png.data.length} bytes of pixels)`);
  }
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[i * 3] = png.data[i * 4];
    data[i * 3 + 1] = png.data[i * 4 + 1];
    data[i * 3 + 2] = png.data[i * 4 + 2];
  }
  return { width, height, data };
}

function decodeJpeg(bytes: Uint8Array, source: string): RgbImage {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    // tolerantDecoding off: a scan cut short is an error, not an image with grey blocks.
    decoded = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
  } catch (err) {
    throw new Error(`${source}: truncated or corrupt JPEG file (${messageOf(err)})`);
  }
  const { width, height, data } = decoded;
  if (!(width > 0 && height > 0) || data.length !== width * height * 3) {
    throw new Error(`${source}: corrupt JPEG file (size ${width}x${height}, ${data.length} bytes of pixels)`);
  }
  return { width, height, data };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Read and decode a PNG or JPEG file. */
export function readImage(filePath: string): RgbImage {
  return decodeImage(readFileNamed(filePath, 'image'), filePath);
}

/** Lossless PNG bytes (8-bit RGB, no alpha). */
export function encodePng(img: RgbImage): Buffer {
  checkImage(img, 'encodePng');
  const png = new PNG({ width: img.width, height: img.height });
  // Hand pngjs the RGB bytes as they are: input and output colour type 2 (RGB) skips conversion.
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

/** Write a PNG file atomically (temporary file, then rename). */
export function writePng(filePath: string, img: RgbImage): void {
  writeFileAtomic(filePath, encodePng(img), 'PNG image', { createDirectory: true });
}

/** JPEG bytes at `quality` 1..100. Lossy: decoding gives back close, not equal, pixels. */
export function encodeJpeg(img: RgbImage, quality = 95): Buffer {
  checkImage(img, 'encodeJpeg');
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new Error(`encodeJpeg: quality must be an integer in 1..100, got ${quality}`);
  }
  // jpeg-js encodes from RGBA.
  const rgba = Buffer.alloc(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba[i * 4] = img.data[i * 3];
    rgba[i * 4 + 1] = img.data[i * 3 + 1];
    rgba[i * 4 + 2] = img.data[i * 3 + 2];
    rgba[i * 4 + 3] = 255;
  }
  return jpeg.encode({ width: img.width, height: img.height, data: rgba }, quality).data;
}

/** Write a JPEG file atomically (temporary file, then rename). */
export function writeJpeg(filePath: string, img: RgbImage, quality = 95): void {
  writeFileAtomic(filePath, encodeJpeg(img, quality), 'JPEG image', { createDirectory: true });
}

// ---------------------------------------------------------------------------------------------
// Resizing and the network's input tensor
// ---------------------------------------------------------------------------------------------

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
  checkSize(outWidth, outHeight, 'resizeBilinear: output');
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
function sampleGrid(inSize: number, outSize: number): { lo: Int32Array; hi: Int32Array; weight: Float64Array } {
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

/**
 * A batch of same-sized images as the network's input (N, 3, H, W), float32: each byte v becomes
 * (v / 255 - mean[c]) / std[c] with the ImageNet mean and std of its channel c (the numerics contract (README, Numerics)).
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
  for (let n = 0; n < N; n++) {
    const src = images[n].data; // (H, W, 3) bytes
    for (let c = 0; c < 3; c++) {
      const mean = IMAGENET_MEAN[c];
      const std = IMAGENET_STD[c];
      const plane = (n * 3 + c) * H * W; // start of channel c of image n
      for (let p = 0; p < H * W; p++) out.data[plane + p] = (src[p * 3 + c] / 255 - mean) / std;
    }
  }
  return out;
}

/** One image as SSD300's input: resized to 300x300 (no aspect kept, as in the paper), (1, 3, 300, 300). */
export function prepareForSSD(img: RgbImage): Tensor {
  return imageToTensor([resizeBilinear(img, SSD_INPUT_SIZE, SSD_INPUT_SIZE)]); // (1, 3, 300, 300)
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

/** Distinct colours for class labels 0, 1, 2, ... (repeating after the last). */
export const LABEL_COLORS: readonly Rgb[] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190],
  [0, 128, 128], [230, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0],
  [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128], [255, 255, 255],
];

/**
 * A copy of `img` with a 2-pixel rectangle outline for each box.
 *
 * boxesXy: boundary coordinates (x1, y1, x2, y2) in fractions of the image, one per box, as an
 * array of 4-number rows or a (K, 4) tensor. labels[k] picks box k's colour: colors[label] if
 * given, else LABEL_COLORS. The outline lies inside the box (on its border pixels), clipped to
 * the image. No text is drawn: print the labels and scores beside the picture.
 */
export function drawBoxes(
  img: RgbImage,
  boxesXy: Tensor | ReadonlyArray<ArrayLike<number>>,
  labels: readonly number[],
  colors: readonly Rgb[] = LABEL_COLORS,
): RgbImage {
  checkImage(img, 'drawBoxes');
  const rows = boxRows(boxesXy);
  if (labels.length !== rows.length) {
    throw new Error(`drawBoxes: ${rows.length} boxes but ${labels.length} labels`);
  }
  if (colors.length === 0) throw new Error('drawBoxes: colors is empty');
  const out = cloneImage(img);
  const { width: W, height: H } = img;
  const thickness = 2;
  rows.forEach((box, k) => {
    if (!box.every(Number.isFinite)) throw new Error(`drawBoxes: box ${k} has a non-finite coordinate [${box.join(', ')}]`);
    if (!Number.isInteger(labels[k]) || labels[k] < 0) throw new Error(`drawBoxes: label ${labels[k]} of box ${k} must be a non-negative integer`);
    const color = colors[labels[k] % colors.length];
    // Pixel columns left..right and rows top..bottom (inclusive) that the box covers.
    const left = clamp(Math.round(box[0] * W), 0, W - 1);
    const right = clamp(Math.round(box[2] * W) - 1, left, W - 1);
    const top = clamp(Math.round(box[1] * H), 0, H - 1);
    const bottom = clamp(Math.round(box[3] * H) - 1, top, H - 1);
    for (let y = top; y <= bottom; y++) {
      for (let x = left; x <= right; x++) {
        const onBorder = x < left + thickness || x > right - thickness || y < top + thickness || y > bottom - thickness;
        if (onBorder) out.data.set(color, (y * W + x) * 3);
      }
    }
  });
  return out;
}

function boxRows(boxesXy: Tensor | ReadonlyArray<ArrayLike<number>>): number[][] {
  if (boxesXy instanceof Tensor) {
    if (boxesXy.rank !== 2 || boxesXy.shape[1] !== 4) {
      throw new Error(`drawBoxes: boxes must have shape (K, 4), got (${boxesXy.shape.join(', ')})`);
    }
    const rows: number[][] = [];
    for (let k = 0; k < boxesXy.shape[0]; k++) rows.push(Array.from(boxesXy.data.subarray(k * 4, k * 4 + 4)));
    return rows;
  }
  return boxesXy.map((b, k) => {
    if (b.length !== 4) throw new Error(`drawBoxes: box ${k} has ${b.length} numbers, expected 4 (x1, y1, x2, y2)`);
    return Array.from(b);
  });
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
