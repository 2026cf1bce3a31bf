// The demo's recipe in one place: its data, its model and how it trains. `npm run demo`
// (demo/demo.ts) and the page's "train in the tab" (web/train_worker.ts) both take it from here,
// so that the same seed gives the same losses in Node and in the browser. No Node-only module here.

import { LabeledImage } from '../data/annotations';
import { SYNTHETIC_CLASSES, SYNTHETIC_TASK, makeSyntheticDataset } from '../data/synthetic';
import { SSD300Options } from '../ssd/ssd300';
import { TrainerConfig } from '../train/trainer';

/** Background, circle, square, triangle. */
export const DEMO_CLASSES: readonly string[] = [...SYNTHETIC_CLASSES];

/** Epochs of the default run: 7 x 75 steps of 8 images (the sixth ends near 0.91, the seventh on the plateau: see docs/training.md). */
export const DEMO_EPOCHS = 7;

/** The demo's data: 600 training and 100 test images of shapes on textured backgrounds (seeds 1 and 2). */
export function demoData(): { train: LabeledImage[]; test: LabeledImage[] } {
  return { train: makeSyntheticDataset(600, 1, SYNTHETIC_TASK), test: makeSyntheticDataset(100, 2, SYNTHETIC_TASK) };
}

/**
 * The model, from scratch: He ('kaiming') init for the base, and batch norm, without which a VGG
 * trained from random weights does not learn in minutes (see layers/batchnorm2d.ts). The
 * prediction convs start small (normal, std 0.01, as torchvision's SSD): the first scores are
 * then near uniform and the first loss near its floor, instead of Xavier's large random scores.
 * Channels divided by 16 (the same structure and 8732 priors).
 */
export function demoModelOptions(widthDivisor = 16): SSD300Options {
  return { nClasses: DEMO_CLASSES.length, widthDivisor, seed: 0, baseInit: 'kaiming', batchNorm: true, headInit: 'normal' };
}

/** How the demo trains (the caller adds the data, the output, logging and evaluation). */
export function demoTraining(epochs = DEMO_EPOCHS): Pick<TrainerConfig, 'epochs' | 'batchSize' | 'schedule' | 'maxGradNorm' | 'augment' | 'augmentSteps' | 'seed' | 'classes'> {
  return {
    epochs,
    batchSize: 8,
    // batch norm takes large learning rates; warm-up, then cosine decay to 0 at the end of the run.
    // 0.015 made the gradient norm spike (150-250) and some classes collapse: 0.01 trains smoothly.
    schedule: { kind: 'cosine', lr: 0.01, warmupSteps: 100 },
    maxGradNorm: 10,
    augment: true,
    augmentSteps: { photometric: false, expand: false, crop: true, flip: true },
    seed: 0,
    classes: DEMO_CLASSES,
  };
}
