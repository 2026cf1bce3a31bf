// What an image is here: the simplest thing that works, width, height and RGB bytes, row-major,
// three bytes per pixel (the byte of channel c of pixel (x, y) is at (y * width + x) * 3 + c).
// Pixel (x, y) covers the square [x, x+1) x [y, y+1) of the image plane, so its centre is at
// (x + 0.5, y + 0.5); a box in fractions (x1, y1, x2, y2) covers the pixel columns
// x1*width .. x2*width (boundary coordinates, as the numerics contract (docs/numerics.md) handles boxes).
//
// The rest of what happens to images has a file each: image_files.ts (PNG and JPEG in and out),
// resize.ts (bilinear resizing), image_tensor.ts (the network's normalized input tensor) and
// ../draw/boxes.ts (outlines on a picture).

export interface RgbImage {
  width: number;
  height: number;
  /** RGB, row-major, 3 bytes per pixel: length width * height * 3. */
  data: Uint8Array;
}

/** An RGB colour, each channel 0..255. */
export type Rgb = readonly [number, number, number];

/** A black image of the given size (or filled with `fill`). */
export function makeImage(width: number, height: number, fill: Rgb = [0, 0, 0]): RgbImage {
  checkImageSize(width, height, 'makeImage');
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
  checkImageSize(img.width, img.height, what);
  const expected = img.width * img.height * 3;
  if (!(img.data instanceof Uint8Array) || img.data.length !== expected) {
    throw new Error(
      `${what}: a ${img.width}x${img.height} RGB image needs ${expected} bytes, got ${img.data?.length ?? 'none'}`,
    );
  }
}

export function checkImageSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${what}: image size must be positive integers, got ${width}x${height}`);
  }
}
