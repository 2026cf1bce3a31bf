import { expect } from 'chai';
import { Detection } from '../../ssd/detect';
import { Box, GroundTruth, averagePrecision, evaluateDetections } from '../../ssd/evaluate';

const det = (box: Box, score: number, label = 1): Detection => ({ box, label, score });

describe('ssd/evaluate', () => {
  // The hand-worked case: one class (cat, label 1; nClasses 2), 3 objects in 2 images.
  //   image 0: g1 [0, 0, 0.4, 0.4], g2 [0.5, 0.5, 0.9, 0.9]      image 1: g3 [0.1, 0.1, 0.5, 0.5]
  // Four detections, ranked by score across both images:
  //   d1 0.9 image 0, exactly g1                      -> TP  (IoU 1)
  //   d2 0.8 image 0, [0.6, 0, 1, 0.3], touches nothing -> FP
  //   d3 0.7 image 1, g3 moved right by 0.05          -> TP  (IoU 0.35*0.4 / (0.32 - 0.14) = 0.778)
  //   d4 0.6 image 1, [0.6, 0.6, 0.9, 0.9], nothing there -> FP
  // After each:   TP FP   precision   recall (of 3)
  //   d1           1  0   1           1/3
  //   d2           1  1   1/2         1/3
  //   d3           2  1   2/3         2/3
  //   d4           2  2   1/2         2/3
  // 11-point: recall >= 0, 0.1, 0.2, 0.3 is reached by all four points -> best precision 1 (4 levels);
  //   recall >= 0.4, 0.5, 0.6 only by d3, d4 -> 2/3 (3 levels); 0.7 .. 1.0 never -> 0 (4 levels).
  //   AP = (4 * 1 + 3 * 2/3 + 4 * 0) / 11 = 6/11 = 0.5454...
  // Area: interpolated precision (best at any recall >= r) is 1 up to recall 1/3, 2/3 up to 2/3, then 0:
  //   AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 0 = 5/9 = 0.5555...
  const recall = [1 / 3, 1 / 3, 2 / 3, 2 / 3];
  const precision = [1, 1 / 2, 2 / 3, 1 / 2];
  const groundTruth: GroundTruth[] = [
    { boxes: [[0, 0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]], labels: [1, 1] },
    { boxes: [[0.1, 0.1, 0.5, 0.5]], labels: [1] },
  ];
  // Given out of score order, to check that the ranking is over all images.
  const detections: Detection[][] = [
    [det([0.6, 0, 1, 0.3], 0.8), det([0, 0, 0.4, 0.4], 0.9)],
    [det([0.6, 0.6, 0.9, 0.9], 0.6), det([0.15, 0.1, 0.55, 0.5], 0.7)],
  ];

  it('averagePrecision: 11-point and area on the hand-worked curve', () => {
    expect(averagePrecision(recall, precision, '11point')).to.be.closeTo(6 / 11, 1e-12);
    expect(averagePrecision(recall, precision, 'area')).to.be.closeTo(5 / 9, 1e-12);
    expect(averagePrecision([], [], '11point')).to.equal(0);
    expect(averagePrecision([], [], 'area')).to.equal(0);
  });

  it('evaluateDetections: the hand-worked case, 11-point by default and area on request', () => {
    const elevenPoint = evaluateDetections(detections, groundTruth, 2);
    expect(elevenPoint.ap[0]).to.be.NaN; // background
    expect(elevenPoint.ap[1]).to.be.closeTo(6 / 11, 1e-12);
    expect(elevenPoint.mAP).to.be.closeTo(6 / 11, 1e-12);
    const area = evaluateDetections(detections, groundTruth, 2, { method: 'area' });
    expect(area.ap[1]).to.be.closeTo(5 / 9, 1e-12);
  });

  it('perfect detections give AP 1 with both methods', () => {
    const perfect = groundTruth.map((gt) => gt.boxes.map((b) => det(b, 0.9)));
    expect(evaluateDetections(perfect, groundTruth, 2).ap[1]).to.equal(1);
    expect(evaluateDetections(perfect, groundTruth, 2, { method: 'area' }).ap[1]).to.equal(1);
  });

  it('no detections give AP 0', () => {
    const result = evaluateDetections([[], []], groundTruth, 2);
    expect(result.ap[1]).to.equal(0);
    expect(result.mAP).to.equal(0);
  });

  it('an IoU of exactly 0.5 is not a match: it must exceed the threshold', () => {
    // GT [0, 0, 0.5, 0.5] (area 0.25) contains the detection [0, 0, 0.5, 0.25] (area 0.125):
    // IoU = 0.125 / 0.25 = 0.5, so a false positive and AP 0; with threshold 0.4 it is a TP.
    const gt: GroundTruth[] = [{ boxes: [[0, 0, 0.5, 0.5]], labels: [1] }];
    const dets = [[det([0, 0, 0.5, 0.25], 0.9)]];
    expect(evaluateDetections(dets, gt, 2).ap[1]).to.equal(0);
    expect(evaluateDetections(dets, gt, 2, { iouThreshold: 0.4 }).ap[1]).to.equal(1);
  });

  it('a second detection of an already claimed object is a false positive', () => {
    // g1 [0, 0, 0.4, 0.4], g2 [0.5, 0.5, 0.9, 0.9]; detections g1 (0.9), g1 again (0.8), g2 (0.7):
    //   TP, FP, TP: precision 1, 1/2, 2/3; recall 1/2, 1/2, 1.
    // 11-point: levels 0 .. 0.5 -> 1 (6 levels), 0.6 .. 1 -> 2/3 (5 levels): (6 + 10/3) / 11 = 28/33.
    // Area: 1/2 * 1 + 1/2 * 2/3 = 5/6.  (Were the duplicate a TP, both would be 1.)
    const gt: GroundTruth[] = [{ boxes: [[0, 0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]], labels: [1, 1] }];
    const dets = [[det([0, 0, 0.4, 0.4], 0.9), det([0, 0, 0.4, 0.4], 0.8), det([0.5, 0.5, 0.9, 0.9], 0.7)]];
    expect(evaluateDetections(dets, gt, 2).ap[1]).to.be.closeTo(28 / 33, 1e-12);
    expect(evaluateDetections(dets, gt, 2, { method: 'area' }).ap[1]).to.be.closeTo(5 / 6, 1e-12);
  });

  it('judges a detection by its best-overlapping object only, as VOC does (no fallback to the second best)', () => {
    // g1 [0, 0, 0.4, 0.4] and g2 [0.04, 0, 0.44, 0.4] overlap by 0.144 / 0.176 = 0.818.
    // Two detections exactly on g1: the first claims g1; the second's best object is g1 again
    // (IoU 1 > 0.818), already claimed -> FP, although its IoU with the unclaimed g2 exceeds 0.5.
    // TP, FP: precision 1, 1/2 at recall 1/2: 11-point (levels 0 .. 0.5) 6/11; area 1/2.
    const gt: GroundTruth[] = [{ boxes: [[0, 0, 0.4, 0.4], [0.04, 0, 0.44, 0.4]], labels: [1, 1] }];
    const dets = [[det([0, 0, 0.4, 0.4], 0.9), det([0, 0, 0.4, 0.4], 0.8)]];
    expect(evaluateDetections(dets, gt, 2).ap[1]).to.be.closeTo(6 / 11, 1e-12);
    expect(evaluateDetections(dets, gt, 2, { method: 'area' }).ap[1]).to.be.closeTo(1 / 2, 1e-12);
  });

  it('ignores a detection of a difficult object, and does not count difficult objects as positives', () => {
    // One easy object e and one difficult object h. The best detection finds h: ignored, neither
    // TP nor FP; the next finds e: TP. Recall is out of 1 (only e counts): AP 1.
    // (Counted as an FP, it would give precision 0 then 1/2, and AP 1/2.) Missing h costs nothing either.
    const gt: GroundTruth[] = [
      { boxes: [[0, 0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]], labels: [1, 1], difficult: [false, true] },
    ];
    const findsBoth = [[det([0.5, 0.5, 0.9, 0.9], 0.9), det([0, 0, 0.4, 0.4], 0.8)]];
    expect(evaluateDetections(findsBoth, gt, 2).ap[1]).to.equal(1);
    expect(evaluateDetections(findsBoth, gt, 2, { method: 'area' }).ap[1]).to.equal(1);
    const findsEasyOnly = [[det([0, 0, 0.4, 0.4], 0.8)]];
    expect(evaluateDetections(findsEasyOnly, gt, 2).ap[1]).to.equal(1);
    // A second detection of the difficult object is ignored too (not a duplicate FP).
    const twiceHard = [[det([0.5, 0.5, 0.9, 0.9], 0.9), det([0.5, 0.5, 0.9, 0.9], 0.85), det([0, 0, 0.4, 0.4], 0.8)]];
    expect(evaluateDetections(twiceHard, gt, 2).ap[1]).to.equal(1);
  });

  it('matches only objects of the detection label', () => {
    // A dog detection on a cat: FP for dogs, and the cat is still missed.
    const gt: GroundTruth[] = [{ boxes: [[0, 0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]], labels: [1, 2] }];
    const result = evaluateDetections([[det([0, 0, 0.4, 0.4], 0.9, 2), det([0.5, 0.5, 0.9, 0.9], 0.8, 2)]], gt, 3);
    // dogs: FP then TP: precision 0, 1/2 at recall 0, 1 -> 11-point: every level reaches 1/2 -> 1/2.
    expect(result.ap[1]).to.equal(0);
    expect(result.ap[2]).to.be.closeTo(1 / 2, 1e-12);
  });

  it('mAP averages over the classes that have (non-difficult) objects; the others get AP NaN', () => {
    // nClasses 5: cat (1) found perfectly, dog (2) missed, bird (3) never annotated though detected,
    // cow (4) only difficult. mAP = (1 + 0) / 2.
    const gt: GroundTruth[] = [
      { boxes: [[0, 0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9], [0.1, 0.5, 0.3, 0.9]], labels: [1, 2, 4], difficult: [false, false, true] },
    ];
    const dets = [[det([0, 0, 0.4, 0.4], 0.9, 1), det([0.2, 0.2, 0.3, 0.3], 0.8, 3)]];
    const result = evaluateDetections(dets, gt, 5);
    expect(result.ap).to.have.length(5);
    expect(result.ap[0]).to.be.NaN;
    expect(result.ap[1]).to.equal(1);
    expect(result.ap[2]).to.equal(0);
    expect(result.ap[3]).to.be.NaN;
    expect(result.ap[4]).to.be.NaN;
    expect(result.mAP).to.equal(0.5);
    expect(evaluateDetections([[]], [{ boxes: [], labels: [] }], 3).mAP).to.be.NaN; // nothing to measure
  });

  it('rejects inconsistent input with a message that says where', () => {
    const one: GroundTruth[] = [{ boxes: [[0, 0, 0.4, 0.4]], labels: [1] }];
    expect(() => evaluateDetections([[], []], one, 2)).to.throw(/detections for 2 images but ground truth for 1/);
    expect(() => evaluateDetections([[]], [{ boxes: [[0, 0, 1, 1]], labels: [] }], 2)).to.throw(
      /ground truth of image 0: 1 boxes but 0 labels/,
    );
    expect(() => evaluateDetections([[]], [{ boxes: [[0, 0, 1, 1]], labels: [1], difficult: [] }], 2)).to.throw(
      /1 boxes but 0 difficult flags/,
    );
    expect(() => evaluateDetections([[]], [{ boxes: [[0, 0, 1, 1]], labels: [2] }], 2)).to.throw(
      /image 0, object 0: label 2 is not a class index in 1\.\.1/,
    );
    expect(() => evaluateDetections([[]], [{ boxes: [[0.5, 0, 0.2, 1]], labels: [1] }], 2)).to.throw(
      /image 0, object 0: inverted box/,
    );
    expect(() => evaluateDetections([[det([0, 0, 1, 1], 0.5, 0)]], one, 2)).to.throw(
      /image 0, detection 0: label 0 is not a class index/,
    );
    expect(() => evaluateDetections([[det([0, 0, 1, 1], NaN)]], one, 2)).to.throw(/detection 0: score NaN is not finite/);
    expect(() => evaluateDetections([[]], one, 1)).to.throw(/nClasses must be an integer >= 2/);
    expect(() => evaluateDetections([[]], one, 2, { iouThreshold: 2 })).to.throw(/iouThreshold must be in \[0, 1\]/);
  });
});
