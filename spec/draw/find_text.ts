// For the spec/draw tests: where a line of text lies in a picture.

import { blankCanvas, drawText, pixelAt } from '../../draw/canvas';
import type { Rgb, RgbImage } from '../../data/image';
import { textSize } from '../../draw/font';

/** Top-left corners where `text` drawn in `color` lies in `img` (every ink pixel of the font in that colour). */
export function findText(img: RgbImage, text: string, color: Rgb): [number, number][] {
  const { width, height } = textSize(text);
  const stamp = blankCanvas(width, height, [255, 255, 255]);
  drawText(stamp, 0, 0, text, [0, 0, 0]);
  const ink: [number, number][] = [];
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (pixelAt(stamp, x, y)[0] === 0) ink.push([x, y]);
  const found: [number, number][] = [];
  for (let y = 0; y + height <= img.height; y++) {
    for (let x = 0; x + width <= img.width; x++) {
      if (ink.every(([dx, dy]) => {
        const k = 3 * ((y + dy) * img.width + x + dx);
        return img.data[k] === color[0] && img.data[k + 1] === color[1] && img.data[k + 2] === color[2];
      })) found.push([x, y]);
    }
  }
  return found;
}
