// The explanatory pictures: each is rendered for a known case on the plain background, and the
// test checks pixels that must be there (and the numbers the picture states).

import { expect } from 'chai';
import { Panel, PLAIN_BACKGROUND, boxToPixels } from '../../explain/panels';
import { pixelAt } from '../../draw/canvas';
import { cellOfPrior, firstPriorOfCell, priorsOfCell, ratioColor, renderPriors } from '../../explain/priors';
import { objectColor, renderMatching } from '../../explain/matching';
import { renderMining } from '../../explain/mining';
import { classColor, renderDetection } from '../../explain/detection';
import { EXAMPLE_OBJECTS, SceneObject, exampleObjects, syntheticPredictions } from '../../explain/scene';
import { FEATURE_MAPS, createPriors } from '../../ssd/priors';
import { detectObjects } from '../../ssd/detect';
import { cxcyToXy } from '../../ssd/boxes';
import { Rgb, RgbImage } from '../../data/image';

const priorsCxcy = createPriors(); // (8732, 4)

function expectColor(img: RgbImage, x: number, y: number, color: Rgb, what: string): void {
  expect(pixelAt(img, x, y), `${what} at (${x}, ${y})`).to.deep.equal([...color]);
}

describe('explain/priors', () => {
  it('finds the priors of a cell in the order of createPriors (conv4_3 cell (10, 20) starts at row 1600)', () => {
    expect(firstPriorOfCell(0, 10, 20)).to.equal(1600);
    expect(cellOfPrior(1603)).to.deep.equal({ mapIndex: 0, i: 10, j: 20 });
    expect(firstPriorOfCell(5, 0, 0)).to.equal(8728); // conv11_2's 4 priors are the last
    const cell = priorsOfCell(priorsCxcy, 0, 10, 20);
    expect(cell.map((p) => p.ratio)).to.deep.equal([1, 'extra', 2, 0.5]);
    expect(cell[0].boxXy[2] - cell[0].boxXy[0]).to.be.closeTo(0.1, 1e-6);
  });

  it('conv11_2: its extra prior covers the whole image, drawn in the extra colour at all four corners', () => {
    const { image, panels, shown } = renderPriors(null, { map: 'conv11_2' });
    const extra = shown[0].priors.find((p) => p.ratio === 'extra');
    expect(extra?.boxXy).to.deep.equal([0, 0, 1, 1]);
    const panel = panels[0];
    const red = ratioColor('extra');
    const last = panel.size - 1;
    for (const [dx, dy] of [[0, 0], [last, 0], [0, last], [last, last], [1, 1], [last - 1, last - 1]]) {
      expectColor(image, panel.x + dx, panel.y + dy, red, 'extra prior corner');
    }
    // Inside the image, away from every outline: the plain background (under the shaded cell, since conv11_2 has one cell).
    const centre = pixelAt(image, panel.x + 100, panel.y + 150);
    expect(centre).to.not.deep.equal([...red]);
  });

  it('conv4_3 at one cell: 4 priors of side about 0.1 around that cell, the rest of the grid untouched', () => {
    const { image, panels, shown } = renderPriors(null, { map: 'conv4_3', cell: [10, 20] });
    expect(shown[0].priors.length).to.equal(4);
    const panel = panels[0];
    const ratio1 = shown[0].priors[0];
    const { left, top } = boxToPixels(panel, ratio1.boxXy);
    expectColor(image, left, top, ratioColor(1), 'the 1:1 prior\'s corner');
    // Far away from the cell, only the background and the grid lines: never a prior's colour.
    const far = pixelAt(image, panel.x + 20, panel.y + 280);
    for (const p of shown[0].priors) expect(far).to.not.deep.equal([...p.color]);
  });

  it('all six maps: six panels, each showing the cell under the point', () => {
    const { shown, panels } = renderPriors(null, { point: [0.9, 0.1] });
    expect(panels.length).to.equal(6);
    expect(shown.map((s) => s.map.name)).to.deep.equal(FEATURE_MAPS.map((m) => m.name));
    expect(shown.map((s) => s.cell)).to.deep.equal([[3, 34], [1, 17], [1, 9], [0, 4], [0, 2], [0, 0]]);
  });

  it('names a map that does not exist', () => {
    expect(() => renderPriors(null, { map: 'conv5_3' })).to.throw(/no feature map 'conv5_3'.*conv4_3/);
  });
});

describe('explain/matching', () => {
  const thin: SceneObject = { boxXy: [0.379, 0.31, 0.43, 0.669], label: 5 };

  it('a forced prior is drawn in its object\'s colour (a thin box whose best overlap is below 0.5)', () => {
    const picture = renderMatching(null, [thin]);
    const forced = picture.objects[0].forcedPrior;
    expect(forced).to.be.a('number');
    const p = forced as number;
    expect(picture.match.overlapForPrior[p]).to.equal(1);
    // The forced prior's own outline: its top-left pixel starts a dash, in the object's colour.
    const priorXy = cxcyToXy(priorsCxcy).data.subarray(4 * p, 4 * p + 4);
    const { left, top, right, bottom } = boxToPixels(picture.panel, priorXy);
    const gt = boxToPixels(picture.panel, thin.boxXy);
    expect([left, top, right, bottom]).to.not.deep.equal([gt.left, gt.top, gt.right, gt.bottom]);
    expectColor(picture.image, left + 1, bottom - 1, objectColor(0), 'forced prior, bottom-left corner');
    // The ground truth box itself, solid, in the same colour.
    expectColor(picture.image, gt.right - 1, Math.round((gt.top + gt.bottom) / 2), objectColor(0), 'ground truth, right side');
  });

  it('the example scene: every positive is counted once, per map, and drawn in its object\'s colour', () => {
    const picture = renderMatching(null, EXAMPLE_OBJECTS);
    const total = picture.objects.reduce((s, o) => s + o.positives.length, 0);
    expect(total).to.equal(picture.match.nPositives);
    picture.objects.forEach((o) => expect(o.positivesPerMap.reduce((a, b) => a + b, 0)).to.equal(o.positives.length));
    // The bottle is thin: its only positive is its forced prior.
    expect(picture.objects[2].positives).to.deep.equal([picture.objects[2].forcedPrior]);
    // Each object's colour appears on the picture.
    picture.objects.forEach((o, k) => {
      const gt = boxToPixels(picture.panel, EXAMPLE_OBJECTS[k].boxXy);
      expectColor(picture.image, gt.left, gt.top + 20, o.color, `object ${k}'s box`);
    });
  });

  it('no objects: no positives, and still a picture', () => {
    const picture = renderMatching(null, []);
    expect(picture.match.nPositives).to.equal(0);
    expect(picture.objects).to.deep.equal([]);
    expect(pixelAt(picture.image, picture.panel.x + 150, picture.panel.y + 150)).to.deep.equal([...PLAIN_BACKGROUND]);
  });

  it('two objects with one best prior: the earlier one is told it lost it', () => {
    const cx = 20.5 / 38;
    const cy = 10.5 / 38;
    const a: SceneObject = { boxXy: [cx - 0.05, cy - 0.05, cx + 0.05, cy + 0.05], label: 1 };
    const b: SceneObject = { boxXy: [cx - 0.045, cy - 0.045, cx + 0.045, cy + 0.045], label: 3 };
    const picture = renderMatching(null, [a, b]);
    expect(picture.objects.map((o) => o.forcedPrior)).to.deep.equal([null, 1600]);
  });
});

describe('explain/mining', () => {
  it('the hard negatives drawn are 3x the positives, the hardest by cross-entropy, each outlined', () => {
    const { scores } = syntheticPredictions(EXAMPLE_OBJECTS, priorsCxcy, 21);
    const picture = renderMining(null, EXAMPLE_OBJECTS, scores.reshape([8732, 21]));
    expect(picture.nPositives).to.be.greaterThan(0);
    expect(picture.hardNegatives.length).to.equal(3 * picture.nPositives);
    for (let k = 1; k < picture.hardNegatives.length; k++) expect(picture.hardNegatives[k].ce).to.be.at.most(picture.hardNegatives[k - 1].ce);
    const positives = new Set(picture.positives);
    for (const h of picture.hardNegatives) expect(positives.has(h.prior)).to.equal(false);
    // Every mined negative is drawn: its outline's corner is not the plain background any more.
    const priorsXy = cxcyToXy(priorsCxcy);
    const panel = picture.panels[0];
    for (const h of picture.hardNegatives) {
      const { left, top } = boxToPixels(panel, priorsXy.data.subarray(4 * h.prior, 4 * h.prior + 4));
      const x = Math.min(Math.max(left, panel.x), panel.x + panel.size - 1);
      const y = Math.min(Math.max(top, panel.y), panel.y + panel.size - 1);
      expect(pixelAt(picture.image, x, y), `negative ${h.prior}`).to.not.deep.equal([...PLAIN_BACKGROUND]);
    }
    // The ranking chart: as many red (kept) bars as mined negatives, left of the cut.
    const chart: Panel = picture.panels[1];
    const bottomRow = chart.y + chart.size - 1;
    const barWidth = chart.size / Math.max(4 * picture.hardNegatives.length, 20);
    const keptBar = pixelAt(picture.image, chart.x + Math.floor(barWidth / 2), bottomRow);
    const droppedBar = pixelAt(picture.image, chart.x + chart.size - 2, bottomRow);
    expect(keptBar[1]).to.be.below(keptBar[0]); // a heat colour (pink to red), not grey
    expect(droppedBar[0]).to.equal(droppedBar[1]); // grey
  });

  it('a label the scores do not have is an error, not a NaN', () => {
    const { scores } = syntheticPredictions([], priorsCxcy, 4);
    expect(() => renderMining(null, EXAMPLE_OBJECTS, scores.reshape([8732, 4]))).to.throw(/object 0 has label 12, but the scores have only 4 classes/);
    expect(exampleObjects(4).map((o) => o.label)).to.deep.equal([1, 2, 3]);
  });

  it('an image with no objects: nothing to mine', () => {
    const { scores } = syntheticPredictions([], priorsCxcy, 21);
    const picture = renderMining(null, [], scores.reshape([8732, 21]));
    expect(picture.nPositives).to.equal(0);
    expect(picture.hardNegatives.length).to.equal(0);
  });
});

describe('explain/detection', () => {
  const { locs, scores } = syntheticPredictions(EXAMPLE_OBJECTS, priorsCxcy, 21);
  const picture = renderDetection(null, locs.reshape([8732, 4]), scores.reshape([8732, 21]), { minScore: 0.3, topK: 200 });

  it('before NMS >= after NMS >= final, and the final panel is detectObjects\' own answer', () => {
    expect(picture.beforeNms.length).to.be.greaterThan(picture.afterNms.length);
    expect(picture.afterNms.length).to.be.at.least(picture.final.length);
    expect(picture.final).to.deep.equal(detectObjects(locs, scores, priorsCxcy, { minScore: 0.3, topK: 200 })[0]);
    // Made-up predictions of three objects: NMS leaves one box per object.
    expect(picture.final.map((d) => d.label).sort((a, b) => a - b)).to.deep.equal([5, 12, 15]);
  });

  it('a box that NMS suppresses is drawn before NMS and not after it', () => {
    const kept = new Set(picture.afterNms.map((c) => c.prior));
    const [before, after] = picture.panels;
    // A suppressed box whose left side no kept box shares.
    const keptLefts = new Set(picture.afterNms.map((c) => boxToPixels(after, c.boxXy).left - after.x));
    const suppressed = picture.beforeNms.find((c) => !kept.has(c.prior) && !keptLefts.has(boxToPixels(before, c.boxXy).left - before.x) && c.boxXy[0] > 0.02);
    expect(suppressed).to.not.equal(undefined);
    const c = suppressed as (typeof picture.beforeNms)[number];
    const b = boxToPixels(before, c.boxXy);
    const a = boxToPixels(after, c.boxXy);
    const y = Math.round((b.top + b.bottom) / 2) - before.y;
    expect(pixelAt(picture.image, b.left, before.y + y)).to.not.deep.equal([...PLAIN_BACKGROUND]);
    expect(pixelAt(picture.image, a.left, after.y + y)).to.deep.equal([...PLAIN_BACKGROUND]);
  });

  it('the final boxes are drawn in their class colours', () => {
    const final = picture.panels[2];
    for (const d of picture.final) {
      const { left, bottom } = boxToPixels(final, d.box);
      expectColor(picture.image, left, bottom - 1, classColor(d.label), `detection ${d.label}`);
    }
  });
});
