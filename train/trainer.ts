// The training loop: shuffled epochs of (augmented) batches, SGD with momentum, warm-up and a
// decay schedule, checkpoints every N steps or M minutes that resume exactly, a clean stop on
// Ctrl-C, progress on a terminal or log lines, evaluation on a held-out split, and the curves.
//
// What a step is: trainStep (ssd/train_step.ts): forward, MultiBox loss, backward, gradient
// clipping, SGD update. Everything random (the shuffled order, the augmentations) comes from one
// seeded generator whose state is saved in each checkpoint, so `--max-steps 2` followed by a
// resumed `--max-steps 4` ends on the same weights, bit for bit, as one run of 4 steps.

import * as fs from 'fs';
import * as path from 'path';
import { Rng } from '../tensor/random';
import { SSD300 } from '../ssd/ssd300';
import { TrainStepResult, ssdOptimizer, trainStep } from '../ssd/train_step';
import { AugmentSteps, augmentForTraining } from '../data/augment';
import { DataSource, makeBatch } from '../data/source';
import { LossPoint, TrainingState, checkResume, fingerprintOf, readCheckpoint, restoreOptimizer, saveCheckpoint } from './checkpoint';
import { ScheduleConfig, checkSchedule, learningRate } from './schedule';
import { evaluateModel } from './evaluate';
import { Progress } from './progress';
import { drawTrainingCurves } from './curves';
import { Diagnosis } from './diagnose';

export interface TrainerConfig {
  batchSize: number;
  /** Stop after this many epochs, steps, or minutes of training, whichever comes first. */
  epochs: number;
  maxSteps?: number;
  maxMinutes?: number;
  schedule: ScheduleConfig;
  maxGradNorm: number;
  /** The SSD augmentations (photometric, zoom out, crop, flip) on each training image. */
  augment: boolean;
  /** Which of them (all by default). */
  augmentSteps?: AugmentSteps;
  seed: number;
  /** The checkpoint: written atomically here, at every save. */
  out: string;
  /** Save every this many steps and/or minutes (and always at the end of an epoch and of the run). */
  checkpointEverySteps?: number;
  checkpointEveryMinutes?: number;
  /** Continue from this checkpoint (a plain weights file starts a new run from its weights). */
  resume?: string;
  /** Evaluate on evalData every this many epochs (and at the end), recording the mAP. */
  evalEvery?: number;
  evalData?: DataSource;
  classes: readonly string[];
  /** Write the training curves as a PNG next to the checkpoint (out with .curves.png). */
  curves?: boolean;
  /** Per-layer activation and gradient statistics for the first this many steps. */
  diagnoseSteps?: number;
  /** Draw a progress bar (on a terminal) instead of log lines. */
  progressBar?: boolean;
  log: (line: string) => void;
  /** Stop cleanly on SIGINT after the current step (default true). */
  handleSigint?: boolean;
}

export type StopReason = 'epochs' | 'max-steps' | 'time' | 'interrupted';

export interface TrainResult {
  steps: number;
  epochs: number;
  stoppedBy: StopReason;
  lastLoss: number;
  state: TrainingState;
}

/** The smoothed loss may grow this much above its lowest value before the run is called diverging. */
const DIVERGENCE_FACTOR = 4;

export async function train(model: SSD300, data: DataSource, config: TrainerConfig): Promise<TrainResult> {
  checkTrainerConfig(config, data);
  checkSchedule(config.schedule);
  const optimizer = ssdOptimizer(model, config.schedule.lr);
  const rng = new Rng(config.seed);
  // Drop the last partial batch of an epoch: batch norm needs at least 2 images, and equal batches keep steps comparable.
  const stepsPerEpoch = Math.max(1, Math.floor(data.length / config.batchSize));
  // The schedule follows the planned run (its epochs, or its time budget when that ends first);
  // --max-steps only stops it, so that a run stopped at step 2 and resumed to step 4 takes the
  // same learning rates as one run to step 4.
  const plannedSteps = config.epochs * stepsPerEpoch;
  const totalSteps = Math.min(config.maxSteps ?? Infinity, plannedSteps);

  let state: TrainingState;
  const resumed = config.resume !== undefined ? readCheckpoint(config.resume) : null;
  if (resumed !== null) checkResume(resumed, config.resume as string, { classes: config.classes, data, log: config.log }); // before anything changes
  if (resumed !== null && resumed.state !== null) {
    state = resumed.state;
    model.loadWeights(config.resume as string);
    restoreOptimizer(model, optimizer, resumed.tensors, config.resume as string);
    rng.setState(state.rng);
    state.dataset ??= fingerprintOf(data);
    if (state.batchSize !== config.batchSize) config.log(`resume: batch size ${state.batchSize} in the checkpoint, ${config.batchSize} now`);
    state.schedule = config.schedule;
    state.batchSize = config.batchSize;
    config.log(`resumed from ${config.resume}: step ${state.step}, epoch ${state.epoch + 1}, image ${state.position} of ${data.length}`);
  } else {
    if (resumed !== null) {
      model.loadWeights(config.resume as string);
      config.log(`starting from the weights in ${config.resume} (no training state in it: a new run)`);
    }
    state = {
      step: 0, epoch: 0, position: 0, order: shuffled(data.length, rng), rng: rng.getState(), elapsedSeconds: 0,
      schedule: config.schedule, batchSize: config.batchSize, lossHistory: [], evalHistory: [], dataset: fingerprintOf(data),
    };
  }
  model.train();

  const save = (): void => {
    state.rng = rng.getState();
    saveCheckpoint(config.out, model, optimizer, state, config.classes);
    if (config.curves !== false) drawTrainingCurves(curvesPath(config.out), state, config.classes.length);
  };

  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130); // a second Ctrl-C: stop now
    interrupted = true;
    config.log('\ninterrupted: finishing the current step, then saving the checkpoint (Ctrl-C again to quit at once)');
  };
  if (config.handleSigint !== false) process.on('SIGINT', onSigint);

  const progress = new Progress(config.progressBar === true, config.log);
  const diagnosis = config.diagnoseSteps !== undefined && config.diagnoseSteps > 0 ? new Diagnosis(model) : null;
  const maxSeconds = config.maxMinutes !== undefined ? config.maxMinutes * 60 : Infinity;
  const runStart = Date.now();
  const startSeconds = state.elapsedSeconds;
  let lastSave = Date.now();
  let lastSavedStep = state.step;
  let stepsThisRun = 0;
  let evalSeconds = 0; // evaluations do not count against the time budget
  let lastLoss = NaN;
  let smoothed = NaN;
  let lowestSmoothed = Infinity;
  let warnedDivergence = false;
  const window: LossPoint[] = [];
  let stoppedBy: StopReason = 'epochs';

  try {
    while (true) {
      if (state.step >= totalSteps) {
        stoppedBy = config.maxSteps !== undefined && state.step >= config.maxSteps ? 'max-steps' : 'epochs';
        break;
      }
      if (state.elapsedSeconds >= maxSeconds) {
        stoppedBy = 'time';
        break;
      }
      if (interrupted) {
        stoppedBy = 'interrupted';
        break;
      }
      if (state.position + config.batchSize > data.length && state.position > 0) {
        // the epoch is done
        await endOfEpoch();
        state.epoch++;
        state.position = 0;
        state.order = shuffled(data.length, rng);
        if (state.epoch >= config.epochs) break;
      }

      const indices = state.order.slice(state.position, state.position + config.batchSize);
      const items = indices.map((i) => {
        const item = data.get(i);
        return config.augment ? augmentForTraining(item, rng, undefined, config.augmentSteps) : item;
      });
      const { images, targets } = makeBatch(items); // (B, 3, 300, 300), boxes in xy fractions
      // how far the run is: by steps, or by time when the time budget runs out first
      const byStep = state.step / plannedSteps;
      const byTime = Number.isFinite(maxSeconds) ? state.elapsedSeconds / maxSeconds : 0;
      optimizer.lr = learningRate(config.schedule, state.step, Math.max(byStep, byTime));

      const stepStart = Date.now();
      diagnosis?.start();
      let result: TrainStepResult;
      try {
        result = await trainStep(model, optimizer, images, targets, { maxGradNorm: config.maxGradNorm });
      } catch (e) {
        const kept = fs.existsSync(config.out) && lastSavedStep > 0 ? `; the last good checkpoint (step ${lastSavedStep}) is ${config.out}` : '; no checkpoint was written';
        throw new Error(`step ${state.step + 1} (epoch ${state.epoch + 1}): ${(e as Error).message}${kept}`);
      }
      const stepSeconds = (Date.now() - stepStart) / 1000;
      if (diagnosis !== null) {
        config.log(diagnosis.report(state.step + 1));
        if (state.step + 1 >= startStep() + (config.diagnoseSteps ?? 0)) diagnosis.stop();
      }
      state.step++;
      stepsThisRun++;
      state.position += config.batchSize;
      state.elapsedSeconds = startSeconds + (Date.now() - runStart) / 1000 - evalSeconds;
      lastLoss = result.loss;

      // the curves: the loss averaged over windows of 10 steps
      window.push({ step: state.step, loss: result.loss, locLoss: result.locLoss, confLoss: result.confLoss, lr: optimizer.lr });
      if (window.length === 10) {
        state.lossHistory.push(average(window));
        window.length = 0;
      }
      smoothed = Number.isNaN(smoothed) ? result.loss : 0.95 * smoothed + 0.05 * result.loss;
      if (state.step > config.schedule.warmupSteps) lowestSmoothed = Math.min(lowestSmoothed, smoothed);
      if (!warnedDivergence && smoothed > DIVERGENCE_FACTOR * lowestSmoothed) {
        warnedDivergence = true;
        config.log(`warning: step ${state.step}: the smoothed loss ${smoothed.toFixed(3)} is over ${DIVERGENCE_FACTOR}x its lowest (${lowestSmoothed.toFixed(3)}): the run may be diverging (try a lower --lr or a longer --warmup)`);
      }
      progress.update({
        step: state.step, totalSteps, epoch: state.epoch, epochs: config.epochs, positionInEpoch: state.position, epochLength: stepsPerEpoch * config.batchSize, batchSize: config.batchSize,
        loss: result.loss, locLoss: result.locLoss, confLoss: result.confLoss, lr: optimizer.lr, imagesPerSecond: config.batchSize / stepSeconds,
        elapsedSeconds: state.elapsedSeconds, maxSeconds, nPositives: result.nPositives, gradNorm: result.gradNorm,
      });

      // Let the event loop run between steps: a backend whose kernels answer at once (the
      // reference) never yields otherwise, and a Ctrl-C would wait for the end of the run.
      await new Promise((resolve) => setImmediate(resolve));

      const dueBySteps = config.checkpointEverySteps !== undefined && state.step % config.checkpointEverySteps === 0;
      const dueByTime = config.checkpointEveryMinutes !== undefined && (Date.now() - lastSave) / 60000 >= config.checkpointEveryMinutes;
      if (dueBySteps || dueByTime) {
        save();
        lastSave = Date.now();
        lastSavedStep = state.step;
      }
    }
    if (window.length > 0) state.lossHistory.push(average(window));
    if (stoppedBy !== 'interrupted' && config.evalData !== undefined && config.evalEvery !== undefined) {
      const last = state.evalHistory[state.evalHistory.length - 1];
      if (last === undefined || last.step !== state.step) await runEvaluation();
    }
    progress.done();
    save();
    return { steps: state.step, epochs: state.epoch, stoppedBy, lastLoss, state };
  } finally {
    if (config.handleSigint !== false) process.removeListener('SIGINT', onSigint);
    diagnosis?.stop();
  }

  // --- helpers that share the loop's state ---

  function startStep(): number {
    return state.step - stepsThisRun;
  }

  async function endOfEpoch(): Promise<void> {
    if (config.evalData !== undefined && config.evalEvery !== undefined && (state.epoch + 1) % config.evalEvery === 0) await runEvaluation();
    save();
    lastSave = Date.now();
    lastSavedStep = state.step;
  }

  async function runEvaluation(): Promise<void> {
    const start = Date.now();
    const result = await evaluateModel(model, config.evalData as DataSource);
    evalSeconds += (Date.now() - start) / 1000;
    state.evalHistory.push({ step: state.step, epoch: state.epoch + 1, mAP: result.mAP });
    progress.message(`evaluation at step ${state.step} (epoch ${state.epoch + 1}): mAP ${result.mAP.toFixed(4)} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
  }
}

/** The training curves are drawn next to the checkpoint: ssd.safetensors -> ssd.curves.png. */
export function curvesPath(checkpoint: string): string {
  const dir = path.dirname(checkpoint);
  const base = path.basename(checkpoint).replace(/\.safetensors$/, '');
  return path.join(dir, `${base}.curves.png`);
}

function average(points: readonly LossPoint[]): LossPoint {
  const mean = (f: (p: LossPoint) => number): number => points.reduce((s, p) => s + f(p), 0) / points.length;
  return { step: points[points.length - 1].step, loss: mean((p) => p.loss), locLoss: mean((p) => p.locLoss), confLoss: mean((p) => p.confLoss), lr: points[points.length - 1].lr };
}

/** A random permutation of 0..n-1 (Fisher-Yates), drawn from rng. */
export function shuffled(n: number, rng: Rng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

function checkTrainerConfig(config: TrainerConfig, data: DataSource): void {
  if (data.length === 0) throw new Error('train: the data set is empty');
  const positiveInteger = (v: number | undefined, name: string): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new Error(`train: ${name} must be a positive integer, got ${v}`);
  };
  positiveInteger(config.batchSize, 'the batch size');
  positiveInteger(config.epochs, 'the number of epochs');
  positiveInteger(config.maxSteps, 'the maximum number of steps');
  positiveInteger(config.checkpointEverySteps, 'the checkpoint interval in steps');
  positiveInteger(config.evalEvery, 'the evaluation interval in epochs');
  if (config.maxMinutes !== undefined && !(config.maxMinutes > 0)) throw new Error(`train: the time limit must be a positive number of minutes, got ${config.maxMinutes}`);
  if (config.checkpointEveryMinutes !== undefined && !(config.checkpointEveryMinutes > 0)) throw new Error(`train: the checkpoint interval must be a positive number of minutes, got ${config.checkpointEveryMinutes}`);
  if (!(config.maxGradNorm > 0)) throw new Error(`train: the gradient norm limit must be positive, got ${config.maxGradNorm}`);
  if (data.length < config.batchSize) throw new Error(`train: the data set has ${data.length} images, fewer than one batch of ${config.batchSize}`);
}
