// draw/font.ts, draw/canvas.ts and draw/colors.ts: the glyphs, text, lines, labels and the palettes.

import { expect } from 'chai';
import { glyph, textSize } from '../../draw/font';
import { blankCanvas, drawLabel, drawLine, drawText, fillRect, pixelAt } from '../../draw/canvas';
import { BLACK, LABEL_COLORS, WHITE, contrastingInk, labelColor } from '../../draw/colors';

describe('draw/font and canvas', () => {
  it('every glyph is 7 rows of 5; a missing character is drawn as ?', () => {
    for (const ch of ' ABCXYZ0123456789.,:;-+=/()[]<>%_\'"!?*#') {
      const rows = glyph(ch);
      expect(rows.length, ch).to.equal(7);
      for (const r of rows) expect(r.length, ch).to.equal(5);
    }
    expect(glyph('~')).to.deep.equal(glyph('?'));
    expect(glyph('a')).to.deep.equal(glyph('A'));
  });

  it('text is drawn in its colour where the glyph has ink, and nowhere else', () => {
    const img = blankCanvas(20, 10, [255, 255, 255]);
    drawText(img, 1, 1, 'I', [0, 0, 0]);
    // 'I' is .###. on its first row: columns 1..3 of the glyph.
    expect(pixelAt(img, 1 + 1, 1)).to.deep.equal([0, 0, 0]);
    expect(pixelAt(img, 1 + 0, 1)).to.deep.equal([255, 255, 255]);
    expect(pixelAt(img, 1 + 2, 1 + 3)).to.deep.equal([0, 0, 0]); // the stem
  });

  it('a rectangle is [x0, x1) x [y0, y1), clipped to the canvas', () => {
    const img = blankCanvas(6, 6, WHITE);
    fillRect(img, 4, 4, 9, 9, BLACK);
    expect(pixelAt(img, 4, 4)).to.deep.equal([...BLACK]);
    expect(pixelAt(img, 5, 5)).to.deep.equal([...BLACK]);
    expect(pixelAt(img, 3, 4)).to.deep.equal([...WHITE]);
  });

  it('a line covers both ends, 2 pixels thick', () => {
    const img = blankCanvas(20, 20, WHITE);
    drawLine(img, 2, 3, 12, 3, BLACK);
    for (const x of [2, 7, 12, 13]) for (const y of [3, 4]) expect(pixelAt(img, x, y), `(${x}, ${y})`).to.deep.equal([...BLACK]);
    expect(pixelAt(img, 14, 3)).to.deep.equal([...WHITE]);
    expect(pixelAt(img, 7, 5)).to.deep.equal([...WHITE]);
  });

  it('a label is its text on a background 2 pixels wider on each side, in contrasting ink', () => {
    const img = blankCanvas(40, 20, WHITE);
    const background = labelColor(0);
    drawLabel(img, 3, 4, 'I', background);
    const { width, height } = textSize('I');
    expect(pixelAt(img, 3, 4)).to.deep.equal([...background]);
    expect(pixelAt(img, 3 + width + 3, 4 + height + 3)).to.deep.equal([...background]);
    expect(pixelAt(img, 3 + width + 4, 4)).to.deep.equal([...WHITE]);
    expect(pixelAt(img, 3 + 2 + 1, 4 + 2)).to.deep.equal([...contrastingInk(background)]); // the I's top bar
  });

  it('class labels take LABEL_COLORS in turn', () => {
    expect(labelColor(1)).to.equal(LABEL_COLORS[1]);
    expect(labelColor(LABEL_COLORS.length + 2)).to.equal(LABEL_COLORS[2]);
    expect(contrastingInk(WHITE)).to.equal(BLACK);
    expect(contrastingInk(BLACK)).to.equal(WHITE);
  });
});
