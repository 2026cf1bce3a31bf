// Detections drawn the way a person would show them: a box in one colour per class, each
// labelled with its class name and score in legible text on a filled tag.

import { RgbImage, cloneImage } from '../data/image';
import { drawBoxes, LABEL_COLORS } from '../data/draw_boxes';
import { Detection } from '../ssd/detect';
import { drawLabel } from '../explain/draw';
import { textSize } from '../explain/font';

/**
 * A copy of the image with the boxes of the detections scoring at least minScore, clipped to the
 * image (decoded boxes may reach past it), each tagged "name 0.93" above its top-left corner
 * (inside the box when there is no room above).
 */
export function drawDetections(image: RgbImage, detections: readonly Detection[], classes: readonly string[], minScore = 0.5): RgbImage {
  const shown = detections.filter((d) => d.score >= minScore);
  const clip = (c: number): number => Math.min(Math.max(c, 0), 1);
  const out = shown.length === 0 ? cloneImage(image) : drawBoxes(image, shown.map((d) => d.box.map(clip)), shown.map((d) => d.label));
  for (const d of shown) {
    const text = `${classes[d.label] ?? `class ${d.label}`} ${d.score.toFixed(2)}`;
    const { height } = textSize(text);
    const x = Math.round(clip(d.box[0]) * (image.width - 1));
    const top = Math.round(clip(d.box[1]) * (image.height - 1));
    const y = top - height - 4 >= 0 ? top - height - 4 : top + 2;
    drawLabel(out, x, y, text, LABEL_COLORS[d.label % LABEL_COLORS.length]);
  }
  return out;
}
