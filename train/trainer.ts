// The training loop: shuffled epochs of (augmented) batches, SGD with momentum, warm-up and a
// decay schedule, checkpoints every N steps or M minutes that resume exactly, a clean stop on
// Ctrl-C, progress on a terminal or log lines, evaluation on a held-out split, and the curves.
//
// What a step is: trainStep (ssd/train_step.ts): forward, MultiBox loss, backward, gradient
// clipping, SGD update. Its batch comes from the input pipeline (train/loader.ts), which makes
// the next batches in worker threads while the step runs. Everything random comes from one seeded
// generator: at the start of each epoch it draws the order of the images and a seed from which
// each image's augmentation derives its own (planEpoch); the checkpoint keeps the generator's
// state at the start of the epoch, so `--max-steps 2` followed by a resumed `--max-steps 4` ends
// on the same weights, bit for bit, as one run of 4 steps, with any number of workers.

import * as fs from 'fs';
import * as path from 'path';
import { Rng, RngState, deriveSeed } from '../tensor/random';
import { SSD300 } from '../ssd/ssd300';
import { TrainStepResult, ssdOptimizer, trainStep } from '../ssd/train_step';
import { AugmentSteps } from '../data/augment';
import { DataSource } from '../data/source';
import { Batch, BatchLoader, BatchRequest, DEFAULT_CACHE_BYTES } from './loader';
import { StepProfile } from './profile';
import { Checkpoint, LossPoint, TrainingState, checkResume, fingerprintOf, readCheckpoint, restoreOptimizer, saveCheckpoint } from './checkpoint';
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
  /**
   * The checkpoint: written atomically here, at every save. Without it nothing is written (the
   * page trains in memory and takes the weights from the model).
   */
  out?: string;
  /** Save every this many steps and/or minutes (and always at the end of an epoch and of the run). */
  checkpointEverySteps?: number;
  checkpointEveryMinutes?: number;
  /**
   * Continue from this checkpoint, a file or one already read (readCheckpoint); a plain weights
   * file starts a new run from its weights.
   */
  resume?: string | Checkpoint;
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
  /**
   * The input pipeline (train/loader.ts): worker threads that make batches ahead of their step
   * (default 2; 0 makes each on this thread when its step comes), how many batches ahead
   * (default 2), how many bytes of decoded images to keep (default DEFAULT_CACHE_BYTES; 0 none),
   * and whether an image that fails to decode is left out (with a message) rather than stopping.
   */
  workers?: number;
  prefetch?: number;
  cacheBytes?: number;
  skipBad?: boolean;
  /** Print, per step, where its time went (waiting for data, forward, loss, backward, optimizer) and the cores used. */
  profile?: boolean;
  /**
   * Called after every step (awaited: a page pauses the run by not resolving): the step's numbers
   * and the training state (its loss and mAP history). Returning 'stop' ends the run there, as a
   * Ctrl-C does.
   */
  onStep?: (report: StepReport) => Promise<'stop' | void> | 'stop' | void;
}

/** What onStep is told after each step. */
export interface StepReport {
  step: number;
  epoch: number;
  totalSteps: number;
  loss: number;
  locLoss: number;
  confLoss: number;
  lr: number;
  gradNorm: number;
  state: TrainingState;
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
  // Drop the last partial batch of an epoch: batch norm needs at least 2 images, and equal batches keep steps comparable.
  const stepsPerEpoch = Math.max(1, Math.floor(data.length / config.batchSize));
  // The schedule follows the planned run (its epochs, or its time budget when that ends first;
  // a run with a time budget and no epochs runs until the time is used); --max-steps only stops
  // it, so that a run stopped at step 2 and resumed to step 4 takes the same learning rates as
  // one run to step 4.
  const plannedSteps = config.epochs * stepsPerEpoch;
  const totalSteps = Math.min(config.maxSteps ?? Infinity, plannedSteps);

  let state: TrainingState;
  // the checkpoint is read once: by the caller (the CLI built the model from it), else here
  const resumed = config.resume === undefined ? null : typeof config.resume === 'string' ? readCheckpoint(config.resume) : config.resume;
  const resumeFile = resumed?.file ?? '';
  if (resumed !== null) checkResume(resumed, resumeFile, { classes: config.classes, data, log: config.log }); // before anything changes
  if (resumed !== null && resumed.state !== null) {
    state = resumed.state;
    model.loadTensors(resumed.tensors, resumeFile);
    restoreOptimizer(model, optimizer, resumed.tensors, resumeFile);
    state.dataset ??= fingerprintOf(data);
    if (state.batchSize !== config.batchSize) config.log(`resume: batch size ${state.batchSize} in the checkpoint, ${config.batchSize} now`);
    state.schedule = config.schedule;
    state.batchSize = config.batchSize;
    config.log(`resumed from ${resumeFile}: step ${state.step}, epoch ${state.epoch + 1}, image ${state.position} of ${data.length}`);
  } else {
    if (resumed !== null) {
      model.loadTensors(resumed.tensors, resumeFile);
      config.log(`starting from the weights in ${resumeFile} (no training state in it: a new run)`);
    }
    const start = new Rng(config.seed).getState(); // the generator at the start of epoch 0
    state = {
      step: 0, epoch: 0, position: 0, order: planEpoch(data.length, start).order, rng: start, elapsedSeconds: 0,
      schedule: config.schedule, batchSize: config.batchSize, lossHistory: [], evalHistory: [], dataset: fingerprintOf(data),
    };
  }
  // The epoch in progress: its order and augmentation seed, drawn from the generator's state at
  // its start (state.rng), which is what the checkpoint keeps; a checkpoint whose order does not
  // follow from it was written otherwise (an earlier version of this trainer).
  let plan = planEpoch(data.length, state.rng);
  if (!plan.order.every((index, k) => index === state.order[k])) {
    throw new Error(`${resumeFile}: its training state's order of images does not follow from its generator state (a checkpoint of an earlier version?); start a new run from its weights instead`);
  }
  model.train();

  const save = (): void => {
    if (config.out === undefined) return; // in memory only
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
  const profile = config.profile === true ? new StepProfile(config.log) : null;

  // The input pipeline: the batches of the next steps are made while this one runs.
  const workers = config.workers ?? DEFAULT_WORKERS;
  const loader = new BatchLoader(data, {
    workers, augment: config.augment, augmentSteps: config.augmentSteps, cacheBytes: config.cacheBytes ?? DEFAULT_CACHE_BYTES, skipBad: config.skipBad,
  });
  const prefetch = workers === 0 ? 0 : (config.prefetch ?? 2);
  let evalLoader = null as BatchLoader | null; // the evaluation's, made at the first evaluation and kept (with its cache)
  const ahead = new Map<number, Promise<Batch>>(); // step -> its batch, being made
  /** Asks the loader for the batches of this step and the next `prefetch`, in order. */
  const requestAhead = (): void => {
    let epochPlan = plan;
    let epoch = state.epoch;
    let position = state.position;
    for (let step = state.step; step <= state.step + prefetch && step < totalSteps; step++) {
      if (position + config.batchSize > data.length && position > 0) {
        // past this epoch's end: the next epoch's plan, as the loop below will draw it
        epoch++;
        if (epoch >= config.epochs) break;
        epochPlan = planEpoch(data.length, epochPlan.next);
        position = 0;
      }
      if (!ahead.has(step)) {
        const batch = loader.load(batchRequest(epochPlan, position, config.batchSize));
        batch.catch(() => undefined); // a batch never awaited (the run stopped first) must not be an unhandled rejection
        ahead.set(step, batch);
      }
      position += config.batchSize;
    }
  };

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
        state.rng = plan.next;
        plan = planEpoch(data.length, state.rng);
        state.order = plan.order;
        if (state.epoch >= config.epochs) break;
      }

      const stepStart = Date.now();
      profile?.start();
      const kept = (): string => (config.out !== undefined && fs.existsSync(config.out) && lastSavedStep > 0 ? `; the last good checkpoint (step ${lastSavedStep}) is ${config.out}` : '; no checkpoint was written');
      requestAhead();
      let batch: Batch;
      try {
        batch = await (ahead.get(state.step) as Promise<Batch>); // (B, 3, 300, 300), targets matched to the priors
      } catch (e) {
        throw new Error(`step ${state.step + 1} (epoch ${state.epoch + 1}): ${(e as Error).message}${kept()}`);
      }
      ahead.delete(state.step);
      for (const { message } of batch.skipped) config.log(`skipped (--skip-bad): ${message}`);
      profile?.dataReady();
      // how far the run is: by steps, or by time when the time budget runs out first; and how far
      // it will be after this step (the warm-up's measure, when it is a share of the run)
      const byStep = state.step / plannedSteps;
      const byTime = Number.isFinite(maxSeconds) ? state.elapsedSeconds / maxSeconds : 0;
      const secondsPerStep = stepsThisRun > 0 ? (state.elapsedSeconds - startSeconds) / stepsThisRun : 0;
      const after = Math.max((state.step + 1) / plannedSteps, Number.isFinite(maxSeconds) ? (state.elapsedSeconds + secondsPerStep) / maxSeconds : 0);
      optimizer.lr = learningRate(config.schedule, state.step, Math.max(byStep, byTime), after);

      diagnosis?.start();
      let result: TrainStepResult;
      try {
        result = await trainStep(model, optimizer, batch.images, batch.targets, { maxGradNorm: config.maxGradNorm });
      } catch (e) {
        throw new Error(`step ${state.step + 1} (epoch ${state.epoch + 1}): ${(e as Error).message}${kept()}`);
      }
      profile?.step(state.step + 1, result.timings);
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
      const warmedUp = state.step > config.schedule.warmupSteps && after >= (config.schedule.warmupShare ?? 0);
      if (warmedUp) lowestSmoothed = Math.min(lowestSmoothed, smoothed);
      if (!warnedDivergence && smoothed > DIVERGENCE_FACTOR * lowestSmoothed) {
        warnedDivergence = true;
        config.log(`warning: step ${state.step}: the smoothed loss ${smoothed.toFixed(3)} is over ${DIVERGENCE_FACTOR}x its lowest (${lowestSmoothed.toFixed(3)}): the run may be diverging (try a lower --lr or a longer --warmup)`);
      }
      progress.update({
        step: state.step, totalSteps, epoch: state.epoch, epochs: config.epochs, positionInEpoch: state.position, epochLength: stepsPerEpoch * config.batchSize, batchSize: config.batchSize,
        loss: result.loss, locLoss: result.locLoss, confLoss: result.confLoss, lr: optimizer.lr, imagesPerSecond: batch.images.shape[0] / stepSeconds,
        elapsedSeconds: state.elapsedSeconds, maxSeconds, nPositives: result.nPositives, gradNorm: result.gradNorm,
      });

      // Let the event loop run between steps: a backend whose kernels answer at once (the
      // reference) never yields otherwise, and a Ctrl-C would wait for the end of the run.
      await new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
      if (config.onStep !== undefined) {
        const report = { step: state.step, epoch: state.epoch, totalSteps, loss: result.loss, locLoss: result.locLoss, confLoss: result.confLoss, lr: optimizer.lr, gradNorm: result.gradNorm, state };
        if ((await config.onStep(report)) === 'stop') interrupted = true;
      }

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
    profile?.summary();
    save();
    return { steps: state.step, epochs: state.epoch, stoppedBy, lastLoss, state };
  } finally {
    if (config.handleSigint !== false) process.removeListener('SIGINT', onSigint);
    diagnosis?.stop();
    await loader.close();
    await evalLoader?.close();
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
    evalLoader ??= new BatchLoader(config.evalData as DataSource, { workers, augment: false, cacheBytes: config.cacheBytes ?? DEFAULT_CACHE_BYTES });
    const result = await evaluateModel(model, config.evalData as DataSource, '11point', undefined, evalLoader);
    evalSeconds += (Date.now() - start) / 1000;
    state.evalHistory.push({ step: state.step, epoch: state.epoch + 1, mAP: result.mAP });
    progress.message(`evaluation at step ${state.step} (epoch ${state.epoch + 1}, ${(state.elapsedSeconds / 60).toFixed(1)} min of training): mAP ${result.mAP.toFixed(4)} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
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

/** Input pipeline workers by default: two, enough to keep ahead of the step here (see train/loader.ts). */
export const DEFAULT_WORKERS = 2;

/** An epoch's randomness: the order of the images, and the seed their augmentations derive from. */
export interface EpochPlan {
  order: number[];
  augmentSeed: number;
  /** The generator's state after the draws: the next epoch's plan comes from it. */
  next: RngState;
}

/**
 * The plan of an epoch, drawn from the generator state at its start: the order, then the
 * augmentation seed. Nothing else draws from the trainer's generator, so the plan of any epoch
 * follows from the first one's state, and the input pipeline can make batches of the next epoch
 * before this one ends.
 */
export function planEpoch(length: number, start: RngState): EpochPlan {
  const rng = new Rng(0);
  rng.setState(start);
  const order = shuffled(length, rng);
  const augmentSeed = rng.nextUint32();
  return { order, augmentSeed, next: rng.getState() };
}

/** The batch of an epoch from `position` on: its images, and each one's augmentation seed (from its position in the epoch). */
export function batchRequest(plan: EpochPlan, position: number, batchSize: number): BatchRequest {
  const indices = plan.order.slice(position, position + batchSize);
  return { indices, seeds: indices.map((_, k) => deriveSeed(plan.augmentSeed, position + k)) };
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
  // no limit on the epochs: a run that only the time budget ends
  if (!(config.epochs === Infinity && config.maxMinutes !== undefined)) positiveInteger(config.epochs, 'the number of epochs');
  positiveInteger(config.maxSteps, 'the maximum number of steps');
  positiveInteger(config.checkpointEverySteps, 'the checkpoint interval in steps');
  positiveInteger(config.evalEvery, 'the evaluation interval in epochs');
  if (config.maxMinutes !== undefined && !(config.maxMinutes > 0)) throw new Error(`train: the time limit must be a positive number of minutes, got ${config.maxMinutes}`);
  if (config.checkpointEveryMinutes !== undefined && !(config.checkpointEveryMinutes > 0)) throw new Error(`train: the checkpoint interval must be a positive number of minutes, got ${config.checkpointEveryMinutes}`);
  if (!(config.maxGradNorm > 0)) throw new Error(`train: the gradient norm limit must be positive, got ${config.maxGradNorm}`);
  if (data.length < config.batchSize) throw new Error(`train: the data set has ${data.length} images, fewer than one batch of ${config.batchSize}`);
}
