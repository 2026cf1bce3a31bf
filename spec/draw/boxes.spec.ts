// draw/boxes.ts: outlines in the label's colour, and the tags drawTaggedBoxes puts on them.

import { expect } from 'chai';
import { drawBoxes, drawTaggedBoxes } from '../../draw/boxes';
import { blankCanvas, pixelAt } from '../../draw/canvas';
import { WHITE, labelColor } from '../../draw/colors';
import { textSize } from '../../draw/font';

describe('draw/boxes', () => {
  const image = blankCanvas(100, 80, WHITE);

  it('drawTaggedBoxes: the outline of drawBoxes, with the tag above the box in the label colour', () => {
    const out = drawTaggedBoxes(image, [{ boxXy: [0.2, 0.5, 0.6, 0.9], label: 2, text: 'A' }]);
    const outline = drawBoxes(image, [[0.2, 0.5, 0.6, 0.9]], [2]);
    expect(pixelAt(out, 20, 60)).to.deep.equal(pixelAt(outline, 20, 60));
    expect(pixelAt(out, 20, 60)).to.deep.equal([...labelColor(2)]);
    const top = Math.round(0.5 * 79);
    const tagTop = top - textSize('A').height - 4;
    expect(pixelAt(out, Math.round(0.2 * 99), tagTop)).to.deep.equal([...labelColor(2)]); // the tag's corner
    expect(pixelAt(out, Math.round(0.2 * 99), tagTop - 1)).to.deep.equal([...WHITE]);
    expect(pixelAt(image, 20, 60)).to.deep.equal([...WHITE]); // the input is not drawn on
  });

  it('drawTaggedBoxes: a box past the image is clipped, its tag inside it at the top edge', () => {
    const out = drawTaggedBoxes(image, [{ boxXy: [-0.2, -0.1, 0.5, 0.5], label: 1, text: 'B' }]);
    expect(pixelAt(out, 0, 0)).to.deep.equal([...labelColor(1)]); // the outline's corner at the image's
    expect(pixelAt(out, 0, 2)).to.deep.equal([...labelColor(1)]); // the tag, 2 pixels down
    expect(drawTaggedBoxes(image, []).data).to.deep.equal(image.data);
  });
});
