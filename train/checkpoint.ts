// Training checkpoints: one safetensors file that is also a plain weights file.
//
//   the model's tensors          under their state_dict names ('base.conv1_1.weight', ...,
//                                batch norms' running statistics included)
//   the optimizer's momentum     'optimizer.momentum.<parameter name>', in the parameter's dtype
//                                (float32: the SGD keeps its buffers there, rounding where PyTorch
//                                rounds), so a resumed run continues bit for bit
//   metadata 'training_state'    JSON: step, epoch, position in the epoch's shuffled order and the
//                                order itself, the random generator's state, the schedule, the
//                                time used, and the history the training curves are drawn from
//   metadata 'classes'           JSON list of the class names, background first
//
// `ssd detect --weights checkpoint.safetensors` and model.loadWeights() read it as weights: they
// skip the optimizer's tensors. It is written atomically (temporary file + rename), so an
// interrupted write never destroys the previous checkpoint.
//
// A checkpoint is input like any other file: its training state is checked field by field (types,
// ranges, lengths, a generator state that is not degenerate) when it is read, and a resumed run
// must match it (classes, data set), before anything is trained or written.

import { Tensor } from '../tensor/tensor';
import { RngState } from '../tensor/random';
import { readSafetensors, writeSafetensors } from '../tensor/safetensors';
import { stateDict } from '../layers/layer';
import { SGD } from '../layers/sgd';
import { OPTIMIZER_STATE_PREFIX, SSD300 } from '../ssd/ssd300';
import { DataSource } from '../data/source';
import { SCHEDULE_KINDS, ScheduleConfig, ScheduleKind } from './schedule';
import { parseClassNames } from '../data/class_names';

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
  /**
   * The fingerprint of the data set's image list (data/annotations.ts, samplesFingerprint), where
   * the data source has one (see withFingerprint): a resumed run on another data set is refused.
   */
  dataset?: string;
}

/** A data source that says which images it holds (a fingerprint of its image list). */
export type FingerprintedSource = DataSource & { fingerprint: string };

/** `data` with the fingerprint of its image list, for the checkpoint's training state. */
export function withFingerprint(data: DataSource, fingerprint: string): FingerprintedSource {
  return Object.assign(data, { fingerprint });
}

/** The fingerprint a data source carries (see withFingerprint), or undefined: then a resumed run cannot check it. */
export function fingerprintOf(data: DataSource): string | undefined {
  const fingerprint: unknown = (data as Partial<FingerprintedSource>).fingerprint;
  return typeof fingerprint === 'string' ? fingerprint : undefined;
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
  /** The file it was read from (for messages). */
  file: string;
  tensors: Map<string, Tensor>;
  /** The file's metadata as it is (the class names and training state are parsed below). */
  metadata: Record<string, string>;
  /** null for a plain weights file (no training state: training starts over from these weights). */
  state: TrainingState | null;
  classes: string[] | null;
}

export function readCheckpoint(file: string): Checkpoint {
  const { tensors, metadata } = readSafetensors(file);
  const state = metadata.training_state !== undefined ? parseTrainingState(metadata.training_state, file) : null;
  const classes = metadata.classes !== undefined ? parseClassNames(metadata.classes, file) : null;
  return { file, tensors, metadata, state, classes };
}

/**
 * The largest value of Box-Muller's spare normal: sqrt(-2 ln 2^-32), the radius when the uniform
 * is the smallest above 0 (6.66). A saved spare beyond it was not made by the generator.
 */
const MAX_SPARE_NORMAL = Math.sqrt(-2 * Math.log(2 ** -32));

/**
 * The 'training_state' metadata, checked field by field: every field there with its type and range,
 * the shuffled order a permutation, the position inside it, the random generator's four words
 * 32-bit and not all zero (xoshiro's one degenerate state: it gives zeros for ever, and the crop
 * sampler, which draws until a crop fits, never returns), the histories lists of points of finite
 * numbers. Errors name the file, the field, what was expected and what is there. The state
 * returned holds only these fields, freshly built.
 */
export function parseTrainingState(text: string, file: string): TrainingState {
  const raw = parseJson(text, file, 'training_state');
  const show = (value: unknown): string => {
    const shown = JSON.stringify(value);
    return shown === undefined ? 'nothing' : shown.length > 60 ? `${shown.slice(0, 60)}...` : shown;
  };
  const fail = (field: string, expected: string, value: unknown): never => {
    throw new Error(`${file}: training_state: '${field}' must be ${expected}, got ${show(value)}`);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(raw)) return fail('training_state', 'a JSON object', raw);
  const integer = (o: Record<string, unknown>, key: string, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(field, `an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}`, v);
    return v as number;
  };
  const finite = (o: Record<string, unknown>, key: string, field: string, min = -Infinity): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(field, min === -Infinity ? 'a finite number' : `a finite number of at least ${min}`, v);
    return v as number;
  };
  const list = (key: string): unknown[] => {
    const v = raw[key];
    if (!Array.isArray(v)) fail(key, 'a list', v);
    return v as unknown[];
  };

  const step = integer(raw, 'step', 'step', 0);
  const epoch = integer(raw, 'epoch', 'epoch', 0);
  const orderRaw = list('order');
  if (orderRaw.length === 0) fail('order', 'a permutation of the image indices', orderRaw);
  const seen = new Uint8Array(orderRaw.length);
  const order = orderRaw.map((v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= orderRaw.length || seen[v] === 1) {
      fail(`order[${i}]`, `an index from 0 to ${orderRaw.length - 1} not used before (the order is a permutation)`, v);
    }
    seen[v as number] = 1;
    return v as number;
  });
  const position = integer(raw, 'position', 'position', 0, order.length);

  const rngRaw = raw.rng;
  if (!isObject(rngRaw)) return fail('rng', 'an object {s, spareNormal}', rngRaw);
  const words = rngRaw.s;
  if (!Array.isArray(words) || words.length !== 4 || !words.every((w) => typeof w === 'number' && Number.isInteger(w) && w >= 0 && w < 2 ** 32)) {
    return fail('rng.s', 'four 32-bit unsigned integers', words);
  }
  if (words.every((w) => w === 0)) fail('rng.s', 'a generator state that is not all zeros (that state gives zeros for ever)', words);
  const spare = rngRaw.spareNormal;
  if (spare !== null && (typeof spare !== 'number' || !(Math.abs(spare) <= MAX_SPARE_NORMAL))) {
    fail('rng.spareNormal', `null or a number from -${MAX_SPARE_NORMAL.toFixed(2)} to ${MAX_SPARE_NORMAL.toFixed(2)}`, spare);
  }
  const rng: RngState = { s: words.map(Number), spareNormal: spare as number | null };

  const elapsedSeconds = finite(raw, 'elapsedSeconds', 'elapsedSeconds', 0);
  const scheduleRaw = raw.schedule;
  if (!isObject(scheduleRaw)) return fail('schedule', 'an object {kind, lr, warmupSteps}', scheduleRaw);
  if (!(SCHEDULE_KINDS as readonly unknown[]).includes(scheduleRaw.kind)) fail('schedule.kind', SCHEDULE_KINDS.join(', '), scheduleRaw.kind);
  const schedule: ScheduleConfig = {
    kind: scheduleRaw.kind as ScheduleKind,
    lr: finite(scheduleRaw, 'lr', 'schedule.lr', Number.MIN_VALUE),
    warmupSteps: integer(scheduleRaw, 'warmupSteps', 'schedule.warmupSteps', 0),
  };
  if (scheduleRaw.milestones !== undefined) {
    const m = scheduleRaw.milestones;
    if (!Array.isArray(m) || !m.every((x) => typeof x === 'number' && x >= 0 && x <= 1)) fail('schedule.milestones', 'a list of fractions from 0 to 1', m);
    schedule.milestones = (m as number[]).slice();
  }
  if (scheduleRaw.gamma !== undefined) schedule.gamma = finite(scheduleRaw, 'gamma', 'schedule.gamma', Number.MIN_VALUE);
  const batchSize = integer(raw, 'batchSize', 'batchSize', 1);

  const lossHistory = list('lossHistory').map((p, i): LossPoint => {
    const field = `lossHistory[${i}]`;
    if (!isObject(p)) return fail(field, 'an object {step, loss, locLoss, confLoss, lr}', p);
    return {
      step: integer(p, 'step', `${field}.step`, 1, step),
      loss: finite(p, 'loss', `${field}.loss`),
      locLoss: finite(p, 'locLoss', `${field}.locLoss`),
      confLoss: finite(p, 'confLoss', `${field}.confLoss`),
      lr: finite(p, 'lr', `${field}.lr`, 0),
    };
  });
  const evalHistory = list('evalHistory').map((p, i): EvalPoint => {
    const field = `evalHistory[${i}]`;
    if (!isObject(p)) return fail(field, 'an object {step, epoch, mAP}', p);
    // a mAP of NaN (no class with an object that counts) is written as null by JSON
    if (p.mAP !== null && !(typeof p.mAP === 'number' && p.mAP >= 0 && p.mAP <= 1)) fail(`${field}.mAP`, 'a number from 0 to 1, or null', p.mAP);
    return { step: integer(p, 'step', `${field}.step`, 0, step), epoch: integer(p, 'epoch', `${field}.epoch`, 0), mAP: p.mAP === null ? NaN : (p.mAP as number) };
  });
  const state: TrainingState = { step, epoch, position, order, rng, elapsedSeconds, schedule, batchSize, lossHistory, evalHistory };
  if (raw.dataset !== undefined) {
    if (typeof raw.dataset !== 'string' || raw.dataset.length > 200) fail('dataset', 'a fingerprint of the image list (a short string)', raw.dataset);
    state.dataset = raw.dataset as string;
  }
  return state;
}

/**
 * Whether a run may go on from `checkpoint`: the same classes in the same order (the same names in
 * another order would rename what the network learned), and, with a training state, the same data
 * set: as many images (the saved order indexes them) and the same fingerprint of the image list
 * where both have one. Errors name the file and both values; `log` hears what could not be checked.
 */
export function checkResume(checkpoint: Checkpoint, file: string, current: { classes: readonly string[]; data: DataSource; log: (line: string) => void }): void {
  const { classes, data, log } = current;
  if (checkpoint.classes !== null && (checkpoint.classes.length !== classes.length || checkpoint.classes.some((c, i) => c !== classes[i]))) {
    throw new Error(
      `${file}: the checkpoint's classes are ${checkpoint.classes.join(', ')}; this run's are ${classes.join(', ')}` +
        ' (resume needs the same classes in the same order: give --classes as the checkpoint has them)',
    );
  }
  const state = checkpoint.state;
  if (state === null) return;
  if (state.order.length !== data.length) {
    throw new Error(`${file}: the checkpoint was trained on ${state.order.length} images, this data set has ${data.length}`);
  }
  const fingerprint = fingerprintOf(data);
  if (state.dataset !== undefined && fingerprint !== undefined && state.dataset !== fingerprint) {
    throw new Error(
      `${file}: the checkpoint was trained on another data set (its image list: ${state.dataset}; this one: ${fingerprint}): ` +
        'other images, another order of them, or other boxes',
    );
  }
  if (state.dataset === undefined && fingerprint !== undefined) log(`resume: ${file} does not record which images it was trained on; the data set is not checked`);
}


/**
 * Put the momentum buffers of a checkpoint back into the optimizer (by parameter name). Every
 * optimizer tensor must be the momentum of a parameter of this model, of its shape, and finite: a
 * NaN there would only show as a non-finite loss some steps later.
 */
export function restoreOptimizer(model: SSD300, optimizer: SGD, tensors: Map<string, Tensor>, file: string): void {
  const params = new Map(model.namedParameters());
  for (const [name, buffer] of tensors) {
    if (!name.startsWith(OPTIMIZER_STATE_PREFIX)) continue;
    const p = name.startsWith(MOMENTUM_PREFIX) ? params.get(name.slice(MOMENTUM_PREFIX.length)) : undefined;
    if (p === undefined) throw new Error(`${file}: '${name}' is not the momentum of a parameter of this model`);
    const shape = (s: readonly number[]): string => `(${s.join(', ')})`;
    if (buffer.shape.length !== p.value.shape.length || buffer.shape.some((d, i) => d !== p.value.shape[i])) {
      throw new Error(`${file}: '${name}' has shape ${shape(buffer.shape)}, the parameter ${shape(p.value.shape)}`);
    }
    const bad = buffer.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${file}: '${name}' holds ${buffer.data[bad]} at index ${bad}: the momentum must be finite`);
  }
  for (const [name, p] of params) {
    const buffer = tensors.get(MOMENTUM_PREFIX + name);
    if (buffer === undefined) continue; // a parameter that has not taken a step yet
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
