// What the trainer shows while it works. On a terminal: one line redrawn in place, a bar for the
// epoch, the loss and its parts, images per second, and the time left in the epoch and the run.
// Otherwise (a log file, CI): a plain line every 10 steps and on the first.

export interface StepInfo {
  step: number;
  totalSteps: number;
  epoch: number; // 0-based
  epochs: number;
  positionInEpoch: number; // images of this epoch used
  epochLength: number; // images per epoch (full batches)
  batchSize: number;
  loss: number;
  locLoss: number;
  confLoss: number;
  lr: number;
  imagesPerSecond: number;
  elapsedSeconds: number;
  maxSeconds: number;
  nPositives: number;
  gradNorm: number;
}

export class Progress {
  private lastLineLength = 0;
  private smoothedRate = NaN;
  private smoothedLoss = NaN;

  constructor(
    private readonly bar: boolean,
    private readonly log: (line: string) => void,
  ) {}

  update(info: StepInfo): void {
    this.smoothedRate = Number.isNaN(this.smoothedRate) ? info.imagesPerSecond : 0.9 * this.smoothedRate + 0.1 * info.imagesPerSecond;
    this.smoothedLoss = Number.isNaN(this.smoothedLoss) ? info.loss : 0.9 * this.smoothedLoss + 0.1 * info.loss;
    const secondsPerImage = 1 / this.smoothedRate;
    const epochLeft = Math.max(0, info.epochLength - info.positionInEpoch) * secondsPerImage;
    const stepsLeft = Number.isFinite(info.totalSteps) ? info.totalSteps - info.step : Infinity;
    const runLeft = Math.min(stepsLeft * info.batchSize * secondsPerImage, info.maxSeconds - info.elapsedSeconds);
    const parts = `loss ${info.loss.toFixed(3)} (avg ${this.smoothedLoss.toFixed(3)}; loc ${info.locLoss.toFixed(3)}, conf ${info.confLoss.toFixed(3)})`;
    if (this.bar) {
      const width = 20;
      const filled = Math.round((width * info.positionInEpoch) / Math.max(1, info.epochLength));
      const line =
        `epoch ${info.epoch + 1}/${info.epochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] step ${info.step} ${parts} ` +
        `${this.smoothedRate.toFixed(1)} img/s, epoch ETA ${formatDuration(epochLeft)}, run ETA ${formatDuration(runLeft)}`;
      process.stdout.write(`\r${line.padEnd(this.lastLineLength)}`);
      this.lastLineLength = line.length;
    } else if (info.step === 1 || info.step % 10 === 0) {
      this.log(
        `epoch ${info.epoch + 1} step ${info.step}: ${parts}, ${info.nPositives} positives, grad norm ${info.gradNorm.toFixed(2)}, ` +
          `lr ${info.lr.toExponential(2)}, ${info.imagesPerSecond.toFixed(1)} img/s, run ETA ${formatDuration(runLeft)}`,
      );
    }
  }

  /** A message between steps (an evaluation, a warning): on its own line. */
  message(line: string): void {
    this.done();
    this.log(line);
  }

  /** End the redrawn line, if any. */
  done(): void {
    if (this.bar && this.lastLineLength > 0) process.stdout.write('\n');
    this.lastLineLength = 0;
  }
}

/** 75 -> '1:15', 3725 -> '1:02:05', Infinity -> '?'. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
