// The page's "train a detector in this tab": starts the training worker (web/train_worker.ts,
// which runs the project's trainer on the demo's recipe, or on the images the user labelled:
// web/label_panel.ts), shows its progress, the loss curves and
// the mAP after each epoch (the same picture `ssd train` writes: train/curves.ts), and lets the
// learner pause, resume, step and stop. When the run ends, its weights become the page's detector
// and can be downloaded as a .safetensors file that `ssd detect --weights` reads.

import { renderTrainingCurves } from '../train/curves';
import type { TrainingState } from '../train/checkpoint';
import { DEMO_CLASSES, DEMO_EPOCHS } from '../demo/recipe';
import type { TrainCommand, TrainMessage } from './train_worker';
import { UserData, userBatchSize } from './user_data';
import { showImage } from './canvas';
import { element } from './dom';

/** What a finished (or stopped) run gives. */
export interface TrainedRun {
  steps: number;
  stoppedBy: string;
  losses: number[];
  elapsedMs: number;
  threads: number;
  /** Making the data set, and the mean time of a step after the first. */
  dataMs: number;
  msPerStep: number;
  weights: Uint8Array;
  /** mAP after each epoch: on the demo's 100 test images, or on the user's (training) images. */
  evalHistory: { step: number; epoch: number; mAP: number }[];
  /** The class names of the weights, background first. */
  classes: string[];
  /** How many of the user's images it trained on; null for the demo's run. */
  userImages: number | null;
}



export class TrainPanel {
  private worker: Worker | null = null;
  private lastStepMs = 0;
  /** The losses of every step so far, as the worker reported them. */
  readonly losses: number[] = [];
  private evalHistory: TrainedRun['evalHistory'] = [];

  /** `onTrained` takes the run's weights (the page loads them as its detector). */
  constructor(private readonly onTrained: (run: TrainedRun) => Promise<void>) {
    element('train-start').addEventListener('click', () => {
      this.start(Number(element<HTMLInputElement>('train-epochs').value)).catch((e: Error) => this.say(`error: ${e.message}`));
    });
    element('train-pause').addEventListener('click', () => this.send({ kind: 'pause' }));
    element('train-resume').addEventListener('click', () => this.send({ kind: 'resume' }));
    element('train-step').addEventListener('click', () => this.send({ kind: 'step' }));
    element('train-stop').addEventListener('click', () => this.send({ kind: 'stop' }));
    this.buttons(false);
  }

  /**
   * Runs `epochs` epochs of the demo, or of the user's images when `data` is given (its buffers
   * are transferred to the worker), or stops after `maxSteps`; resolves when the run ends.
   */
  start(epochs: number, maxSteps?: number, data?: UserData): Promise<TrainedRun> {
    if (this.worker !== null) return Promise.reject(new Error('a run is going on: stop it first'));
    if (!(Number.isInteger(epochs) && epochs >= 1 && epochs <= 100)) return Promise.reject(new Error(`epochs: expected 1 to 100, got ${epochs}`));
    this.losses.length = 0;
    this.evalHistory = [];
    const worker = new Worker('train-worker.js');
    this.worker = worker;
    this.buttons(true);
    const classes = data?.classes ?? [...DEMO_CLASSES];
    const batch = data === undefined ? 8 : userBatchSize(data.images.length);
    const stepsPerEpoch = data === undefined ? 75 : Math.max(1, Math.floor(data.images.length / batch));
    const evaluated = data === undefined ? 'the 100 test images' : `your ${data.images.length} images (the training images: no held-out split for so few)`;
    this.say(`starting: ${epochs} epochs of ${stepsPerEpoch} step${stepsPerEpoch === 1 ? '' : 's'} (${batch} images each) on ${classes.length - 1} classes` +
      `${data === undefined ? '' : ` (${classes.slice(1).join(', ')}), your ${data.images.length} images`}...`);
    let lastCurves: { step: number; epoch: number; lossHistory: TrainingState['lossHistory'] } | null = null;
    return new Promise<TrainedRun>((resolve, reject) => {
      const finish = (): void => {
        worker.terminate();
        this.worker = null;
        this.buttons(false);
      };
      worker.onmessage = (event: MessageEvent<TrainMessage>) => {
        const m = event.data;
        if (m.kind === 'log') {
          element('train-log').textContent = m.line;
        } else if (m.kind === 'step') {
          const r = m.report;
          this.losses.push(r.loss);
          this.evalHistory = r.evalHistory;
          lastCurves = { step: r.step, epoch: r.epoch, lossHistory: r.lossHistory };
          element<HTMLProgressElement>('train-progress').value = r.step / r.totalSteps;
          const perStep = this.losses.length > 1 ? (m.elapsedMs - this.lastStepMs) / 1000 : 0;
          this.lastStepMs = m.elapsedMs;
          const mAP = r.evalHistory.length > 0 ? `; mAP ${r.evalHistory[r.evalHistory.length - 1].mAP.toFixed(3)} after epoch ${r.evalHistory[r.evalHistory.length - 1].epoch}` : '';
          this.say(`step ${r.step} / ${r.totalSteps} (epoch ${r.epoch + 1}): loss ${r.loss.toFixed(3)} (loc ${r.locLoss.toFixed(3)}, conf ${r.confLoss.toFixed(3)}), lr ${r.lr.toExponential(2)}` +
            `${perStep > 0 ? `, ${(batch / perStep).toFixed(1)} img/s` : ''}${mAP}${m.paused ? ' — paused' : ''}`);
          // the curves: every 10 steps (their points are means of 10 steps), and at a pause
          if (r.step % 10 === 0 || m.paused) showImage(element('train-curves'), renderTrainingCurves({ step: r.step, epoch: r.epoch, lossHistory: r.lossHistory, evalHistory: r.evalHistory }, classes.length));
        } else if (m.kind === 'done') {
          finish();
          this.evalHistory = m.evalHistory; // with the evaluation at the end of the run
          // the curves once more, with every step and the last evaluation
          if (lastCurves !== null) showImage(element('train-curves'), renderTrainingCurves({ ...lastCurves, evalHistory: m.evalHistory }, classes.length));
          const run: TrainedRun = {
            steps: m.steps, stoppedBy: m.stoppedBy, losses: m.losses, elapsedMs: m.elapsedMs, threads: m.threads, dataMs: m.dataMs, msPerStep: m.msPerStep, weights: m.weights, evalHistory: this.evalHistory,
            classes, userImages: data === undefined ? null : data.images.length,
          };
          const last = this.evalHistory[this.evalHistory.length - 1];
          this.say(`done: ${m.steps} steps in ${(m.elapsedMs / 60000).toFixed(1)} min on ${m.threads} thread${m.threads === 1 ? '' : 's'}` +
            `${last !== undefined ? `; mAP ${last.mAP.toFixed(3)} on ${evaluated}` : ''}; the detector above now uses these weights`);
          const link = element<HTMLAnchorElement>('train-download');
          link.href = URL.createObjectURL(new Blob([m.weights as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
          link.hidden = false;
          this.onTrained(run).then(() => resolve(run), reject);
        } else {
          finish();
          this.say(`error: ${m.message}`);
          reject(new Error(m.message));
        }
      };
      worker.onerror = (event) => {
        finish();
        reject(new Error(`the training worker failed: ${event.message}`));
      };
      const command: TrainCommand = { kind: 'start', epochs, maxSteps, data };
      worker.postMessage(command, data === undefined ? [] : data.images.map((img) => img.data.buffer as ArrayBuffer));
    });
  }

  /** Pause, resume, step or stop the run (between steps). */
  send(command: TrainCommand): void {
    this.worker?.postMessage(command);
  }

  private say(text: string): void {
    element('train-status').textContent = text;
  }

  private buttons(running: boolean): void {
    element<HTMLButtonElement>('train-start').disabled = running;
    for (const id of ['train-pause', 'train-resume', 'train-step', 'train-stop']) element<HTMLButtonElement>(id).disabled = !running;
  }
}

export { DEMO_EPOCHS };
