// draw/precision_recall.ts (and train/precision_recall.ts's PNG): each class's curve where its
// points are, its name and AP in the legend, bad curves refused by name.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PrecisionRecallCurve, precisionRecallChart, precisionRecallColor, precisionRecallLegend, renderPrecisionRecall } from '../../draw/precision_recall';
import { chartPoint, plotFrame } from '../../draw/charts';
import { pixelAt } from '../../draw/canvas';
import { decodeImage } from '../../data/image_files';
import { writePrecisionRecallPng } from '../../train/precision_recall';
import { findText } from './find_text';

describe('draw/precision_recall', () => {
  // cat: precision 1 up to recall 0.5, where it drops to 0.5 (a vertical step), then stays at 0.5.
  const cat: PrecisionRecallCurve = { name: 'cat', recall: [0.25, 0.5, 0.5, 0.75, 1], precision: [1, 1, 0.5, 0.5, 0.5], ap: 0.75 };
  // dog: flat at precision 0.3 from recall 0.2 to 0.6.
  const dog: PrecisionRecallCurve = { name: 'dog', recall: [0.2, 0.6], precision: [0.3, 0.3], ap: 0.18 };
  const img = renderPrecisionRecall([cat, dog], 'precision and recall');
  const frame = plotFrame(0);
  const chart = { maxX: 1, maxY: 1 };
  const catColor = precisionRecallColor(0);
  const dogColor = precisionRecallColor(1);

  it('draws each curve in its colour where its points are: cat\'s step at recall 0.5, dog\'s flat run', () => {
    expect(catColor).to.not.deep.equal(dogColor);
    // the whole drop of cat at recall 0.5, from precision 1 down to 0.5
    const [x, yHigh] = chartPoint(frame, chart, 0.5, 1);
    const [, yLow] = chartPoint(frame, chart, 0.5, 0.5);
    for (let y = yHigh; y <= yLow; y++) expect(pixelAt(img, x, y), `cat at (${x}, ${y})`).to.deep.equal([...catColor]);
    // left of the step cat is at precision 1, right of it at 0.5
    expect(pixelAt(img, ...chartPoint(frame, chart, 0.4, 1))).to.deep.equal([...catColor]);
    expect(pixelAt(img, ...chartPoint(frame, chart, 0.6, 0.75))).to.not.deep.equal([...catColor]);
    expect(pixelAt(img, ...chartPoint(frame, chart, 0.9, 0.5))).to.deep.equal([...catColor]);
    // dog
    expect(pixelAt(img, ...chartPoint(frame, chart, 0.4, 0.3))).to.deep.equal([...dogColor]);
    expect(pixelAt(img, ...chartPoint(frame, chart, 0.8, 0.3))).to.not.deep.equal([...dogColor]);
  });

  it('the legend names each class with its AP, in its colour, above the x axis', () => {
    expect(precisionRecallLegend(cat)).to.equal('cat (AP 0.750)');
    const catAt = findText(img, precisionRecallLegend(cat), catColor);
    const dogAt = findText(img, precisionRecallLegend(dog), dogColor);
    expect(catAt).to.have.length(1);
    expect(dogAt).to.have.length(1);
    expect(catAt[0][1]).to.equal(frame.bottom - 14);
    expect(dogAt[0][0]).to.be.greaterThan(catAt[0][0]);
    expect(precisionRecallChart([cat]).xLabel).to.equal('recall');
  });

  it('refuses a bad curve, naming its class', () => {
    expect(() => renderPrecisionRecall([cat, { ...dog, precision: [0.3] }], 'h')).to.throw(/class 'dog' has 2 recall values but 1 precision values/);
    expect(() => renderPrecisionRecall([{ ...cat, recall: [0.25, 1.5, 0.5, 0.75, 1] }], 'h')).to.throw(/class 'cat': recall\[1\] is 1.5, not in \[0, 1\]/);
    expect(() => renderPrecisionRecall([{ ...dog, precision: [NaN, 0.3] }], 'h')).to.throw(/class 'dog': precision\[0\] is NaN/);
    expect(() => renderPrecisionRecall([{ ...dog, precision: [0.3, -0.1] }], 'h')).to.throw(/class 'dog': precision\[1\] is -0.1/);
    expect(() => renderPrecisionRecall([{ ...cat, ap: NaN }], 'h')).to.throw(/class 'cat': AP NaN/);
  });

  it('writePrecisionRecallPng writes the same picture as a PNG', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pr-'));
    try {
      const file = path.join(dir, 'pr.png');
      writePrecisionRecallPng(file, [cat, dog], 'precision and recall');
      const back = decodeImage(fs.readFileSync(file), file);
      expect([back.width, back.height]).to.deep.equal([img.width, img.height]);
      expect(Buffer.from(back.data).equals(Buffer.from(img.data))).to.equal(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
