// Detections drawn the way a person would show them: a box in one colour per class, each
// labelled with its class name and score in legible text on a filled tag (draw/boxes.ts draws them).

import { RgbImage } from '../data/image';
import { drawTaggedBoxes } from '../draw/boxes';
import { Detection } from '../ssd/detect';

/**
 * A copy of the image with the boxes of the detections scoring at least minScore, clipped to the
 * image (decoded boxes may reach past it), each tagged "name 0.93" above its top-left corner
 * (inside the box when there is no room above).
 */
export function drawDetections(image: RgbImage, detections: readonly Detection[], classes: readonly string[], minScore = 0.5): RgbImage {
  const shown = detections.filter((d) => d.score >= minScore);
  return drawTaggedBoxes(
    image,
    shown.map((d) => ({ boxXy: d.box, label: d.label, text: `${classes[d.label] ?? `class ${d.label}`} ${d.score.toFixed(2)}` })),
  );
}
