// The images the user labelled on the page (web/label_panel.ts), as the training worker
// (web/train_worker.ts) takes them, and how they train. Shared by the page and the worker; no
// DOM and no worker code here (the page's bundle must not run the worker's message handler).

import type { BoxXy } from '../data/annotations';
import { demoTraining } from '../demo/recipe';

/** Images the user labelled, to train on instead of the demo's (the buffers are transferred). */
export interface UserData {
  /** The class names, 'background' first (class 0). */
  classes: string[];
  /** RGB pixels, and boxes as fractions of the image with their class index (1..). */
  images: { width: number; height: number; data: Uint8Array; objects: { boxXy: BoxXy; label: number }[] }[];
}

/** The images of a batch: the demo's 8, or all of them when there are fewer (the trainer needs one full batch). */
export function userBatchSize(images: number): number {
  return Math.max(1, Math.min(8, images));
}

/**
 * How the user's images train: the demo's recipe (demo/recipe.ts) with their classes, batches of
 * userBatchSize, and the warm-up as 5% of the run (as `ssd train --batch-norm` does) instead of
 * the demo's 100 steps: a handful of images makes one step an epoch, and 100 steps of warm-up
 * would be the whole run.
 */
export function userTraining(epochs: number, data: UserData): ReturnType<typeof demoTraining> {
  const demo = demoTraining(epochs);
  return { ...demo, classes: data.classes, batchSize: userBatchSize(data.images.length), schedule: { ...demo.schedule, warmupShare: 0.05 } };
}
