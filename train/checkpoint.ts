// Training checkpoints: one safetensors file that is also a plain weights file.
//
//   the model's tensors          under their state_dict names ('base.conv1_1.weight', ...,
//                                batch norms' running statistics included)
//   the optimizer's momentum     'optimizer.momentum.<parameter name>', float64 (the SGD keeps
//                                its buffers in float64, so a resumed run continues bit for bit)
//   metadata 'training_state'    JSON: step, epoch, position in the epoch's shuffled order and the
//                                order itself, the random generator's state, the schedule, the
//                                time used, and the history the training curves are drawn from
//   metadata 'classes'           JSON list of the class names, background first
//
// `ssd detect --weights checkpoint.safetensors` and model.loadWeights() read it as weights: they
// skip the optimizer's tensors. It is written atomically (temporary file + rename), so an
// interrupted write never destroys the previous checkpoint.

import { Tensor } from '../tensor/tensor';
import { RngState } from '../tensor/random';
import { readSafetensors, writeSafetensors } from '../tensor/safetensors';
import { stateDict } from '../layers/layer';
import { SGD } from '../layers/sgd';
import { OPTIMIZER_STATE_PREFIX, SSD300 } from '../ssd/ssd300';
import { ScheduleConfig } from './schedule';

const MOMENTUM_PREFIX = `${OPTIMIZER_STATE_PREFIX}momentum.`;

/** One point of the training curves: the loss and its parts averaged over the last few steps. */
export interface LossPoint {
  step: number;
  loss: number;
  locLoss: number;
  confLoss: number;
  lr: number;
}

/** An evaluation during training. */
export interface EvalPoint {
  step: number;
  epoch: number;
  mAP: number;
}

export interface TrainingState {
  /** Steps done. */
  step: number;
  /** The epoch in progress (0-based) and how many of its images have been used. */
  epoch: number;
  position: number;
  /** The epoch's shuffled order of image indices. */
  order: number[];
  /** The random generator after the last step (shuffling and augmentation draw from it). */
  rng: RngState;
  /** Training time used so far, in seconds (evaluations excluded). */
  elapsedSeconds: number;
  schedule: ScheduleConfig;
  batchSize: number;
  lossHistory: LossPoint[];
  evalHistory: EvalPoint[];
}

export function saveCheckpoint(file: string, model: SSD300, optimizer: SGD, state: TrainingState, classes: readonly string[]): void {
  const tensors = stateDict(model);
  for (const [name, p] of model.namedParameters()) {
    const buffer = optimizer.momentumBuffer(p);
    if (buffer !== undefined) tensors.set(MOMENTUM_PREFIX + name, new Tensor(p.value.shape, buffer));
  }
  writeSafetensors(file, tensors, { ...model.weightsMetadata(), classes: JSON.stringify(classes), training_state: JSON.stringify(state) });
}

export interface Checkpoint {
  tensors: Map<string, Tensor>;
  /** null for a plain weights file (no training state: training starts over from these weights). */
  state: TrainingState | null;
  classes: string[] | null;
}

export function readCheckpoint(file: string): Checkpoint {
  const { tensors, metadata } = readSafetensors(file);
  let state: TrainingState | null = null;
  if (metadata.training_state !== undefined) {
    state = parseJson(metadata.training_state, file, 'training_state') as TrainingState;
    for (const key of ['step', 'epoch', 'position', 'elapsedSeconds', 'batchSize'] as const) {
      if (typeof state[key] !== 'number') throw new Error(`${file}: training_state has no number '${key}'`);
    }
    if (!Array.isArray(state.order) || typeof state.rng !== 'object' || typeof state.schedule !== 'object') {
      throw new Error(`${file}: training_state lacks the shuffled order, the random state or the schedule`);
    }
  }
  const classes = metadata.classes !== undefined ? parseClassNames(metadata.classes, file) : null;
  return { tensors, state, classes };
}

/** The 'classes' metadata of a weights file: a JSON list of strings, background first. */
export function parseClassNames(text: string, file: string): string[] {
  const parsed = parseJson(text, file, 'classes');
  if (!Array.isArray(parsed) || !parsed.every((c) => typeof c === 'string')) {
    throw new Error(`${file}: metadata 'classes' must be a JSON list of strings, got '${text.slice(0, 60)}'`);
  }
  return parsed as string[];
}

/** Put the momentum buffers of a checkpoint back into the optimizer (by parameter name). */
export function restoreOptimizer(model: SSD300, optimizer: SGD, tensors: Map<string, Tensor>, file: string): void {
  for (const [name, p] of model.namedParameters()) {
    const buffer = tensors.get(MOMENTUM_PREFIX + name);
    if (buffer === undefined) continue; // a parameter that has not taken a step yet
    if (buffer.size !== p.value.size) throw new Error(`${file}: '${MOMENTUM_PREFIX + name}' has ${buffer.size} values, the parameter ${p.value.size}`);
    optimizer.setMomentumBuffer(p, buffer.data);
  }
}

function parseJson(text: string, file: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: metadata '${what}' is not valid JSON (${(e as Error).message})`);
  }
}
