// Training in the tab, off the page's thread: a Web Worker (bundled by scripts/build-web.js as
// train-worker.js; web/train_panel.ts starts it) that runs the project's own trainer
// (train/trainer.ts) on the demo's recipe (demo/recipe.ts): the same synthetic images, model,
// schedule and seed as `npm run demo`, so the loss at every step is the one Node prints. Or, when
// the start command brings data (the images the user labelled: web/label_panel.ts), on those: the
// demo's model and recipe with the user's classes (see userTraining). The kernels are the wasm
// backend's, with their own Web Workers where the page is cross-origin isolated
// (web/wasm_kernels.ts). The page can pause, resume, step and stop the run between steps.
//
// Messages in:  start { epochs, maxSteps?, data? }, pause, resume, step (one step, then pause), stop
// Messages out: log, step (after each step), done (with the weights as safetensors bytes), error

import { SSD300 } from '../ssd/ssd300';
import { inMemorySource } from '../data/source';
import { train, StepReport } from '../train/trainer';
import { stateDict } from '../layers/layer';
import { encodeSafetensors } from '../tensor/safetensors';
import { DEMO_CLASSES, demoData, demoModelOptions, demoTraining } from '../demo/recipe';
import { LabeledImage, validateObjects } from '../data/annotations';
import { checkImage } from '../data/image';
import { createWasmKernels } from './wasm_kernels';
import { UserData, userTraining } from './user_data';

export type TrainCommand = { kind: 'start'; epochs: number; maxSteps?: number; data?: UserData } | { kind: 'pause' } | { kind: 'resume' } | { kind: 'step' } | { kind: 'stop' };

/** The user's data as the trainer's images, checked: classes, pixels, boxes. */
function userImages(data: UserData): LabeledImage[] {
  if (data.classes[0] !== 'background' || data.classes.length < 2) throw new Error(`the classes must be 'background' and at least one more, got ${data.classes.join(', ')}`);
  if (data.images.length === 0) throw new Error('no images to train on');
  return data.images.map((img, i) => {
    const source = `image ${i + 1}`;
    const image = { width: img.width, height: img.height, data: img.data };
    checkImage(image, source);
    const objects = img.objects.map((o) => ({ boxXy: o.boxXy, label: o.label, difficult: false }));
    validateObjects(objects, source, data.classes.length);
    return { image, objects, source };
  });
}

export type TrainMessage =
  | { kind: 'log'; line: string }
  | { kind: 'step'; report: Omit<StepReport, 'state'> & { lossHistory: StepReport['state']['lossHistory']; evalHistory: StepReport['state']['evalHistory'] }; elapsedMs: number; paused: boolean }
  | {
    kind: 'done'; steps: number; stoppedBy: string; weights: Uint8Array; losses: number[]; elapsedMs: number; threads: number; kernels: string;
    /** Making the data set; the steps after the first (the first warms the kernels up), per step. */
    dataMs: number; msPerStep: number;
    /** The mAP after each epoch and at the end. */
    evalHistory: StepReport['state']['evalHistory'];
  }
  | { kind: 'error'; message: string };

const scope = self as unknown as { onmessage: ((event: MessageEvent<TrainCommand>) => void) | null; postMessage(message: TrainMessage, transfer?: Transferable[]): void };

/** What the page asked for: run on, stay paused, make one step, or stop. */
let mode: 'run' | 'pause' | 'step' | 'stop' = 'run';
let wake: (() => void) | null = null;
let started = false;

function post(message: TrainMessage, transfer?: Transferable[]): void {
  scope.postMessage(message, transfer);
}

async function run(epochs: number, maxSteps: number | undefined, user: UserData | undefined): Promise<void> {
  const t0 = performance.now();
  const log = (line: string): void => post({ kind: 'log', line });
  let data: { train: LabeledImage[]; test: LabeledImage[] };
  if (user === undefined) {
    log('making the demo\'s data set: 600 training and 100 test images of shapes...');
    data = demoData();
  } else {
    // no held-out split for a handful of images: the mAP is measured on the training images
    const images = userImages(user);
    data = { train: images, test: images };
    log(`your data set: ${images.length} images, ${images.reduce((n, d) => n + d.objects.length, 0)} boxes, classes ${user.classes.slice(1).join(', ')}`);
  }
  const classes = user?.classes ?? DEMO_CLASSES;
  const recipe = user === undefined ? demoTraining(epochs) : userTraining(epochs, user);
  const dataMs = performance.now() - t0;
  const stepEnds: number[] = [];
  const { kernels, note } = await createWasmKernels();
  log(`kernels: wasm (${kernels.microKernel === 'relaxed' ? 'relaxed SIMD' : 'SIMD128'}, ${kernels.threads} thread${kernels.threads === 1 ? '' : 's'})${note ? `: ${note}` : ''}`);
  const model = new SSD300({ ...demoModelOptions(), nClasses: classes.length, kernels });
  const losses: number[] = [];
  const result = await train(model, inMemorySource(data.train), {
    ...recipe,
    maxSteps,
    evalData: inMemorySource(data.test),
    evalEvery: 1,
    workers: 0, // no worker_threads here: each batch is made in this worker, when its step comes
    handleSigint: false,
    curves: false,
    log,
    onStep: async (report) => {
      losses.push(report.loss);
      stepEnds.push(performance.now());
      if (mode === 'step') mode = 'pause';
      const { state, ...numbers } = report;
      post({ kind: 'step', report: { ...numbers, lossHistory: state.lossHistory, evalHistory: state.evalHistory }, elapsedMs: performance.now() - t0, paused: mode === 'pause' });
      while (mode === 'pause') await new Promise<void>((resolve) => (wake = resolve));
      return mode === 'stop' ? 'stop' : undefined;
    },
  });
  const weights = encodeSafetensors(stateDict(model), { ...model.weightsMetadata(), classes: JSON.stringify(classes) });
  const threads = kernels.threads;
  await kernels.dispose();
  // the time of a step, from the end of the first to the end of the last (evaluations and pauses included, if any)
  const msPerStep = stepEnds.length > 1 ? (stepEnds[stepEnds.length - 1] - stepEnds[0]) / (stepEnds.length - 1) : NaN;
  post({ kind: 'done', steps: result.steps, stoppedBy: result.stoppedBy, weights, losses, elapsedMs: performance.now() - t0, threads, kernels: 'wasm', dataMs, msPerStep, evalHistory: result.state.evalHistory }, [weights.buffer as ArrayBuffer]);
}

scope.onmessage = (event) => {
  const command = event.data;
  if (command.kind === 'start') {
    if (started) return;
    started = true;
    run(command.epochs, command.maxSteps, command.data).catch((e: Error) => post({ kind: 'error', message: e.message }));
    return;
  }
  mode = command.kind === 'resume' ? 'run' : command.kind;
  const w = wake;
  wake = null;
  w?.();
};
