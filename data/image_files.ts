// PNG and JPEG files in and out: decode them into plain RGB bytes (data/image.ts), and encode
// them back, for the detect command's pictures and the synthetic data set.

import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import * as zlib from 'zlib';
import { readFileNamed, readFilePrefix, writeFileAtomic } from '../io/files';
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
 * The largest image file read, for a pixel limit: 8 bytes a pixel (a 16-bit RGBA PNG stored
 * without compression, the largest any PNG or JPEG of that many pixels needs) and 16 MiB for
 * metadata (EXIF, ICC profiles, thumbnails). Checked before the file is read: an "image" that is
 * a link to /dev/zero or a 4 GB file is refused at once.
 */
export function maxImageFileBytes(maxPixels: number = DEFAULT_MAX_PIXELS): number {
  return maxPixels * 8 + 16 * 2 ** 20;
}

/** EXIF orientations 2-8: how a viewer that applies them would turn the stored pixels. */
const ORIENTATIONS: Record<number, string> = {
  2: 'mirrored', 3: 'rotated 180 degrees', 4: 'flipped upside down', 5: 'mirrored and rotated 90 degrees',
  6: 'rotated 90 degrees clockwise', 7: 'mirrored and rotated 90 degrees clockwise', 8: 'rotated 90 degrees counter-clockwise',
};

let orientationReported = false;

/**
 * An EXIF orientation other than 1 is not applied, as PIL (Image.open) and torchvision
 * (read_image, by default) do not apply it: pixels, sizes and boxes are those stored in the file,
 * which is what VOC annotations measure. A viewer that turns the photo shows something else, so
 * the first such image of a run is named in a warning (once: a phone's photos all carry one).
 */
function reportOrientation(source: string, orientation: number | null): void {
  if (orientation === null || orientation === 1 || orientationReported || ORIENTATIONS[orientation] === undefined) return;
  orientationReported = true;
  console.warn(
    `warning: ${source}: its EXIF orientation ${orientation} (${ORIENTATIONS[orientation]}) is not applied: images are used as their ` +
      'pixels are stored, as PIL and torchvision do by default, and boxes must refer to those pixels (said once, for the first such image)',
  );
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
  const { format, size, orientation } = readHeader(bytes, source);
  if (size !== null) checkPixels(size, maxPixels, source);
  reportOrientation(source, orientation);
  return format === 'png' ? decodePng(bytes, source) : decodeJpeg(bytes, source, maxPixels);
}

function checkPixels(size: { width: number; height: number }, maxPixels: number, source: string): void {
  if (size.width * size.height <= maxPixels) return;
  const pixels = (n: number): string => `${n.toLocaleString('en-US')} pixels`;
  throw new Error(
    `${source}: the image is ${size.width}x${size.height} (${pixels(size.width * size.height)}), ` +
      `above the limit of ${pixels(maxPixels)}; not decoded (raise the limit with maxPixels, --max-pixels in the CLI)`,
  );
}

interface ImageHeader {
  format: 'png' | 'jpeg';
  /** Null when the header is not in the bytes given (a JPEG's frame header may follow a large EXIF block). */
  size: { width: number; height: number } | null;
  /** The EXIF orientation (1-8) where the bytes hold one, else null. */
  orientation: number | null;
}

/**
 * The format of an image file's bytes, the size its header gives and its EXIF orientation.
 * Anything but PNG or JPEG is an error naming `source` and, where known, the format; never the
 * file's bytes, which could be anything the path leads to (a link to a text file).
 */
function readHeader(bytes: Uint8Array, source: string): ImageHeader {
  if (bytes.length === 0) throw new Error(`${source}: empty file, not an image`);
  if (startsWith(bytes, PNG_SIGNATURE)) return { format: 'png', size: pngHeaderSize(bytes), orientation: pngOrientation(bytes) };
  if (startsWith(bytes, JPEG_SIGNATURE)) {
    const layout = jpegLayout(bytes);
    return { format: 'jpeg', size: layout.frames.length > 0 ? { width: layout.frames[0].width, height: layout.frames[0].height } : null, orientation: layout.orientation };
  }
  if (isPrefixOf(bytes, PNG_SIGNATURE)) throw new Error(`${source}: truncated PNG file (${bytes.length} bytes)`);
  if (isPrefixOf(bytes, JPEG_SIGNATURE)) throw new Error(`${source}: truncated JPEG file (${bytes.length} bytes)`);
  const name = otherFormatName(bytes);
  throw new Error(`${source}: unsupported image format (${name ?? 'not an image format this reader knows'}); only PNG and JPEG can be read`);
}

/**
 * An image file's width and height, from its header alone (the first 256 kB, or the whole file
 * when a JPEG's frame header lies further in): how a data set is checked when it is read, long
 * before training decodes each image. Errors as decodeImage's, naming the file.
 */
export function readImageSize(filePath: string, options: DecodeOptions = {}): { width: number; height: number } {
  const { width, height } = readImageHeader(filePath, options);
  return { width, height };
}

/**
 * readImageSize with the EXIF orientation (null when the file has none). Images with more than
 * `maxPixels` pixels are refused here already, and the first with an orientation that is not
 * applied is reported (see reportOrientation).
 */
export function readImageHeader(filePath: string, options: DecodeOptions = {}): { width: number; height: number; orientation: number | null } {
  const PREFIX = 256 * 1024;
  const maxBytes = maxImageFileBytes(options.maxPixels);
  const { prefix, size: fileSize } = readFilePrefix(filePath, 'image', maxBytes, PREFIX);
  let header = readHeader(prefix, filePath);
  if (header.size === null && fileSize > prefix.length) header = readHeader(readFileNamed(filePath, 'image', maxBytes), filePath);
  const { size, orientation } = header;
  if (size === null || !(size.width > 0 && size.height > 0)) throw new Error(`${filePath}: no image size in its header (truncated or corrupt file)`);
  checkPixels(size, options.maxPixels ?? DEFAULT_MAX_PIXELS, filePath);
  reportOrientation(filePath, orientation);
  return { ...size, orientation };
}

/** Width and height from a PNG's IHDR chunk, which must come first; null if the file is too short. */
function pngHeaderSize(bytes: Uint8Array): { width: number; height: number } | null {
  // signature (8 bytes), chunk length (4), "IHDR" (4), width (4, big-endian), height (4)
  if (bytes.length < 24) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** A JPEG's frame headers, the bytes of its scans' coded data, and its EXIF orientation. */
interface JpegLayout {
  frames: { marker: number; width: number; height: number; components: { h: number; v: number }[] }[];
  /** Bytes of entropy-coded data after all the start-of-scan headers seen. */
  codedBytes: number;
  orientation: number | null;
}

/**
 * Walk a JPEG's segments after the SOI marker (each is 0xFF, a marker byte, and a 2-byte
 * big-endian length that counts itself) and the coded data after each start of scan (up to the
 * next marker that is not a restart or a stuffed 0xFF00), to the end of the bytes given or the EOI.
 * A walk that meets something else stops there: the decoder then says what is wrong.
 */
function jpegLayout(bytes: Uint8Array): JpegLayout {
  const layout: JpegLayout = { frames: [], codedBytes: 0, orientation: null };
  let pos = 2; // after SOI (FF D8)
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] !== 0xff) break;
    const marker = bytes[pos + 1];
    if (marker === 0xff) {
      pos++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      pos += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9) break; // end of image
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (length < 2) break;
    const segment = bytes.subarray(pos + 4, Math.min(bytes.length, pos + 2 + length));
    // SOF0..SOF15 hold the frame size; C4 (Huffman tables), C8 (reserved) and CC (arithmetic coding) do not.
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame && segment.length >= 6) {
      const components: { h: number; v: number }[] = [];
      for (let i = 0; i < segment[5] && 6 + i * 3 + 2 < segment.length; i++) {
        const hv = segment[6 + i * 3 + 1];
        components.push({ h: hv >> 4, v: hv & 15 });
      }
      layout.frames.push({ marker, height: (segment[1] << 8) | segment[2], width: (segment[3] << 8) | segment[4], components });
    } else if (marker === 0xe1 && layout.orientation === null) {
      layout.orientation = exifOrientation(segment, 6); // "Exif\0\0", then a TIFF structure
    }
    pos += 2 + length;
    if (marker === 0xda) {
      // the coded data: up to the next marker (FF followed by neither 00, a stuffed byte, nor a restart D0-D7)
      const start = pos;
      while (pos + 1 < bytes.length && !(bytes[pos] === 0xff && bytes[pos + 1] !== 0x00 && !(bytes[pos + 1] >= 0xd0 && bytes[pos + 1] <= 0xd7))) pos++;
      layout.codedBytes += Math.min(pos, bytes.length) - start;
      if (pos + 1 >= bytes.length) break;
    }
  }
  return layout;
}

/** The orientation tag (0x0112) of the first IFD of an EXIF block at `at` in `segment` ("Exif\0\0" and a TIFF header), or null. */
function exifOrientation(segment: Uint8Array, at: number): number | null {
  const text = String.fromCharCode(...segment.subarray(0, 6));
  if (at === 6 && text !== 'Exif\0\0') return null;
  const tiff = segment.subarray(at);
  if (tiff.length < 8) return null;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49; // "II"; "MM" is big-endian
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return null;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return null;
  const count = view.getUint16(ifd, little);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return null;
    if (view.getUint16(entry, little) === 0x0112 && view.getUint16(entry + 2, little) === 3) return view.getUint16(entry + 8, little);
  }
  return null;
}

/** The EXIF orientation of a PNG (its eXIf chunk, a TIFF structure), or null. */
function pngOrientation(bytes: Uint8Array): number | null {
  for (const chunk of pngChunks(bytes)) {
    if (chunk.type === 'eXIf') return exifOrientation(chunk.data, 0);
    if (chunk.type === 'IDAT') return null; // eXIf comes before the image data
  }
  return null;
}

/** A PNG's chunks after the signature, as far as they are complete in `bytes`. */
function* pngChunks(bytes: Uint8Array): Generator<{ type: string; data: Uint8Array }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  while (pos + 12 <= bytes.length) {
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + length > bytes.length) return;
    yield { type, data: bytes.subarray(pos + 8, pos + 8 + length) };
    if (type === 'IEND') return;
    pos += 12 + length;
  }
}

/**
 * Check that a JPEG's coded data can hold the blocks its frame header declares, before the
 * decoder allocates them: jpeg-js allocates every 8x8 block of the declared size (about 300 bytes
 * each) before it reads a bit of the scans, so a 15 kB file declaring 8000x7999 pixels took 1 GB
 * before it failed. Each block of each component costs at least one bit of coded data (a Huffman
 * code of at least one bit for its DC coefficient, in baseline and progressive files alike), so a
 * file with fewer bits than blocks is cut short or corrupt. Frames of kinds jpeg-js cannot read
 * (lossless, hierarchical, arithmetic coding) and files of several frames are refused here too.
 */
function checkJpegData(bytes: Uint8Array, source: string): void {
  const layout = jpegLayout(bytes);
  if (layout.frames.length === 0) throw new Error(`${source}: truncated or corrupt JPEG file (no frame header before the image data)`);
  if (layout.frames.length > 1) throw new Error(`${source}: unsupported JPEG: ${layout.frames.length} frames (only single-frame JPEGs can be read)`);
  const frame = layout.frames[0];
  if (frame.marker > 0xc2) {
    throw new Error(`${source}: unsupported JPEG: frame type SOF${frame.marker - 0xc0} (lossless, hierarchical or arithmetic-coded); only baseline and progressive JPEGs can be read`);
  }
  const hMax = Math.max(1, ...frame.components.map((c) => c.h));
  const vMax = Math.max(1, ...frame.components.map((c) => c.v));
  let blocks = 0;
  for (const c of frame.components) {
    blocks += Math.ceil(Math.ceil((frame.width * c.h) / hMax) / 8) * Math.ceil(Math.ceil((frame.height * c.v) / vMax) / 8);
  }
  if (layout.codedBytes * 8 < blocks) {
    throw new Error(
      `${source}: truncated or corrupt JPEG file: its header declares ${frame.width}x${frame.height} pixels (${blocks.toLocaleString('en-US')} blocks of 8x8), ` +
        `but it holds only ${layout.codedBytes.toLocaleString('en-US')} bytes of image data, less than one bit a block; not decoded`,
    );
  }
}

/**
 * Check that a PNG's compressed data inflate to exactly the bytes its header declares, before
 * pngjs decodes it: pngjs fills what is missing with zeros and returns the image without a word (a
 * file cut short in a way zlib does not notice gave a black image of 8000x7999 pixels). Inflating
 * stops one byte past the declared size, so a stream that would give more is not expanded either.
 * The header's fields are checked by pngjs; a walk that finds no complete IHDR leaves it to pngjs.
 */
function checkPngData(bytes: Uint8Array, source: string): void {
  let header: { width: number; height: number; bitDepth: number; colorType: number; interlace: number } | null = null;
  const idat: Uint8Array[] = [];
  for (const chunk of pngChunks(bytes)) {
    if (chunk.type === 'IHDR' && chunk.data.length >= 13) {
      const d = chunk.data;
      const u32 = (i: number): number => ((d[i] << 24) >>> 0) + (d[i + 1] << 16) + (d[i + 2] << 8) + d[i + 3];
      header = { width: u32(0), height: u32(4), bitDepth: d[8], colorType: d[9], interlace: d[12] };
    } else if (chunk.type === 'IDAT') {
      idat.push(chunk.data);
    }
  }
  const channels = header === null ? undefined : ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[header.colorType];
  if (header === null || channels === undefined || idat.length === 0) return; // pngjs says what is wrong
  const bitsPerPixel = channels * header.bitDepth;
  const rowBytes = (w: number): number => 1 + Math.ceil((w * bitsPerPixel) / 8); // a filter byte, then the pixels
  let expected = 0;
  if (header.interlace === 1) {
    // Adam7: seven passes, each a smaller image of its own rows (none where it has no pixel)
    for (const [x0, y0, dx, dy] of [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]) {
      const w = Math.ceil((header.width - x0) / dx);
      const h = Math.ceil((header.height - y0) / dy);
      if (w > 0 && h > 0) expected += h * rowBytes(w);
    }
  } else {
    expected = header.height * rowBytes(header.width);
  }
  let inflated: number;
  try {
    inflated = zlib.inflateSync(Buffer.concat(idat), { maxOutputLength: expected + 1 }).length;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') inflated = expected + 1;
    else throw new Error(`${source}: truncated or corrupt PNG file (${messageOf(err)})`);
  }
  if (inflated !== expected) {
    throw new Error(
      `${source}: truncated or corrupt PNG file: its pixel data ${inflated > expected ? 'holds more than' : `hold ${inflated.toLocaleString('en-US')} bytes, not`} ` +
        `the ${expected.toLocaleString('en-US')} bytes of the ${header.width}x${header.height} image its header declares; not decoded`,
    );
  }
}

function decodePng(bytes: Uint8Array, source: string): RgbImage {
  checkPngData(bytes, source);
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
  checkJpegData(bytes, source);
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
    if (/maxResolutionInMP/.test(message)) {
      // a frame header our walk did not find (or a height of 0 in it): jpeg-js's own check caught it
      throw new Error(`${source}: the JPEG image is above the limit of ${maxPixels.toLocaleString('en-US')} pixels; not decoded (${message})`);
    }
    if (/maxMemoryUsageInMB/.test(message)) {
      // within the pixel limit, but jpeg-js keeps every 8x8 block of every component (4:4:4 JPEGs near the limit need more than 512 MB)
      throw new Error(`${source}: decoding this JPEG would need more memory than allowed for ${maxPixels.toLocaleString('en-US')} pixels; not decoded (${message}; a lower --max-pixels or a smaller image)`);
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
  return decodeImage(readFileNamed(filePath, 'image', maxImageFileBytes(options.maxPixels)), filePath, options);
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
