// What the page's controls compute and redraw (web/controls.ts drives these from the DOM): priors of
// other feature maps, NMS step by step, the precision-recall curve of one image, and every picture
// changing when the value of its control does.

import { expect } from 'chai';
import { createHash } from 'crypto';
import { FEATURE_MAPS, FeatureMap, boxesPerPosition, checkFeatureMaps, createPriors, priorCount } from '../../ssd/priors';
import { nms } from '../../ssd/detect';
import { evaluateDetections, GroundTruth } from '../../ssd/evaluate';
import { Detection } from '../../ssd/detect';
import { Tensor } from '../../tensor/tensor';
import { Rng } from '../../tensor/random';
import { editFeatureMap, firstPriorOfCell, parseAspectRatios, priorCounts, priorsOfCell, renderPriors } from '../../explain/priors';
import { classCandidates, nmsSteps, renderNmsSteps } from '../../explain/nms_steps';
import { precisionRecallCurves, renderClassCurves } from '../../explain/pr_curve';
import { renderMatching } from '../../explain/matching';
import { renderMining } from '../../explain/mining';
import { renderDetection } from '../../explain/detection';
import { EXAMPLE_OBJECTS, syntheticPredictions } from '../../explain/scene';
import { RgbImage } from '../../data/image';

const priorsCxcy = createPriors(); // (8732, 4)
const sha = (t: Tensor): string => createHash('sha256').update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)).digest('hex');
const same = (a: RgbImage, b: RgbImage): boolean => a.width === b.width && a.height === b.height && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;

describe('createPriors of other feature maps', () => {
  it('the default is the priors as before (the bytes of the committed createPriors, float32 and float64)', () => {
    // sha256 of createPriors() and createPriors('float64') before the maps parameter was added.
    expect(sha(createPriors())).to.equal('91a080f95f8b4aea2118848a475798812b6f610db1f2aadca2e7696c77c2437a');
    expect(sha(createPriors('float64'))).to.equal('f5d90feb7d3897fa8cf51972c76f6e8341b5f917b20c9aa5b117cfc179d6481e');
    // A copy of the default maps (checked, not the same array) makes the same priors.
    expect(sha(createPriors('float32', FEATURE_MAPS.map((m) => ({ ...m }))))).to.equal(sha(priorsCxcy));
  });

  it('conv7 with ratios 1, 2: 3 priors per position, 19 x 19 x 3 = 1083, 7649 in all', () => {
    const maps = editFeatureMap(FEATURE_MAPS, 'conv7', { aspectRatios: [1, 2] });
    const counts = priorCounts(maps);
    expect(counts.maps.map((m) => m.perPosition)).to.deep.equal([4, 3, 6, 6, 4, 4]);
    expect(counts.maps[1].count).to.equal(1083);
    expect(counts.total).to.equal(8732 - 19 * 19 * 6 + 1083).and.to.equal(7649);
    expect(counts.fitsModel).to.equal(false);
    const priors = createPriors('float32', maps);
    expect(priors.shape).to.deep.equal([7649, 4]);
    // conv7 cell (0, 0) is right after conv4_3's 5776: 1, extra, 2; conv8_2 starts 1083 later.
    const cell = priorsOfCell(priors, 1, 0, 0, maps);
    expect(cell.map((p) => p.index)).to.deep.equal([5776, 5777, 5778]);
    expect(cell.map((p) => p.ratio)).to.deep.equal([1, 'extra', 2]);
    expect(firstPriorOfCell(2, 0, 0, maps)).to.equal(5776 + 1083);
    // The maps after it are the default ones, shifted: conv11_2's priors are the last 4 of both.
    expect(Array.from(priors.data.subarray(4 * 7645))).to.deep.equal(Array.from(priorsCxcy.data.subarray(4 * 8728)));
  });

  it('conv4_3 with five ratios and scale 0.2: 6 per position, 11620 in all, and conv4_3\'s boxes are twice as big', () => {
    const maps = editFeatureMap(FEATURE_MAPS, 'conv4_3', { scale: 0.2, aspectRatios: [1, 2, 3, 0.5, 0.333] });
    expect(priorCounts(maps).total).to.equal(38 * 38 * 6 + 8732 - 38 * 38 * 4).and.to.equal(11620);
    const priors = createPriors('float64', maps);
    expect(priors.shape).to.deep.equal([11620, 4]);
    const first = priorsOfCell(priors, 0, 10, 20, maps);
    expect(first.length).to.equal(6);
    expect(first[0].boxXy[2] - first[0].boxXy[0]).to.be.closeTo(0.2, 1e-12); // ratio 1 at scale 0.2
    // The extra square: sqrt(0.2 * conv7's 0.2) = 0.2.
    expect(first[1].boxXy[2] - first[1].boxXy[0]).to.be.closeTo(0.2, 1e-12);
  });

  it('the scale of a map changes the extra prior of the map before it: sqrt(s_k * s_k+1)', () => {
    const maps = editFeatureMap(FEATURE_MAPS, 'conv8_2', { scale: 0.5 });
    expect(priorCounts(maps)).to.include({ total: 8732, fitsModel: true });
    const conv7Extra = priorsOfCell(createPriors('float64', maps), 1, 9, 9, maps)[1];
    expect(conv7Extra.ratio).to.equal('extra');
    expect(conv7Extra.boxXy[2] - conv7Extra.boxXy[0]).to.be.closeTo(Math.sqrt(0.2 * 0.5), 1e-12);
  });

  it('the defaults fit the model; a map without ratio 1, or with a bad scale, is an error naming it', () => {
    expect(priorCounts()).to.deep.include({ total: 8732, fitsModel: true });
    expect(priorCounts().maps.map((m) => m.perPosition)).to.deep.equal(FEATURE_MAPS.map(boxesPerPosition));
    expect(() => editFeatureMap(FEATURE_MAPS, 'conv9_2', { aspectRatios: [2, 0.5] })).to.throw(/conv9_2.*must hold 1 exactly once/);
    expect(() => editFeatureMap(FEATURE_MAPS, 'conv9_2', { aspectRatios: [1, 1, 2] })).to.throw(/conv9_2.*exactly once/);
    expect(() => editFeatureMap(FEATURE_MAPS, 'conv9_2', { scale: 0 })).to.throw(/conv9_2.*scale must be in \(0, 1\]/);
    expect(() => editFeatureMap(FEATURE_MAPS, 'conv5_3', { scale: 0.5 })).to.throw(/no feature map 'conv5_3'/);
    const bad: FeatureMap[] = [{ name: 'x', size: 2.5, scale: 0.5, aspectRatios: [1] }];
    expect(() => checkFeatureMaps(bad)).to.throw(/feature map 0 \(x\): size must be an integer/);
    expect(() => createPriors('float32', bad)).to.throw(/size must be an integer/);
  });

  it('reads aspect ratios as numbers or width:height', () => {
    expect(parseAspectRatios('1, 2 0.5')).to.deep.equal([1, 2, 0.5]);
    expect(parseAspectRatios(' 1 ; 2:1, 1:3 ')).to.deep.equal([1, 2, 1 / 3]);
    expect(() => parseAspectRatios('1, two')).to.throw(/'two' is not a positive number/);
    expect(() => parseAspectRatios('1, 0')).to.throw(/'0' is not a positive number/);
    expect(() => parseAspectRatios('  ')).to.throw(/none given/);
  });

  it('the priors picture draws the edited map: its own count of priors, different pixels', () => {
    const maps = editFeatureMap(FEATURE_MAPS, 'conv9_2', { scale: 0.4, aspectRatios: [1, 2] });
    const before = renderPriors(null, { map: 'conv9_2' });
    const after = renderPriors(null, { map: 'conv9_2', maps });
    expect(before.shown[0].priors.length).to.equal(6);
    expect(after.shown[0].priors.length).to.equal(3);
    expect(same(before.image, after.image)).to.equal(false);
    expect(same(before.image, renderPriors(null, { map: 'conv9_2', maps: FEATURE_MAPS }).image)).to.equal(true);
    expect(() => renderPriors(null, { maps, priorsCxcy })).to.throw(/the maps make 8657 priors, but priorsCxcy has 8732 rows/);
  });
});

describe('explain/nms_steps', () => {
  // Six boxes, worked by hand (float64, so the IoUs are the fractions below).
  const boxes = new Tensor([6, 4], Float64Array.from([
    0, 0, 0.4, 0.4, //     0: score 0.9
    0.1, 0, 0.5, 0.4, //   1: 0.8, IoU with 0 = 0.12 / 0.20 = 0.6
    0.25, 0, 0.65, 0.4, // 2: 0.7, IoU with 0 = 0.06 / 0.26; with 1 = 0.1 / 0.22 = 0.4545 (but 1 is not kept)
    0.3, 0, 0.7, 0.4, //   3: 0.6, IoU with 0 = 0.04 / 0.28; with 2 = 0.14 / 0.18 = 0.778
    0.6, 0.6, 0.9, 0.9, // 4: 0.95
    0.6, 0.6, 0.9, 0.9, // 5: 0.95, the same box: visited after 4 (lower index first on ties)
  ]));
  const scores = [0.9, 0.8, 0.7, 0.6, 0.95, 0.95];

  it('a hand-worked case: the order, which kept box suppresses which, and the IoUs', () => {
    const steps = nmsSteps(boxes, scores, 0.45);
    expect(steps.map((s) => s.index)).to.deep.equal([4, 5, 0, 1, 2, 3]);
    expect(steps.map((s) => s.rank)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(steps.map((s) => s.kept)).to.deep.equal([true, false, true, false, true, false]);
    expect(steps.map((s) => s.by)).to.deep.equal([null, 4, null, 0, null, 2]);
    const ious = [0, 1, 0, 0.12 / 0.2, 0.06 / 0.26, 0.14 / 0.18];
    steps.forEach((s, k) => expect(s.iou, `step ${k}`).to.be.closeTo(ious[k], 1e-12));
    // A suppressed box suppresses nothing: 2 overlaps 1 by 0.4545 > 0.45 and is kept.
    expect(steps.filter((s) => s.kept).map((s) => s.index)).to.deep.equal(nms(boxes, scores, 0.45));
    // At overlap 0.7, 1 (0.6) is kept, and 3 (0.778 with 2) is still suppressed; at 1 nothing is.
    expect(nmsSteps(boxes, scores, 0.7).filter((s) => s.kept).map((s) => s.index)).to.deep.equal([4, 0, 1, 2]);
    expect(nmsSteps(boxes, scores, 1).every((s) => s.kept)).to.equal(true);
  });

  it('keeps what nms keeps, in its order, on random boxes (float32 and float64) and any overlap', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 60; trial++) {
      const n = 1 + Math.floor(rng.uniform() * 60);
      const data: number[] = [];
      for (let i = 0; i < n; i++) {
        const x = rng.uniform() * 0.7;
        const y = rng.uniform() * 0.7;
        data.push(x, y, x + 0.05 + rng.uniform() * 0.3, y + 0.05 + rng.uniform() * 0.3);
      }
      const t = trial % 2 === 0 ? new Tensor([n, 4], Float32Array.from(data)) : new Tensor([n, 4], Float64Array.from(data));
      const s = Array.from({ length: n }, () => Math.round(rng.uniform() * 20) / 20); // ties on purpose
      const overlap = [0, 0.2, 0.45, 0.7, 1][trial % 5];
      const steps = nmsSteps(t, s, overlap);
      expect(steps.filter((x) => x.kept).map((x) => x.index), `trial ${trial}`).to.deep.equal(nms(t, s, overlap));
      for (const x of steps) expect(x.kept ? x.iou <= overlap : x.iou > overlap).to.equal(true);
      // Stopping after maxKeep kept boxes, as nms (and detectObjects' topK) does.
      const maxKeep = 1 + (trial % 4);
      const capped = nmsSteps(t, s, overlap, maxKeep);
      expect(capped.filter((x) => x.kept).map((x) => x.index), `trial ${trial}, maxKeep ${maxKeep}`).to.deep.equal(nms(t, s, overlap, maxKeep));
      expect(capped).to.deep.equal(steps.slice(0, capped.length));
      if (capped.length < steps.length) expect(capped[capped.length - 1].kept).to.equal(true);
    }
  });

  it('on the candidates of a class, as detectObjects finds them, and draws each step differently', () => {
    const { locs, scores: logits } = syntheticPredictions(EXAMPLE_OBJECTS, priorsCxcy, 21);
    const candidates = classCandidates(locs.reshape([8732, 4]), logits.reshape([8732, 21]), priorsCxcy, 0.3);
    expect(candidates.map((c) => c.label)).to.include.members([5, 12, 15]);
    const dog = candidates.find((c) => c.label === 12) as (typeof candidates)[number];
    const steps = nmsSteps(dog.boxesXy, dog.scores, 0.45);
    expect(steps.filter((s) => s.kept).map((s) => s.index)).to.deep.equal(nms(dog.boxesXy, dog.scores, 0.45));
    const detection = renderDetection(null, locs.reshape([8732, 4]), logits.reshape([8732, 21]), { minScore: 0.3 });
    expect(steps.filter((s) => s.kept).map((s) => dog.priors[s.index])).to.deep.equal(detection.afterNms.filter((c) => c.label === 12).map((c) => c.prior));
    const first = renderNmsSteps(null, dog.boxesXy, steps, { upTo: 1 });
    const second = renderNmsSteps(null, dog.boxesXy, steps, { upTo: 2 });
    expect(first.current?.rank).to.equal(0);
    expect(second.keptSoFar + second.suppressedSoFar).to.equal(2);
    expect(same(first.image, second.image)).to.equal(false);
    expect(same(renderNmsSteps(null, dog.boxesXy, steps, { upTo: 2, maxOverlap: 0.45 }).image, second.image)).to.equal(true);
  });
});

describe('explain/pr_curve', () => {
  const gt: GroundTruth[] = [{ boxes: [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1], [0.2, 0.2, 0.4, 0.4]], labels: [1, 1, 2] }];
  const dets: Detection[][] = [[
    { box: [0, 0, 0.5, 0.5], label: 1, score: 0.9 }, //      TP
    { box: [0.02, 0, 0.5, 0.5], label: 1, score: 0.8 }, //   duplicate of the first
    { box: [0.7, 0, 0.9, 0.2], label: 1, score: 0.7 }, //    FP: overlaps nothing
    { box: [0.5, 0.55, 1, 1], label: 1, score: 0.6 }, //     TP (IoU 0.9)
    { box: [0.5, 0.5, 0.6, 0.6], label: 3, score: 0.5 }, //  class 3 has no ground truth: no curve
  ]];

  it('a hand-worked image: the verdicts, the curve, 11-point AP 8.5 / 11, as evaluateDetections says', () => {
    const curves = precisionRecallCurves(dets, gt, 4);
    expect(curves.map((c) => c.label)).to.deep.equal([1, 2]);
    const [one, two] = curves;
    expect(one.ranked.map((r) => r.verdict)).to.deep.equal(['TP', 'duplicate', 'FP', 'TP']);
    expect(one.ranked[3].iou).to.be.closeTo(0.9, 1e-12);
    expect(one.recall).to.deep.equal([0.5, 0.5, 0.5, 1]);
    expect(one.precision).to.deep.equal([1, 0.5, 1 / 3, 0.5]);
    expect(one.ap).to.be.closeTo(8.5 / 11, 1e-12);
    expect(two).to.deep.include({ nPositives: 1, recall: [], precision: [], ap: 0 });
    const voc = evaluateDetections(dets, gt, 4);
    expect(voc.ap[1]).to.equal(one.ap);
    expect(voc.ap[2]).to.equal(two.ap);
    expect(precisionRecallCurves(dets, gt, 4, { method: 'area' })[0].ap).to.equal(evaluateDetections(dets, gt, 4, { method: 'area' }).ap[1]);
  });

  it('the AP of every class is evaluateDetections\', on random images with difficult objects and ties', () => {
    const rng = new Rng(3);
    const box = (): [number, number, number, number] => {
      const x = rng.uniform() * 0.6;
      const y = rng.uniform() * 0.6;
      return [x, y, x + 0.1 + rng.uniform() * 0.3, y + 0.1 + rng.uniform() * 0.3];
    };
    for (let trial = 0; trial < 20; trial++) {
      const nImages = 1 + (trial % 4);
      const truth: GroundTruth[] = [];
      const found: Detection[][] = [];
      for (let i = 0; i < nImages; i++) {
        const n = Math.floor(rng.uniform() * 5);
        const boxes = Array.from({ length: n }, box);
        truth.push({ boxes, labels: boxes.map(() => 1 + Math.floor(rng.uniform() * 3)), difficult: boxes.map(() => rng.uniform() < 0.2) });
        // Detections near the objects (jittered) and some anywhere; scores in steps of 0.1 (ties).
        const near = boxes.map((b, k): Detection => ({ box: b.map((v) => v + (rng.uniform() - 0.5) * 0.08) as Detection['box'], label: truth[i].labels[k], score: Math.round(rng.uniform() * 10) / 10 }));
        const far = Array.from({ length: Math.floor(rng.uniform() * 4) }, (): Detection => ({ box: box(), label: 1 + Math.floor(rng.uniform() * 3), score: Math.round(rng.uniform() * 10) / 10 }));
        found.push([...near, ...near.slice(0, 1), ...far].map((d) => ({ ...d, box: d.box.map((v) => Math.min(Math.max(v, 0), 1)) as Detection['box'] })));
      }
      const curves = precisionRecallCurves(found, truth, 4);
      const voc = evaluateDetections(found, truth, 4);
      const ours = [NaN, NaN, NaN, NaN];
      for (const c of curves) ours[c.label] = c.ap;
      expect(ours, `trial ${trial}`).to.deep.equal(voc.ap);
    }
  });

  it('draws one curve per class, and a different picture for other detections', () => {
    const a = renderClassCurves(precisionRecallCurves(dets, gt, 4), ['background', 'square', 'circle', 'triangle'], 'PR');
    const b = renderClassCurves(precisionRecallCurves([dets[0].slice(0, 1)], gt, 4), ['background', 'square', 'circle', 'triangle'], 'PR');
    expect(a.width).to.be.greaterThan(0);
    expect(same(a, b)).to.equal(false);
  });
});

describe('the pictures follow their controls', () => {
  const { locs, scores } = syntheticPredictions(EXAMPLE_OBJECTS, priorsCxcy, 21);
  const locs2 = locs.reshape([8732, 4]);
  const scores2 = scores.reshape([8732, 21]);

  it('matching threshold: 0.5 and 0.35 give other positives and other pixels', () => {
    const a = renderMatching(null, EXAMPLE_OBJECTS, { threshold: 0.5 });
    const b = renderMatching(null, EXAMPLE_OBJECTS, { threshold: 0.35 });
    expect(b.match.nPositives).to.be.greaterThan(a.match.nPositives);
    expect(same(a.image, b.image)).to.equal(false);
    expect(same(a.image, renderMatching(null, EXAMPLE_OBJECTS).image)).to.equal(true); // 0.5 is the default
  });

  it('mining: the threshold and the negatives per positive', () => {
    const a = renderMining(null, EXAMPLE_OBJECTS, scores2, { threshold: 0.5, negPosRatio: 3 });
    const b = renderMining(null, EXAMPLE_OBJECTS, scores2, { threshold: 0.5, negPosRatio: 1 });
    const c = renderMining(null, EXAMPLE_OBJECTS, scores2, { threshold: 0.35, negPosRatio: 3 });
    expect(b.hardNegatives.length).to.equal(a.nPositives).and.to.be.below(a.hardNegatives.length);
    expect(c.nPositives).to.be.greaterThan(a.nPositives);
    expect(same(a.image, b.image)).to.equal(false);
    expect(same(a.image, c.image)).to.equal(false);
  });

  it('detection: the NMS overlap and the min score, from the same predictions', () => {
    const a = renderDetection(null, locs2, scores2, { minScore: 0.3, maxOverlap: 0.45 });
    const b = renderDetection(null, locs2, scores2, { minScore: 0.3, maxOverlap: 0.9 });
    const c = renderDetection(null, locs2, scores2, { minScore: 0.6, maxOverlap: 0.45 });
    expect(b.afterNms.length).to.be.greaterThan(a.afterNms.length);
    expect(c.beforeNms.length).to.be.below(a.beforeNms.length);
    expect(same(a.image, b.image)).to.equal(false);
    expect(same(a.image, c.image)).to.equal(false);
  });

  it('priors: another scale of the map shown', () => {
    const a = renderPriors(null, { map: 'conv8_2' });
    const b = renderPriors(null, { map: 'conv8_2', maps: editFeatureMap(FEATURE_MAPS, 'conv8_2', { scale: 0.3 }) });
    expect(priorCount(FEATURE_MAPS)).to.equal(8732);
    expect(same(a.image, b.image)).to.equal(false);
  });
});
