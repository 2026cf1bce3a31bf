// A decompression bomb for the image tests: tiny on disk, huge once decoded.

import * as zlib from 'zlib';

/**
 * A real PNG of width x height pixels, 1-bit grey, all black: its rows of zeros compress about
 * 1000:1, so a 400-megapixel image fits in ~50 kB, and a decoder would expand it to RGBA in memory
 * (a decompression bomb).
 */
export function pngBomb(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // colour type: grey
  const rows = Buffer.alloc(height * (1 + Math.ceil(width / 8))); // a filter byte (0) and the bits of each row
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
