import { expect } from 'chai';
import { Tensor } from '../../tensor/tensor';
import { fromArray, zeros } from '../../tensor/create';
import { Rng } from '../../tensor/random';
import { jaccardOverlap } from '../../ssd/boxes';
import { Detection, checkPredictionsFinite, detectObjects, nms } from '../../ssd/detect';
import { createPriors } from '../../ssd/priors';

/** The tutorial's NMS, kept as the reference: full (n, n) IoU matrix, each kept box suppresses later ones. */
function referenceNms(boxesXy: Tensor, scores: number[], maxOverlap: number): number[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const overlap = jaccardOverlap(boxesXy, boxesXy); // (n, n)
  const suppressed = new Array<boolean>(n).fill(false);
  const kept: number[] = [];
  for (const i of order) {
    if (suppressed[i]) continue;
    kept.push(i);
    for (let j = 0; j < n; j++) if (overlap.data[i * n + j] > maxOverlap) suppressed[j] = true;
  }
  return kept;
}

function expectBox(actual: readonly number[], expected: readonly number[]): void {
  expect(actual).to.have.length(4);
  actual.forEach((v, k) => expect(v).to.be.closeTo(expected[k], 1e-6));
}

describe('ssd/detect: nms', () => {
  it('keeps the best box of a cluster and a separate box, in score order', () => {
    // A = [0, 0, 0.4, 0.4] (0.9) is the best of a cluster:
    //   B = [0.02, 0.02, 0.42, 0.42]: IoU(A, B) = 0.38^2 / (0.16 + 0.16 - 0.1444) = 0.1444 / 0.1756 = 0.822
    //   C = [0.04, 0, 0.44, 0.4]:     IoU(A, C) = 0.36*0.4 / (0.32 - 0.144)       = 0.144 / 0.176   = 0.818
    // D = [0.6, 0.6, 0.9, 0.9] (0.5) overlaps none of them.
    // Given in the order D, B, A, C: the answer is A then D, as indices 2 then 0.
    const boxes = fromArray([
      [0.6, 0.6, 0.9, 0.9],
      [0.02, 0.02, 0.42, 0.42],
      [0, 0, 0.4, 0.4],
      [0.04, 0, 0.44, 0.4],
    ]);
    expect(nms(boxes, [0.5, 0.8, 0.9, 0.7], 0.45)).to.deep.equal([2, 0]);
  });

  it('does not suppress an IoU exactly equal to maxOverlap ("exceeds" is strict)', () => {
    // A = [0, 0, 0.5, 0.5] (area 0.25) contains B = [0, 0, 0.5, 0.25] (area 0.125):
    // IoU = 0.125 / (0.25 + 0.125 - 0.125) = 0.5 exactly (every number is exact in float32).
    const boxes = fromArray([
      [0, 0, 0.5, 0.5],
      [0, 0, 0.5, 0.25],
    ]);
    expect(nms(boxes, [0.9, 0.8], 0.5)).to.deep.equal([0, 1]);
    expect(nms(boxes, [0.9, 0.8], 0.49)).to.deep.equal([0]);
  });

  it('lets a suppressed box suppress nothing (greedy chain A > B > C)', () => {
    // A = [0, 0, 0.4, 0.4], B = [0.1, 0, 0.5, 0.4], C = [0.2, 0, 0.6, 0.4]
    // IoU(A, B) = IoU(B, C) = 0.3*0.4 / (0.32 - 0.12) = 0.6;  IoU(A, C) = 0.2*0.4 / (0.32 - 0.08) = 1/3.
    // A suppresses B; C overlaps only B, which is gone, so C stays.
    const boxes = fromArray([
      [0, 0, 0.4, 0.4],
      [0.1, 0, 0.5, 0.4],
      [0.2, 0, 0.6, 0.4],
    ]);
    expect(nms(boxes, [0.9, 0.8, 0.7], 0.45)).to.deep.equal([0, 2]);
  });

  it('breaks ties in score by index: lower index first', () => {
    // Two identical boxes of equal score: the lower index is kept, the other suppressed.
    const same = fromArray([
      [0.1, 0.1, 0.3, 0.3],
      [0.1, 0.1, 0.3, 0.3],
    ]);
    expect(nms(same, [0.5, 0.5], 0.45)).to.deep.equal([0]);
    // Three separate boxes: equal scores come out lower index first.
    const apart = fromArray([
      [0, 0, 0.2, 0.2],
      [0.4, 0.4, 0.6, 0.6],
      [0.8, 0.8, 1, 1],
    ]);
    expect(nms(apart, [0.5, 0.9, 0.5], 0.45)).to.deep.equal([1, 0, 2]);
  });

  it('gives [] for no boxes', () => {
    expect(nms(zeros([0, 4]), [], 0.45)).to.deep.equal([]);
    expect(nms(zeros([0, 4]), new Float32Array(0), 0.45)).to.deep.equal([]);
  });

  it('keeps every box when maxOverlap is 1 (an IoU never exceeds 1)', () => {
    const boxes = fromArray([
      [0, 0, 1, 1],
      [0, 0, 1, 1],
      [0, 0, 1, 1],
    ]);
    expect(nms(boxes, new Float32Array([0.2, 0.9, 0.5]), 1)).to.deep.equal([1, 2, 0]);
  });

  it('stops after maxKeep boxes: the first maxKeep of the full answer', () => {
    const boxes = fromArray([
      [0, 0, 0.2, 0.2],
      [0.4, 0.4, 0.6, 0.6],
      [0.8, 0.8, 1, 1],
    ]);
    expect(nms(boxes, [0.1, 0.9, 0.5], 0.45, 2)).to.deep.equal([1, 2]);
    expect(nms(boxes, [0.1, 0.9, 0.5], 0.45, 0)).to.deep.equal([]);
  });

  it('matches the tutorial full-matrix NMS on 500 random boxes, and handles 8732 boxes', () => {
    const rng = new Rng(7);
    const randomBoxes = (n: number): { boxes: Tensor; scores: number[] } => {
      const boxes = zeros([n, 4]);
      const scores: number[] = [];
      for (let i = 0; i < n; i++) {
        const x = rng.uniform() * 0.8;
        const y = rng.uniform() * 0.8;
        boxes.data.set([x, y, x + 0.05 + rng.uniform() * 0.2, y + 0.05 + rng.uniform() * 0.2], 4 * i);
        scores.push(Math.round(rng.uniform() * 100) / 100); // coarse, so that ties occur
      }
      return { boxes, scores };
    };
    const small = randomBoxes(500);
    for (const maxOverlap of [0.1, 0.45, 0.7]) {
      expect(nms(small.boxes, small.scores, maxOverlap)).to.deep.equal(referenceNms(small.boxes, small.scores, maxOverlap));
    }
    const large = randomBoxes(8732); // one class of SSD300, every prior above minScore
    const kept = nms(large.boxes, large.scores, 0.45, 200);
    expect(kept).to.have.length(200);
    for (let k = 1; k < kept.length; k++) expect(large.scores[kept[k]]).to.be.at.most(large.scores[kept[k - 1]]);
  });

  it('rejects bad input with a message that says what', () => {
    expect(() => nms(zeros([2, 3]), [1, 2], 0.45)).to.throw(/nms: boxesXy: expected shape \(\*, 4\), got \(2, 3\)/);
    expect(() => nms(zeros([2, 4]), [1], 0.45)).to.throw(/2 boxes but 1 scores/);
    expect(() => nms(zeros([1, 4]), [NaN], 0.45)).to.throw(/score 0 is NaN/);
    expect(() => nms(zeros([1, 4]), [1], 1.5)).to.throw(/maxOverlap must be in \[0, 1\]/);
  });
});

describe('ssd/detect: detectObjects', () => {
  // Four priors (cx, cy, w, h), all 0.5 x 0.5; in xy:
  //   p0 [0, 0, 0.5, 0.5]   p1 [0.5, 0, 1, 0.5]   p2 [0, 0.5, 0.5, 1]   p3 [0.125, 0, 0.625, 0.5]
  // IoU(p0, p3) = 0.375*0.5 / (0.25 + 0.25 - 0.1875) = 0.1875 / 0.3125 = 0.6 > 0.45;
  // p2 only touches p0 and p3 (IoU 0); IoU(p1, p3) = 0.0625 / 0.4375 = 1/7.
  const priors = fromArray([
    [0.25, 0.25, 0.5, 0.5],
    [0.75, 0.25, 0.5, 0.5],
    [0.25, 0.75, 0.5, 0.5],
    [0.375, 0.25, 0.5, 0.5],
  ]);
  const priorsXy = [
    [0, 0, 0.5, 0.5],
    [0.5, 0, 1, 0.5],
    [0, 0.5, 0.5, 1],
    [0.125, 0, 0.625, 0.5],
  ];

  /** Logits log(p): their softmax is p itself (p sums to 1). probs: (n_priors, n_classes) per image. */
  const logitsOf = (probs: number[][][]): Tensor => fromArray(probs.map((image) => image.map((row) => row.map(Math.log))));

  // Classes: 0 background, 1 cat, 2 dog. Probabilities per prior:
  const probsA = [
    [0.2, 0.7, 0.1], //    p0: cat 0.7,  dog 0.1
    [0.99, 0.005, 0.005], // p1: nothing above 0.01
    [0.3, 0.2, 0.5], //    p2: cat 0.2,  dog 0.5
    [0.35, 0.5, 0.15], //  p3: cat 0.5,  dog 0.15
  ];
  // With minScore 0.01, maxOverlap 0.45:
  //   cat: p0 (0.7), p3 (0.5), p2 (0.2): p3 overlaps p0 by 0.6, suppressed -> p0, p2
  //   dog: p2 (0.5), p3 (0.15), p0 (0.1): p0 overlaps p3 by 0.6, suppressed -> p2, p3
  //   all, by score: cat p0 0.7, dog p2 0.5, cat p2 0.2, dog p3 0.15
  const expectedA: Array<[number, number, number]> = [
    [1, 0, 0.7],
    [2, 2, 0.5],
    [1, 2, 0.2],
    [2, 3, 0.15],
  ]; // (label, prior, score)

  function expectDetections(actual: Detection[], expected: Array<[number, number, number]>): void {
    expect(actual.map((d) => d.label)).to.deep.equal(expected.map((e) => e[0]));
    actual.forEach((d, k) => {
      expectBox(d.box, priorsXy[expected[k][1]]);
      expect(d.score).to.be.closeTo(expected[k][2], 1e-6);
    });
  }

  it('decodes zero offsets to the priors, NMS per class, sorted by score', () => {
    const [image] = detectObjects(zeros([1, 4, 4]), logitsOf([probsA]), priors);
    expectDetections(image, expectedA);
  });

  it('keeps the same box for two classes: NMS never compares across classes', () => {
    const [image] = detectObjects(zeros([1, 4, 4]), logitsOf([probsA]), priors);
    // p2 is both a cat and a dog; p3 is suppressed as a cat but kept as a dog.
    const atP2 = image.filter((d) => d.box.every((v, k) => v === priorsXy[2][k]));
    expect(atP2.map((d) => d.label)).to.deep.equal([2, 1]);
  });

  it('decodes offsets: gcx = 2 moves the centre by 2 * w / 10, gh = 5 log 2 doubles the height, no clamping', () => {
    // p0 (0.25, 0.25, 0.5, 0.5) -> cx = 0.25 + 2 * 0.5 / 10 = 0.35, h = 0.5 * 2 = 1:
    // xy [0.1, -0.25, 0.6, 0.75], reaching past the top edge (detection does not clamp).
    const locs = fromArray([[[2, 0, 0, 5 * Math.log(2)]]]); // (1, 1, 4)
    const [image] = detectObjects(locs, logitsOf([[[0.1, 0.9]]]), fromArray([[0.25, 0.25, 0.5, 0.5]]));
    expect(image).to.have.length(1);
    expectBox(image[0].box, [0.1, -0.25, 0.6, 0.75]);
    expect(image[0].label).to.equal(1);
    expect(image[0].score).to.be.closeTo(0.9, 1e-6);
  });

  it('keeps only scores above minScore', () => {
    // minScore 0.18: cat p0 0.7, cat p2 0.2 (p3 still suppressed by p0), dog p2 0.5; dog p3 0.15 is gone.
    const [image] = detectObjects(zeros([1, 4, 4]), logitsOf([probsA]), priors, { minScore: 0.18 });
    expectDetections(image, [
      [1, 0, 0.7],
      [2, 2, 0.5],
      [1, 2, 0.2],
    ]);
    const [strict] = detectObjects(zeros([1, 4, 4]), logitsOf([probsA]), priors, { minScore: 0.6 });
    expectDetections(strict, [[1, 0, 0.7]]);
  });

  it('cuts to the topK best over all classes', () => {
    const [image] = detectObjects(zeros([1, 4, 4]), logitsOf([probsA]), priors, { topK: 2 });
    expectDetections(image, expectedA.slice(0, 2)); // a cat and a dog
    const [three] = detectObjects(zeros([1, 4, 4]), logitsOf([probsA]), priors, { topK: 3 });
    expectDetections(three, expectedA.slice(0, 3));
  });

  it('gives [] for an image with no score above minScore (no dummy background box)', () => {
    const nothing = probsA.map(() => [0.99, 0.005, 0.005]);
    expect(detectObjects(zeros([1, 4, 4]), logitsOf([nothing]), priors)).to.deep.equal([[]]);
  });

  it('treats the images of a batch independently', () => {
    // Image 1: only p1 is a dog (0.9), its box moved right by gcx = 1 (0.05): [0.55, 0, 1.05, 0.5].
    const probsB = [
      [0.99, 0.005, 0.005],
      [0.095, 0.005, 0.9],
      [0.99, 0.005, 0.005],
      [0.99, 0.005, 0.005],
    ];
    const locs = zeros([2, 4, 4]);
    locs.set(1, 1, 1, 0);
    const batch = detectObjects(locs, logitsOf([probsA, probsB]), priors);
    expect(batch).to.have.length(2);
    expectDetections(batch[0], expectedA);
    expect(batch[1]).to.have.length(1);
    expectBox(batch[1][0].box, [0.55, 0, 1.05, 0.5]);
    expect(batch[1][0].label).to.equal(2);
    expect(batch[1][0].score).to.be.closeTo(0.9, 1e-6);
    // Each image alone gives the same answer as in the batch.
    const [alone] = detectObjects(zeros([1, 4, 4]), logitsOf([probsA]), priors);
    expect(alone).to.deep.equal(batch[0]);
  });

  it('rejects shapes that do not fit, naming the expected and the actual shape', () => {
    const scores = logitsOf([probsA]); // (1, 4, 3)
    expect(() => detectObjects(zeros([1, 4, 4]), scores, zeros([4, 3]))).to.throw(
      /detectObjects: priorsCxcy: expected shape \(\*, 4\), got \(4, 3\)/,
    );
    expect(() => detectObjects(zeros([1, 5, 4]), scores, priors)).to.throw(
      /detectObjects: predLocs: expected shape \(\*, 4, 4\), got \(1, 5, 4\)/,
    );
    expect(() => detectObjects(zeros([2, 4, 4]), scores, priors)).to.throw(
      /detectObjects: predScores: expected shape \(2, 4, \*\), got \(1, 4, 3\)/,
    );
  });

  it('rejects options out of range', () => {
    const args = [zeros([1, 4, 4]), logitsOf([probsA]), priors] as const;
    expect(() => detectObjects(...args, { topK: 0 })).to.throw(/topK must be a positive integer/);
    expect(() => detectObjects(...args, { minScore: 2 })).to.throw(/minScore must be in \[0, 1\], got 2/);
    expect(() => detectObjects(...args, { maxOverlap: -1 })).to.throw(/maxOverlap must be in \[0, 1\], got -1/);
  });
});

describe('ssd/detect: checkPredictionsFinite', () => {
  it('passes finite outputs, and names the image, the feature map and the count of a non-finite one', () => {
    const priors = createPriors(); // (8732, 4)
    const locs = zeros([2, 8732, 4]);
    const scores = zeros([2, 8732, 3]);
    expect(() => checkPredictionsFinite(locs, scores, ['a.png', 'b.png'])).to.not.throw();
    expect(detectObjects(locs, scores, priors)).to.have.length(2);
    scores.data[(8732 + 5776 + 19 * 6 + 7) * 3 + 2] = NaN; // image 1, conv7 cell (1, 1), box 1, class 2
    scores.data[(8732 + 8731) * 3] = Infinity;
    expect(() => checkPredictionsFinite(locs, scores, ['a.png', 'b.png'])).to.throw(
      "b.png: the network's class scores are not finite (NaN at prior 5897 (feature map conv7, row 1, column 1, box 1); 2 non-finite values in all)",
    );
    expect(() => detectObjects(locs, scores, priors)).to.throw(/^image 1 of the batch: the network's class scores are not finite/);
    locs.data[3] = -Infinity;
    expect(() => checkPredictionsFinite(locs, scores)).to.throw(/^image 0 of the batch: the network's box offsets are not finite \(-Infinity at prior 0 \(feature map conv4_3, row 0, column 0, box 0\); 1 non-finite/);
  });
});
