// The learning rate over a run: a linear warm-up, then a decay.
//
//   warm-up   lr rises linearly from lr/warmupSteps to lr over the first warmupSteps steps (or
//             over the first warmupShare of the run). From scratch (and with batch norm's large
//             learning rates) the first steps see huge gradients; a full-size step there can
//             throw the weights far off.
//   'cosine'  lr * (1 + cos(pi * progress)) / 2, from lr down to 0 at the end of the run;
//   'steps'   the paper's schedule: lr, then lr * 0.1 from 2/3 of the run and lr * 0.01 from 5/6
//             (SSD300 on VOC: 40k iterations at 1e-3, then 10k at 1e-4 and 10k at 1e-5);
//   'constant' lr throughout.
//
// progress is the fraction of the run done, in [0, 1]: steps done / total steps when the run has
// a step count, else the share of its time budget used (then a resumed run follows the same
// curve only as closely as its step times repeat).

export const SCHEDULE_KINDS = ['cosine', 'steps', 'constant'] as const;
export type ScheduleKind = (typeof SCHEDULE_KINDS)[number];

export interface ScheduleConfig {
  kind: ScheduleKind;
  /** The peak learning rate. */
  lr: number;
  warmupSteps: number;
  /**
   * The warm-up as a share of the run instead (e.g. 0.03): lr rises linearly with the run's
   * progress after the step, up to lr at that share. It takes the same share of a run of any
   * length or time budget, where warmupSteps would take most of a short one.
   */
  warmupShare?: number;
  /** For 'steps': where the rate drops, as fractions of the run, and by how much each time. */
  milestones?: readonly number[];
  gamma?: number;
}

export const PAPER_MILESTONES: readonly number[] = [2 / 3, 5 / 6];

/**
 * The learning rate of step `step` (0-based), `progress` of the way through the run when it
 * starts and `progressAfter` when it ends (the warm-up's measure with warmupShare: the first
 * step's rate is then the share of the run it completes, not 0).
 */
export function learningRate(config: ScheduleConfig, step: number, progress: number, progressAfter = progress): number {
  let warmup = 1;
  if (config.warmupShare !== undefined && config.warmupShare > 0) warmup = Math.min(1, progressAfter / config.warmupShare);
  else if (config.warmupSteps > 0) warmup = Math.min(1, (step + 1) / config.warmupSteps);
  const p = Math.min(Math.max(progress, 0), 1);
  let decay = 1;
  if (config.kind === 'cosine') {
    decay = (1 + Math.cos(Math.PI * p)) / 2;
  } else if (config.kind === 'steps') {
    const gamma = config.gamma ?? 0.1;
    for (const milestone of config.milestones ?? PAPER_MILESTONES) if (p >= milestone) decay *= gamma;
  }
  return config.lr * warmup * decay;
}

export function checkSchedule(config: ScheduleConfig): void {
  if (!SCHEDULE_KINDS.includes(config.kind)) throw new Error(`schedule: unknown kind '${config.kind}', choose one of ${SCHEDULE_KINDS.join(', ')}`);
  if (!(config.lr > 0 && Number.isFinite(config.lr))) throw new Error(`schedule: the learning rate must be a positive number, got ${config.lr}`);
  if (!(Number.isInteger(config.warmupSteps) && config.warmupSteps >= 0)) throw new Error(`schedule: warm-up steps must be a non-negative integer, got ${config.warmupSteps}`);
  if (config.warmupShare !== undefined && !(config.warmupShare >= 0 && config.warmupShare < 1)) {
    throw new Error(`schedule: the warm-up share must be in [0, 1), got ${config.warmupShare}`);
  }
}
