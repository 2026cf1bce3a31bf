// PNG and JPEG files in and out: decode them into plain RGB bytes (data/image.ts), and encode
// them back, for the detect command's pictures and the synthetic data set.

import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import * as fs from 'fs';
import { readFileNamed, writeFileAtomic } from '../tensor/files';
import { RgbImage, checkImage } from './image';

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
 * The most pixels an image may have: 64 megapixels (8000 x 8000, more than a 50-megapixel phone
 * photo). Decoding needs about 7 bytes a pixel at once (the decoder's RGBA or planes, and the RGB
 * copy), so this bounds one image at about 450 MB. A small file can hold a huge image (a 1.2 MB PNG
 * of 20000 x 20000 pixels decodes to 5 GB), so the size is read from the file's header first.
 */
export const DEFAULT_MAX_PIXELS = 64_000_000;

export interface DecodeOptions {
  /** Refuse images with more pixels than this, before decoding them. Default DEFAULT_MAX_PIXELS. */
  maxPixels?: number;
}

/**
 * Decode PNG or JPEG bytes (told apart by their magic bytes, not the file name) into RGB.
 * An alpha channel is dropped: transparent pixels keep whatever colour they store. 16-bit PNGs
 * are scaled to 8 bits; grey and palette images become RGB. `source` (a file path, or any name)
 * is in every error message. An image whose header says it has more than `maxPixels` pixels is
 * refused before a byte of it is decoded.
 */
export function decodeImage(bytes: Uint8Array, source: string, options: DecodeOptions = {}): RgbImage {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels > 0)) throw new Error(`decodeImage: maxPixels must be positive, got ${maxPixels}`);
  const { format, size } = readHeader(bytes, source);
  if (size !== null && size.width * size.height > maxPixels) {
    const pixels = (n: number): string => `${n.toLocaleString('en-US')} pixels`;
    throw new Error(
      `${source}: the image is ${size.width}x${size.height} (${pixels(size.width * size.height)}), ` +
        `above the limit of ${pixels(maxPixels)}; not decoded (raise the limit with maxPixels, --max-pixels in the CLI)`,
    );
  }
  return format === 'png' ? decodePng(bytes, source) : decodeJpeg(bytes, source, maxPixels);
}

/**
 * The format of an image file's bytes and the size its header gives (null when the header is not
 * in `bytes`: a JPEG's frame header may follow a large EXIF block). Anything but PNG or JPEG is
 * an error naming `source` and, where known, the format.
 */
function readHeader(bytes: Uint8Array, source: string): { format: 'png' | 'jpeg'; size: { width: number; height: number } | null } {
  if (bytes.length === 0) throw new Error(`${source}: empty file, not an image`);
  if (startsWith(bytes, PNG_SIGNATURE)) return { format: 'png', size: pngHeaderSize(bytes) };
  if (startsWith(bytes, JPEG_SIGNATURE)) return { format: 'jpeg', size: jpegHeaderSize(bytes) };
  if (isPrefixOf(bytes, PNG_SIGNATURE)) throw new Error(`${source}: truncated PNG file (${bytes.length} bytes)`);
  if (isPrefixOf(bytes, JPEG_SIGNATURE)) throw new Error(`${source}: truncated JPEG file (${bytes.length} bytes)`);
  const name = otherFormatName(bytes);
  const first = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(
    `${source}: unsupported image format (${name ?? `unrecognised, first bytes ${first}`}); only PNG and JPEG can be read`,
  );
}

/**
 * An image file's width and height, from its header alone (the first 256 kB, or the whole file
 * when a JPEG's frame header lies further in): how a data set is checked when it is read, long
 * before training decodes each image. Errors as decodeImage's, naming the file.
 */
export function readImageSize(filePath: string): { width: number; height: number } {
  const PREFIX = 256 * 1024;
  let prefix: Buffer;
  let fileSize: number;
  try {
    const fd = fs.openSync(filePath, 'r');
    try {
      fileSize = fs.fstatSync(fd).size;
      prefix = Buffer.alloc(Math.min(PREFIX, fileSize));
      fs.readSync(fd, prefix, 0, prefix.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${filePath}: cannot read image: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  let { size } = readHeader(prefix, filePath);
  if (size === null && fileSize > prefix.length) size = readHeader(readFileNamed(filePath, 'image'), filePath).size;
  if (size === null || !(size.width > 0 && size.height > 0)) throw new Error(`${filePath}: no image size in its header (truncated or corrupt file)`);
  return size;
}

/** Width and height from a PNG's IHDR chunk, which must come first; null if the file is too short. */
function pngHeaderSize(bytes: Uint8Array): { width: number; height: number } | null {
  // signature (8 bytes), chunk length (4), "IHDR" (4), width (4, big-endian), height (4)
  if (bytes.length < 24) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Width and height from a JPEG's start-of-frame segment, found by walking the segments after the
 * SOI marker (each is 0xFF, a marker byte, and a 2-byte big-endian length that counts itself).
 * Null when no frame header comes before the image data (a corrupt file: the decoder says so).
 */
function jpegHeaderSize(bytes: Uint8Array): { width: number; height: number } | null {
  let pos = 2; // after SOI (FF D8)
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) return null;
    const marker = bytes[pos + 1];
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2; // markers without a length
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return null; // image data or end of image: no frame header seen
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    // SOF0..SOF15 hold the frame size; C4 (Huffman tables), C8 (reserved) and CC (arithmetic coding) do not.
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (pos + 9 > bytes.length) return null;
      const height = (bytes[pos + 5] << 8) | bytes[pos + 6];
      const width = (bytes[pos + 7] << 8) | bytes[pos + 8];
      return { width, height };
    }
    pos += 2 + length;
  }
  return null;
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

function decodeJpeg(bytes: Uint8Array, source: string, maxPixels: number): RgbImage {
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    // tolerantDecoding off: a scan cut short is an error, not an image with grey blocks. jpeg-js
    // has limits of its own (100 megapixels, 512 MB): set them from ours, which was checked above
    // with a message that says what the limit is.
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: Math.ceil(maxPixels / 1e6),
      maxMemoryUsageInMB: Math.max(512, Math.ceil((maxPixels * 8) / 2 ** 20)),
    });
  } catch (err) {
    const message = messageOf(err);
    if (/maxResolutionInMP|maxMemoryUsageInMB/.test(message)) {
      // a frame header our walk did not find (or a height of 0 in it): jpeg-js's own check caught it
      throw new Error(`${source}: the JPEG image is above the limit of ${maxPixels.toLocaleString('en-US')} pixels; not decoded (${message})`);
    }
    throw new Error(`${source}: truncated or corrupt JPEG file (${message})`);
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

/** Read and decode a PNG or JPEG file (see decodeImage for the options). */
export function readImage(filePath: string, options: DecodeOptions = {}): RgbImage {
  return decodeImage(readFileNamed(filePath, 'image'), filePath, options);
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
