// The page's one way to put a picture on a canvas: the project draws on RgbImage (RGB bytes,
// data/image.ts), a canvas holds RGBA.

import { RgbImage } from '../data/image';

/** Show an RgbImage on a canvas, at its own size. */
export function showImage(target: HTMLCanvasElement, img: RgbImage): void {
  target.width = img.width;
  target.height = img.height;
  const ctx = target.getContext('2d') as CanvasRenderingContext2D;
  const out = ctx.createImageData(img.width, img.height);
  for (let i = 0; i < img.width * img.height; i++) {
    out.data[4 * i] = img.data[3 * i];
    out.data[4 * i + 1] = img.data[3 * i + 1];
    out.data[4 * i + 2] = img.data[3 * i + 2];
    out.data[4 * i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
}
