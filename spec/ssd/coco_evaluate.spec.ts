import { expect } from 'chai';
import { Detection } from '../../ssd/detect';
import { Box } from '../../ssd/evaluate';
import {
  COCO_IOU_THRESHOLDS,
  COCO_RECALL_THRESHOLDS,
  CocoGroundTruth,
  cocoResults,
  evaluateCoco,
  formatCocoSummary,
  precisionIndex,
} from '../../ssd/coco_evaluate';

const det = (box: Box, score: number, label = 1): Detection => ({ box, label, score });

/** An image of 100 x 100 pixels (so a fraction f is 100 f pixels), all objects of class 1 unless said. */
const image = (boxes: Box[], extra: Partial<CocoGroundTruth> = {}): CocoGroundTruth => ({
  width: 100,
  height: 100,
  boxes,
  labels: boxes.map(() => 1),
  ...extra,
});

// Notes for the hand computations below.
// - AP at one IoU threshold is the mean of the interpolated precision at the 101 recall levels
//   0, 0.01, ..., 1; levels beyond the last recall reached count 0. A curve that reaches recall 1/2
//   with precision 1 scores 51/101 (levels 0 .. 0.50).
// - pycocotools divides by TP + FP + 2^-52, so the precision after a single TP is
//   0.9999999999999998, not 1: hence closeTo everywhere.
// - 10 IoU thresholds: 0.50, 0.55, ..., 0.95. AP@[.5:.95] is the mean over them.
const EPS = 1e-12;

describe('ssd/coco_evaluate', () => {
  it('has the IoU thresholds and recall levels of pycocotools', () => {
    expect(COCO_IOU_THRESHOLDS).to.have.length(10);
    expect(COCO_IOU_THRESHOLDS[0]).to.equal(0.5);
    expect(COCO_IOU_THRESHOLDS[5]).to.equal(0.75);
    expect(COCO_IOU_THRESHOLDS[9]).to.equal(0.95);
    expect(COCO_RECALL_THRESHOLDS).to.have.length(101);
    expect(COCO_RECALL_THRESHOLDS[25]).to.equal(0.25);
    expect(COCO_RECALL_THRESHOLDS[100]).to.equal(1);
  });

  it('a perfect detector: every AP and AR is 1, except AR with one detection per image', () => {
    // image 0: A small (20 x 20 = 400 px^2), B medium (50 x 50 = 2500); image 1: C large (100 x 100).
    // Each found exactly: IoU 1 at every threshold, every detection a TP; AP 1 in every size range
    // (in the 'small' range, B and C are ignored objects, and so are the detections of them).
    // AR@1: only the best detection of each image counts: A and C found, B not: recall 2/3.
    const truth = [image([[0, 0, 0.2, 0.2], [0.5, 0.5, 1, 1]]), image([[0, 0, 1, 1]])];
    const dets = [[det([0, 0, 0.2, 0.2], 0.9), det([0.5, 0.5, 1, 1], 0.8)], [det([0, 0, 1, 1], 0.7)]];
    const result = evaluateCoco(dets, truth, 2);
    const expected = [1, 1, 1, 1, 1, 1, 2 / 3, 1, 1, 1, 1, 1];
    result.stats.forEach((s, i) => expect(s, `stats[${i}]`).to.be.closeTo(expected[i], EPS));
    expect(result.metrics.ap).to.equal(result.stats[0]);
    expect(result.metrics.ar1).to.be.closeTo(2 / 3, EPS);
    expect(result.apPerClass[0]).to.equal(-1); // background
    expect(result.apPerClass[1]).to.be.closeTo(1, EPS);
    expect(result.ap50PerClass[1]).to.be.closeTo(1, EPS);
  });

  it('a detection at IoU 0.58 counts at thresholds 0.50 and 0.55 only: AP 2/10', () => {
    // Object 100 x 100 px; detection its top 58 rows: IoU 5800 / 10000 = 0.58.
    // Thresholds 0.50, 0.55: TP, recall 1, AP 1. The other 8: FP, AP 0. Mean 2/10.
    // AP50 1, AP75 0; AR = mean recall over the thresholds = 2/10 as well.
    const result = evaluateCoco([[det([0, 0, 1, 0.58], 0.9)]], [image([[0, 0, 1, 1]])], 2);
    expect(result.metrics.ap).to.be.closeTo(0.2, EPS);
    expect(result.metrics.ap50).to.be.closeTo(1, EPS);
    expect(result.metrics.ap75).to.equal(0);
    expect(result.metrics.ar100).to.be.closeTo(0.2, EPS);
  });

  it('an IoU exactly at a threshold matches (IoU >= t, not > t as in VOC)', () => {
    // Detection the top 60 rows: IoU 6000 / 10000 = 0.6 exactly, the same double as the threshold
    // 0.6: matches at 0.50, 0.55, 0.60: AP 3/10.
    const result = evaluateCoco([[det([0, 0, 1, 0.6], 0.9)]], [image([[0, 0, 1, 1]])], 2);
    expect(result.metrics.ap).to.be.closeTo(0.3, EPS);
  });

  it('equal scores keep their input order, within an image and across images', () => {
    // One object G (50 x 50). Two detections of score 0.5: a miss (FP) and G exactly (TP).
    // FP first: precision 0 then 1/2, recall 0 then 1; interpolated: 1/2 at every level: AP 1/2.
    // TP first: precision 1 at recall 1 for every level: AP 1.
    const g: Box = [0, 0, 0.5, 0.5];
    const miss: Box = [0.6, 0.6, 0.9, 0.9];
    const truth = [image([g])];
    expect(evaluateCoco([[det(miss, 0.5), det(g, 0.5)]], truth, 2).metrics.ap).to.be.closeTo(0.5, EPS);
    expect(evaluateCoco([[det(g, 0.5), det(miss, 0.5)]], truth, 2).metrics.ap).to.be.closeTo(1, EPS);
    // Across images: image order decides. G in image 1, the miss in image 0 (no objects): FP first.
    const twoImages = [image([]), image([g])];
    expect(evaluateCoco([[det(miss, 0.5)], [det(g, 0.5)]], twoImages, 2).metrics.ap).to.be.closeTo(0.5, EPS);
    // G in image 0 and the miss in image 1: TP first.
    const swapped = [image([g]), image([])];
    expect(evaluateCoco([[det(g, 0.5)], [det(miss, 0.5)]], swapped, 2).metrics.ap).to.be.closeTo(1, EPS);
  });

  it('a crowd region absorbs any number of detections without false positives', () => {
    // R [0, 0, 30, 30] px is a regular object; C [40, 0, 100, 100] px a crowd region.
    // d1 finds R (TP); d2, d3, d4 lie wholly inside C: IoU with a crowd = intersection / detection
    // area = 1, so each claims C (a crowd may be claimed again and again) and is ignored.
    // Only R counts for recall: TP, recall 1, AP 1 and AR 1 at every threshold.
    const boxes: Box[] = [[0, 0, 0.3, 0.3], [0.4, 0, 1, 1]];
    const dets = [
      [
        det([0, 0, 0.3, 0.3], 0.9),
        det([0.5, 0.1, 0.7, 0.3], 0.8),
        det([0.6, 0.5, 0.8, 0.7], 0.7),
        det([0.45, 0.8, 0.95, 0.95], 0.6),
      ],
    ];
    const crowd = evaluateCoco(dets, [image(boxes, { crowd: [false, true] })], 2);
    expect(crowd.metrics.ap).to.be.closeTo(1, EPS);
    expect(crowd.metrics.ar100).to.be.closeTo(1, EPS);
    // Were C a regular object: d2..d4 overlap it little (d2: 400 / (400 + 6000 - 400) = 0.067),
    // so FP, and C is missed. TP, FP, FP, FP: precision 1, 1/2, 1/3, 1/4 all at recall 1/2:
    // AP 51/101 at every threshold; AR 1/2.
    const regular = evaluateCoco(dets, [image(boxes)], 2);
    expect(regular.metrics.ap).to.be.closeTo(51 / 101, EPS);
    expect(regular.metrics.ar100).to.be.closeTo(0.5, EPS);
  });

  it("a crowd's IoU is intersection over the detection's area", () => {
    // Crowd C [40, 0, 100, 100] px, regular R [0, 0, 30, 30] px. Detection d [20, 0, 60, 20] px
    // (area 800) with score 0.95, above d1 (exactly R, 0.9).
    // d with C: intersection 20 x 20 = 400, over d's area 800: 0.5 (over the union it would be
    // 400 / 6400 = 0.0625). d with R: 10 x 20 = 200 / (800 + 900 - 200) = 0.13: no match.
    // At 0.50 d claims C: ignored; then d1 TP: AP 1. At 0.55 .. 0.95 d is an FP ranked first:
    // precision 0 then 1/2, interpolated 1/2 everywhere: AP 1/2. Mean: (1 + 9 / 2) / 10 = 0.55.
    const truth = [image([[0, 0, 0.3, 0.3], [0.4, 0, 1, 1]], { crowd: [false, true] })];
    const result = evaluateCoco([[det([0.2, 0, 0.6, 0.2], 0.95), det([0, 0, 0.3, 0.3], 0.9)]], truth, 2);
    expect(result.metrics.ap50).to.be.closeTo(1, EPS);
    expect(result.metrics.ap75).to.be.closeTo(0.5, EPS);
    expect(result.metrics.ap).to.be.closeTo(0.55, EPS);
  });

  it('a detection falls back to the next best free object (unlike VOC)', () => {
    // g1 [0, 0, 40, 40] px and g2 [4, 0, 44, 40] px: IoU 36 x 40 / (1600 + 1600 - 1440) = 0.818.
    // Two detections exactly on g1: the first claims g1, the second the free g2 if 0.818 >= t.
    // t = 0.50 .. 0.80 (7 thresholds): TP, TP: AP 1. t = 0.85, 0.90, 0.95: TP, FP at recall 1/2: 51/101.
    // AP = (7 + 3 * 51/101) / 10 = 86/101.
    const truth = [image([[0, 0, 0.4, 0.4], [0.04, 0, 0.44, 0.4]])];
    const result = evaluateCoco([[det([0, 0, 0.4, 0.4], 0.9), det([0, 0, 0.4, 0.4], 0.8)]], truth, 2);
    expect(result.metrics.ap).to.be.closeTo(86 / 101, EPS);
  });

  it('area ranges: a small object counts only in the small range', () => {
    // image 0: S 20 x 20 = 400 px^2 (small); image 1: L 100 x 100 = 10000 (large). Only S is found.
    //   all:    2 objects, 1 TP: recall 1/2, precision 1: AP 51/101, AR 1/2
    //   small:  S regular, L ignored: AP 1, AR 1
    //   medium: no object of that size (both ignored): -1 (absent)
    //   large:  L regular and missed; the detection claims S, an ignored object there, so it is
    //           ignored: no TP at all: AP 0, AR 0
    // AR@1 = AR@10 = AR@100 = 1/2.
    const truth = [image([[0, 0, 0.2, 0.2]]), image([[0, 0, 1, 1]])];
    const result = evaluateCoco([[det([0, 0, 0.2, 0.2], 0.9)], []], truth, 2);
    const expected = [51 / 101, 51 / 101, 51 / 101, 1, -1, 0, 0.5, 0.5, 0.5, 1, -1, 0];
    result.stats.forEach((s, i) => expect(s, `stats[${i}]`).to.be.closeTo(expected[i], EPS));
  });

  it("an object's area field decides its size; the limits belong to both neighbouring ranges", () => {
    // A 50 x 50 px box whose annotated area (say, of its mask) is 32^2 = 1024 exactly: that is
    // within small [0, 1024] and within medium [1024, 9216]; not large. Found exactly.
    const truth = [image([[0, 0, 0.5, 0.5]], { area: [1024] })];
    const result = evaluateCoco([[det([0, 0, 0.5, 0.5], 0.9)]], truth, 2);
    expect(result.metrics.apSmall).to.be.closeTo(1, EPS);
    expect(result.metrics.apMedium).to.be.closeTo(1, EPS);
    expect(result.metrics.apLarge).to.equal(-1);
  });

  it('an unmatched detection whose own area is outside the range is ignored there', () => {
    // S 20 x 20 px (small), found exactly (score 0.8). A miss of 50 x 50 = 2500 px^2 (medium)
    // scores 0.9.
    //   all: FP then TP: precision 0, 1/2 -> interpolated 1/2 everywhere: AP 1/2.
    //   small: the medium-sized miss is ignored: only the TP: AP 1.
    // Control: a small miss (10 x 10 px) is an FP in the small range too: AP small 1/2.
    const truth = [image([[0, 0, 0.2, 0.2]])];
    const big = evaluateCoco([[det([0.5, 0.5, 1, 1], 0.9), det([0, 0, 0.2, 0.2], 0.8)]], truth, 2);
    expect(big.metrics.ap).to.be.closeTo(0.5, EPS);
    expect(big.metrics.apSmall).to.be.closeTo(1, EPS);
    const small = evaluateCoco([[det([0.5, 0.5, 0.6, 0.6], 0.9), det([0, 0, 0.2, 0.2], 0.8)]], truth, 2);
    expect(small.metrics.apSmall).to.be.closeTo(0.5, EPS);
  });

  it('keeps the best 100 detections per image and class: the 101st is dropped', () => {
    // One object G; misses scoring 0.9, 0.899, ...; G found exactly with score 0.5 (last).
    // 99 misses + G: G is 100th: precision 1/100 at recall 1, interpolated 1/100 at every level:
    // AP 0.01, AR 1. 100 misses + G: G is the 101st, dropped: no TP: AP 0, AR 0.
    const g: Box = [0, 0, 0.1, 0.1];
    const misses = (n: number): Detection[] => Array.from({ length: n }, (_, i) => det([0.5, 0.5, 0.6, 0.6], 0.9 - i * 0.001));
    const truth = [image([g])];
    const kept = evaluateCoco([[...misses(99), det(g, 0.5)]], truth, 2);
    expect(kept.metrics.ap).to.be.closeTo(0.01, EPS);
    expect(kept.metrics.ar100).to.be.closeTo(1, EPS);
    const dropped = evaluateCoco([[...misses(100), det(g, 0.5)]], truth, 2);
    expect(dropped.metrics.ap).to.equal(0);
    expect(dropped.metrics.ar100).to.equal(0);
    // The limit is per class: 150 better-scoring detections of class 2 (which has no objects)
    // do not push G's detection out: class 1 AP 1; class 2 absent, left out of the mean.
    const otherClass = misses(150).map((d) => ({ ...d, label: 2 }));
    const perClass = evaluateCoco([[...otherClass, det(g, 0.5)]], truth, 3);
    expect(perClass.apPerClass[1]).to.be.closeTo(1, EPS);
    expect(perClass.apPerClass[2]).to.equal(-1);
    expect(perClass.metrics.ap).to.be.closeTo(1, EPS);
  });

  it('maxDets 1 versus 10: recall with the best detection only, and the full precision array', () => {
    // Two objects found exactly, scores 0.9 and 0.8. With 1 detection per image: recall 1/2;
    // with 10: recall 1. AP with maxDets 1 (not a summary number): recall 1/2 at precision 1:
    // 51/101 at every threshold.
    const truth = [image([[0, 0, 0.2, 0.2], [0.5, 0.5, 0.9, 0.9]])];
    const result = evaluateCoco([[det([0, 0, 0.2, 0.2], 0.9), det([0.5, 0.5, 0.9, 0.9], 0.8)]], truth, 2);
    expect(result.metrics.ar1).to.be.closeTo(0.5, EPS);
    expect(result.metrics.ar10).to.be.closeTo(1, EPS);
    expect(result.metrics.ar100).to.be.closeTo(1, EPS);
    // precision[t = 0.5][r][class 1 (k = 0)][all][maxDets 1]: about 1 for r <= 50, 0 after.
    const at = (r: number, m: number): number => result.precision[precisionIndex(result, 0, r, 0, 0, m)];
    expect(at(50, 0)).to.be.closeTo(1, EPS);
    expect(at(51, 0)).to.equal(0);
    expect(at(100, 2)).to.be.closeTo(1, EPS);
  });

  it('a class without objects is -1 and left out of the mean', () => {
    // Class 1: found exactly (AP 1). Class 2: detections but no objects: absent (-1), its
    // detections are not false positives of anything. Class 3: nothing at all: -1.
    const truth = [image([[0, 0, 0.5, 0.5]])];
    const dets = [[det([0, 0, 0.5, 0.5], 0.9, 1), det([0.5, 0.5, 1, 1], 0.95, 2)]];
    const result = evaluateCoco(dets, truth, 4);
    expect(result.apPerClass[1]).to.be.closeTo(1, EPS);
    expect(result.apPerClass.slice(2)).to.deep.equal([-1, -1]);
    expect(result.ap50PerClass.slice(2)).to.deep.equal([-1, -1]);
    expect(result.prCurve50.precision[2].every((p) => p === -1)).to.equal(true);
    expect(result.metrics.ap).to.be.closeTo(1, EPS);
    expect(result.metrics.ar100).to.be.closeTo(1, EPS);
    // No class has objects: every number is -1.
    expect(evaluateCoco(dets, [image([])], 4).stats).to.deep.equal(new Array(12).fill(-1));
  });

  it('detections on an image without objects are false positives', () => {
    // Image 0: G found exactly (0.8). Image 1: no objects, one detection (0.9): FP, ranked first.
    // Precision 0 then 1/2, recall 0 then 1: interpolated 1/2 at every level: AP 1/2; AR 1.
    const truth = [image([[0, 0, 0.5, 0.5]]), image([])];
    const result = evaluateCoco([[det([0, 0, 0.5, 0.5], 0.8)], [det([0, 0, 0.5, 0.5], 0.9)]], truth, 2);
    expect(result.metrics.ap).to.be.closeTo(0.5, EPS);
    expect(result.metrics.ar100).to.be.closeTo(1, EPS);
  });

  it('101-point interpolation of a two-step precision/recall curve', () => {
    // Four objects; ranked detections TP, FP, TP, FP (TPs exact, so the same at every threshold):
    //   precision 1, 1/2, 2/3, 1/2 at recall 1/4, 1/4, 1/2, 1/2.
    //   Interpolated (best to the right): 1, 2/3, 2/3, 1/2.
    //   Levels 0 .. 0.25 (26 of them): first point reaching them is the first: 1.
    //   Levels 0.26 .. 0.50 (25): the third point: 2/3.   Levels 0.51 .. 1 (50): never reached: 0.
    //   AP = (26 + 25 * 2/3) / 101 = 128/303.
    const truth = [image([[0, 0, 0.2, 0.2], [0.3, 0, 0.5, 0.2], [0, 0.3, 0.2, 0.5], [0.3, 0.3, 0.5, 0.5]])];
    const dets = [
      [
        det([0, 0, 0.2, 0.2], 0.9),
        det([0.7, 0.7, 0.9, 0.9], 0.8),
        det([0.3, 0, 0.5, 0.2], 0.7),
        det([0.7, 0, 0.9, 0.2], 0.6),
      ],
    ];
    const result = evaluateCoco(dets, truth, 2);
    expect(result.metrics.ap).to.be.closeTo(128 / 303, EPS);
    expect(result.ap50PerClass[1]).to.be.closeTo(128 / 303, EPS);
    const curve = result.prCurve50.precision[1];
    expect(result.prCurve50.recall).to.have.length(101);
    expect(curve).to.have.length(101);
    curve.forEach((p, r) => {
      const expected = r <= 25 ? 1 : r <= 50 ? 2 / 3 : 0;
      expect(p, `recall level ${r}`).to.be.closeTo(expected, EPS);
    });
  });

  it("AP50 on the VOC test's hand-worked case, with COCO's 101 points", () => {
    // The case of evaluate.spec.ts (100 x 100 px images): ranked TP, FP, TP, FP,
    // precision 1, 1/2, 2/3, 1/2 at recall 1/3, 1/3, 2/3, 2/3 (3 objects).
    // Interpolated 1, 2/3, 2/3, 1/2. Levels 0 .. 0.33 (34): 1; 0.34 .. 0.66 (33): 2/3; rest 0.
    // AP50 = (34 + 33 * 2/3) / 101 = 56/101 (VOC's 11-point gave 6/11).
    // The second TP has IoU 0.778: still a TP at 0.75 (AP75 = 56/101), an FP from 0.80 on: then
    // only recall 1/3 is reached: 34/101. AP = (6 * 56 + 4 * 34) / 1010 = 236/505.
    const truth = [image([[0, 0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]]), image([[0.1, 0.1, 0.5, 0.5]])];
    const dets = [
      [det([0.6, 0, 1, 0.3], 0.8), det([0, 0, 0.4, 0.4], 0.9)],
      [det([0.6, 0.6, 0.9, 0.9], 0.6), det([0.15, 0.1, 0.55, 0.5], 0.7)],
    ];
    const result = evaluateCoco(dets, truth, 2);
    expect(result.metrics.ap50).to.be.closeTo(56 / 101, EPS);
    expect(result.metrics.ap75).to.be.closeTo(56 / 101, EPS);
    expect(result.metrics.ap).to.be.closeTo(236 / 505, EPS);
  });

  it("formatCocoSummary prints pycocotools' 12 lines", () => {
    // The area-range case above: stats 51/101 (x3), 1, -1, 0, 1/2 (x3), 1, -1, 0.
    const truth = [image([[0, 0, 0.2, 0.2]]), image([[0, 0, 1, 1]])];
    const result = evaluateCoco([[det([0, 0, 0.2, 0.2], 0.9)], []], truth, 2);
    expect(formatCocoSummary(result).split('\n')).to.deep.equal([
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505',
      ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.505',
      ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.505',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.500',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.500',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.000',
    ]);
  });

  it("formatCocoSummary rounds exact ties half to even, as Python's format does", () => {
    // 0.0625 and 0.5625 are exactly halfway: Python writes 0.062 and 0.562 (toFixed: 0.063, 0.563).
    // 0.1875 -> 0.188 (8 is even). 0.0005 is a little above halfway as a double: 0.001.
    const stats = [0.0625, 0.5625, 0.1875, 0.0005, 2 / 3, -1, 0, 1, 0.9999999999999998, 0.5, 0.25, 0.125];
    const values = formatCocoSummary({ stats, maxDets: [1, 10, 100] })
      .split('\n')
      .map((line) => line.split(' = ')[1]);
    expect(values).to.deep.equal(['0.062', '0.562', '0.188', '0.001', '0.667', '-1.000', '0.000', '1.000', '1.000', '0.500', '0.250', '0.125']);
  });

  it('cocoResults: boxes in pixels as [x, y, width, height], category ids, rounding', () => {
    // 640 x 480 image: [0.1, 0.2, 0.5, 0.6] -> x 64, y 96, width 320 - 64 = 256, height 288 - 96 = 192.
    const categoryIds = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]; // COCO skips id 12
    const results = cocoResults(
      [[det([0.1, 0.2, 0.5, 0.6], 0.87654321, 12)], [det([1 / 3, 0, 2 / 3, 1 / 7], 0.5, 2)]],
      [
        { imageId: 42, width: 640, height: 480 },
        { imageId: 7, width: 100, height: 100 },
      ],
      categoryIds,
    );
    expect(results).to.deep.equal([
      { image_id: 42, category_id: 13, bbox: [64, 96, 256, 192], score: 0.876543 },
      // 100/3 = 33.333.. px -> 33.33; width 66.67 - 33.33 = 33.33; height 100/7 = 14.2857 -> 14.29.
      { image_id: 7, category_id: 2, bbox: [33.33, 0, 33.33, 14.29], score: 0.5 },
    ]);
    // Without category ids, the label is the category id.
    expect(cocoResults([[det([0, 0, 0.5, 0.5], 0.9, 3)]], [{ imageId: 1, width: 10, height: 20 }])).to.deep.equal([
      { image_id: 1, category_id: 3, bbox: [0, 0, 5, 10], score: 0.9 },
    ]);
  });

  it('cocoResults: says what is wrong and where', () => {
    const images = [{ imageId: 1, width: 100, height: 100 }];
    expect(() => cocoResults([[], []], images)).to.throw(/2 images but 1/);
    expect(() => cocoResults([[det([0, 0, 1, 1], 0.9, 5)]], images, [0, 1, 2])).to.throw(/image 0, detection 0: label 5/);
    expect(() => cocoResults([[det([0, 0, 1, 1], 0.9)]], [{ imageId: 1, width: 0, height: 100 }])).to.throw(/image 0: image size/);
  });

  it('evaluateCoco: says what is wrong and where', () => {
    const truth = [image([[0, 0, 0.5, 0.5]]), image([])];
    expect(() => evaluateCoco([[]], truth, 2)).to.throw(/detections for 1 images but ground truth for 2/);
    expect(() => evaluateCoco([[], [det([0, 0, 1, 1], 0.9, 2)]], truth, 2)).to.throw(/image 1, detection 0: label 2 is not a class index in 1\.\.1/);
    expect(() => evaluateCoco([[], [det([0, 0, 1, 1], NaN)]], truth, 2)).to.throw(/image 1, detection 0: score NaN/);
    expect(() => evaluateCoco([[det([0, 0, 1, Infinity], 0.9)], []], truth, 2)).to.throw(/image 0, detection 0: expected a box of 4 finite/);
    expect(() => evaluateCoco([[det([0.5, 0, 0.4, 1], 0.9)], []], truth, 2)).to.throw(/image 0, detection 0: inverted box/);
    expect(() => evaluateCoco([[], []], [truth[0], { ...truth[1], height: NaN }], 2)).to.throw(/ground truth of image 1: image size/);
    expect(() => evaluateCoco([[], []], [{ ...truth[0], crowd: [] }, truth[1]], 2)).to.throw(/image 0: 1 boxes but 0 crowd flags/);
    expect(() => evaluateCoco([[], []], [{ ...truth[0], area: [-1] }, truth[1]], 2)).to.throw(/image 0, object 0: area -1/);
    expect(() => evaluateCoco([[], []], [{ ...truth[0], labels: [0] }, truth[1]], 2)).to.throw(/image 0, object 0: label 0/);
    expect(() => evaluateCoco([[], []], truth, 1)).to.throw(/nClasses/);
    expect(() => evaluateCoco([[], []], truth, 2, { maxDets: [10, 1, 100] })).to.throw(/maxDets/);
  });
});
