// Training in the tab, off the page's thread: a Web Worker (bundled by scripts/build-web.js as
// train-worker.js; web/train_panel.ts starts it) that runs the project's own trainer
// (train/trainer.ts) on the demo's recipe (demo/recipe.ts): the same synthetic images, model,
// schedule and seed as `npm run demo`, so the loss at every step is the one Node prints. The
// kernels are the wasm backend's, with their own Web Workers where the page is cross-origin
// isolated (web/wasm_kernels.ts). The page can pause, resume, step and stop the run between steps.
//
// Messages in:  start { epochs, maxSteps? }, pause, resume, step (one step, then pause), stop
// Messages out: log, step (after each step), done (with the weights as safetensors bytes), error

import { SSD300 } from '../ssd/ssd300';
import { inMemorySource } from '../data/source';
import { train, StepReport } from '../train/trainer';
import { stateDict } from '../layers/layer';
import { encodeSafetensors } from '../tensor/safetensors';
import { DEMO_CLASSES, demoData, demoModelOptions, demoTraining } from '../demo/recipe';
import { createWasmKernels } from './wasm_kernels';

export type TrainCommand = { kind: 'start'; epochs: number; maxSteps?: number } | { kind: 'pause' } | { kind: 'resume' } | { kind: 'step' } | { kind: 'stop' };

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

async function run(epochs: number, maxSteps: number | undefined): Promise<void> {
  const t0 = performance.now();
  const log = (line: string): void => post({ kind: 'log', line });
  log('making the demo\'s data set: 600 training and 100 test images of shapes...');
  const data = demoData();
  const dataMs = performance.now() - t0;
  const stepEnds: number[] = [];
  const { kernels, note } = await createWasmKernels();
  log(`kernels: wasm (${kernels.microKernel === 'relaxed' ? 'relaxed SIMD' : 'SIMD128'}, ${kernels.threads} thread${kernels.threads === 1 ? '' : 's'})${note ? `: ${note}` : ''}`);
  const model = new SSD300({ ...demoModelOptions(), kernels });
  const losses: number[] = [];
  const result = await train(model, inMemorySource(data.train), {
    ...demoTraining(epochs),
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
  const weights = encodeSafetensors(stateDict(model), { ...model.weightsMetadata(), classes: JSON.stringify(DEMO_CLASSES) });
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
    run(command.epochs, command.maxSteps).catch((e: Error) => post({ kind: 'error', message: e.message }));
    return;
  }
  mode = command.kind === 'resume' ? 'run' : command.kind;
  const w = wake;
  wake = null;
  w?.();
};
