// The page: load weights and an image, run SSD300, show its detections, and the four pictures of
// `ssd explain` on that image, interactive. Everything numeric comes from the project's modules
// (web/model.ts, explain/); this file only wires them to the page.

import { RgbImage } from '../data/image';
import { resizeBilinear } from '../data/resize';
import { SSD_INPUT_SIZE } from '../data/image_tensor';
import { createPriors, FEATURE_MAPS } from '../ssd/priors';
import { SSD300 } from '../ssd/ssd300';
import { Panel } from '../explain/panels';
import { renderPriors } from '../explain/priors';
import { renderMatching } from '../explain/matching';
import { renderMining } from '../explain/mining';
import { renderDetection } from '../explain/detection';
import { SceneObject, exampleObjects } from '../explain/scene';
import { ControlName, ControlNumbers, PictureId, controls } from './controls';
import { BackendChoice, LoadedWeights, RunResult, buildModel, createBrowserKernels, createWasmKernels, parseWeights, runDetector } from './model';
import { WasmKernels } from '../kernels/wasm';
import { TrainPanel, TrainedRun } from './train_panel';
import { LabelPanel } from './label_panel';
import type { BoxXy } from '../data/annotations';
import { showImage as paint } from './canvas';
import { canvas, element, input, select } from './dom';

// ---------------------------------------------------------------------------------------------
// Page state

interface Example {
  classes: string[];
  objects: SceneObject[];
  /** Where the build took the weights from. */
  weights: string;
}

const state: {
  weights: LoadedWeights | null;
  model: SSD300 | null;
  backend: string;
  note: string; // what the status line says of the kernels (why they run on one thread, ...)
  image: RgbImage | null; // as decoded
  image300: RgbImage | null; // what SSD sees
  imageName: string;
  example: Example | null; // the annotation of the example image, while it is shown
  run: RunResult | null;
  only: number | undefined; // the ground-truth box clicked in the matching picture
} = { weights: null, model: null, backend: '', note: '', image: null, image300: null, imageName: '', example: null, run: null, only: undefined };

const priorsCxcy = createPriors(); // (8732, 4)

const $ = element;

function status(text: string): void {
  $('status').textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Images in and out of canvases

/** Decode an image file with the browser's decoder, as RGB bytes (alpha dropped, no colour management). */
async function decodeBlob(blob: Blob): Promise<RgbImage> {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const c = document.createElement('canvas');
  c.width = bitmap.width;
  c.height = bitmap.height;
  const ctx = c.getContext('2d', { colorSpace: 'srgb' }) as CanvasRenderingContext2D;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, c.width, c.height).data;
  const data = new Uint8Array(c.width * c.height * 3);
  for (let i = 0; i < c.width * c.height; i++) {
    data[3 * i] = rgba[4 * i];
    data[3 * i + 1] = rgba[4 * i + 1];
    data[3 * i + 2] = rgba[4 * i + 2];
  }
  return { width: c.width, height: c.height, data };
}


/** The point of a panel under the mouse, as fractions of the image, or null outside every panel. */
function pointIn(event: MouseEvent, target: HTMLCanvasElement, panels: readonly Panel[]): { panel: number; fx: number; fy: number } | null {
  const rect = target.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * target.width) / rect.width;
  const y = ((event.clientY - rect.top) * target.height) / rect.height;
  for (let k = 0; k < panels.length; k++) {
    const p = panels[k];
    if (x >= p.x && y >= p.y && x < p.x + p.size && y < p.y + p.size) return { panel: k, fx: (x - p.x) / p.size, fy: (y - p.y) / p.size };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Loading

async function loadWeights(bytes: Uint8Array, source: string): Promise<void> {
  state.weights = parseWeights(bytes, source);
  if (state.model !== null) await state.model.kernels.dispose(); // its workers too
  state.model = null;
  const w = state.weights;
  $('weights-info').textContent = `${source}: ${w.nClasses} classes (${w.classes.slice(1).join(', ')}), width divisor ${w.widthDivisor}`;
}

async function loadImage(blob: Blob, name: string, example: Example | null): Promise<void> {
  showImage(await decodeBlob(blob), name, example);
}

/** Make a decoded image the page's: what SSD sees, the priors and matching pictures. */
function showImage(image: RgbImage, name: string, example: Example | null): void {
  state.image = image;
  state.image300 = resizeBilinear(state.image, SSD_INPUT_SIZE, SSD_INPUT_SIZE);
  state.imageName = name;
  state.example = example;
  state.run = null;
  state.only = undefined;
  select('gt-source').value = example === null ? 'detections' : 'annotation';
  $('image-info').textContent = `${name}: ${state.image.width}x${state.image.height}, shown as SSD sees it (300x300)`;
  drawPriors();
  drawMatching();
  // the pictures of the last image's detection go until Detect runs on this one
  for (const id of ['detections', 'mining']) {
    canvas(id).width = 0;
    canvas(id).height = 0;
  }
  $('detections-table').innerHTML = '';
  controls.detectionCleared();
}

/** A small checksum of the decoded pixels, so a test can tell that Node and the page read the same image. */
function checksum(img: RgbImage): number {
  return checksumBytes(img.data);
}

/** FNV-1a of bytes (the browser test computes the same in Node). */
function checksumBytes(data: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 16777619) >>> 0;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Running the detector

async function model(choice: BackendChoice): Promise<{ model: SSD300; note: string }> {
  if (state.weights === null) throw new Error('load a weights file first');
  if (state.model !== null && state.backend === choice) return { model: state.model, note: state.note };
  if (state.model !== null) await state.model.kernels.dispose();
  const { kernels, note } = choice === 'wasm' ? await createWasmKernels() : createBrowserKernels(choice);
  state.model = buildModel(state.weights, kernels);
  state.backend = choice;
  state.note = note;
  return { model: state.model, note };
}

/** The kernels a model runs on, as the status line names them: which, with how many threads. */
function kernelsInWords(m: SSD300): string {
  const k = m.kernels;
  if (k instanceof WasmKernels) return `the WebAssembly kernels (${k.microKernel === 'relaxed' ? 'relaxed SIMD' : 'SIMD128'}, ${k.threads} thread${k.threads === 1 ? '' : 's'})`;
  return k.name === 'reference' ? 'the reference CPU kernels' : `GPU.js ${k.name.replace('gpu.js:', '')} kernels`;
}

function minScore(): number {
  return Number(input('min-score').value);
}

async function detect(choice: BackendChoice): Promise<RunResult> {
  if (state.image === null) throw new Error('choose an image first');
  status(`running SSD300 on ${choice === 'wasm' ? 'the WebAssembly kernels' : choice === 'webgl' ? 'GPU.js WebGL' : 'the CPU kernels'}...`);
  let { model: m, note } = await model(choice);
  let run: RunResult;
  try {
    run = await runDetector(m, state.image, { minScore: minScore(), maxOverlap: controls.maxOverlap, topK: 200 }, note);
  } catch (e) {
    if (choice === 'cpu') throw e;
    // A WebGL context that exists but cannot run the kernels (GPU.js says why), or a browser
    // without WebAssembly SIMD: the CPU kernels instead, and the status line says why.
    const why = (e as Error).message;
    ({ model: m } = await model('cpu'));
    run = await runDetector(m, state.image, { minScore: minScore(), maxOverlap: controls.maxOverlap, topK: 200 }, `${choice === 'wasm' ? 'WebAssembly' : 'WebGL'} failed (${why}), so the CPU kernels ran`);
  }
  state.run = run;
  const where = kernelsInWords(m);
  status(`${run.detections.length} detections; ran on ${where}: forward ${run.forwardMs.toFixed(0)} ms, detection ${run.detectMs.toFixed(0)} ms${run.note ? ` (${run.note})` : ''}`);
  drawDetections();
  drawMatching();
  drawMining();
  return run;
}

// ---------------------------------------------------------------------------------------------
// The pictures

function classes(): readonly string[] {
  return state.weights?.classes ?? state.example?.classes ?? [];
}

/** The ground truth the matching and mining pictures use. */
function groundTruth(): SceneObject[] {
  const source = select('gt-source').value;
  if (source === 'annotation' && state.example !== null) return state.example.objects;
  if (source === 'detections') {
    if (state.run === null) return []; // until Detect has run
    const clip = (v: number): number => Math.min(Math.max(v, 0), 1);
    return state.run.detections
      .map((d) => ({ boxXy: d.box.map(clip) as [number, number, number, number], label: d.label }))
      .filter((o) => o.boxXy[2] > o.boxXy[0] && o.boxXy[3] > o.boxXy[1]);
  }
  return exampleObjects(classes().length || 21);
}

let priorPanels: Panel[] = [];
function drawPriors(point: [number, number] = [0.5, 0.5]): void {
  const picture = renderPriors(state.image300, { map: select('prior-map').value, point, maps: controls.maps, priorsCxcy: controls.priorsCxcy(priorsCxcy) });
  priorPanels = picture.panels;
  paint(canvas('priors'), picture.image);
}

let matchingPanel: Panel | null = null;
function drawMatching(): void {
  const objects = groundTruth();
  if (state.only !== undefined && state.only >= objects.length) state.only = undefined;
  const picture = renderMatching(state.image300, objects, { classes: classes(), only: state.only, priorsCxcy, threshold: controls.threshold });
  matchingPanel = picture.panel;
  controls.numbers.positives = picture.match.nPositives;
  paint(canvas('matching'), picture.image);
  $('matching-info').textContent = objects.length === 0
    ? 'no ground truth yet (press Detect to use the detections): nothing is matched'
    : state.only === undefined ? 'click a ground-truth box to see only its priors' : `object ${state.only} only; click outside the boxes to see all`;
}

function drawMining(): void {
  if (state.run === null) return;
  const picture = renderMining(state.image300, groundTruth(), state.run.scores, { priorsCxcy, source: `this model, ${state.imageName}`, threshold: controls.threshold, negPosRatio: controls.negPosRatio });
  controls.numbers.hardNegatives = picture.hardNegatives.length;
  paint(canvas('mining'), picture.image);
}

function drawDetections(): void {
  const run = state.run;
  if (run === null) return;
  const picture = renderDetection(state.image300, run.locs, run.scores, { minScore: minScore(), maxOverlap: controls.maxOverlap, classes: classes(), priorsCxcy, source: state.imageName });
  paint(canvas('detections'), picture.image);
  run.detections = picture.final; // detectObjects at the current min score and NMS overlap, from the kept predictions
  const img = state.image as RgbImage;
  const rows = run.detections.slice(0, 50).map((d) => {
    const px = [d.box[0] * img.width, d.box[1] * img.height, d.box[2] * img.width, d.box[3] * img.height].map((v) => Math.round(v));
    return `<tr><td>${classes()[d.label] ?? d.label}</td><td>${d.score.toFixed(3)}</td><td>[${px.join(', ')}]</td></tr>`;
  });
  $('detections-table').innerHTML = `<tr><th>class</th><th>score</th><th>box (pixels)</th></tr>${rows.join('')}`;
  controls.detected(picture); // NMS step by step, the precision-recall curve
}

// ---------------------------------------------------------------------------------------------
// Wiring

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function loadExample(): Promise<void> {
  const [weights, image, annotation] = await Promise.all([
    fetchBytes('weights.safetensors'),
    fetch('example.png').then((r) => r.blob()),
    fetch('example.json').then((r) => r.json() as Promise<Example>),
  ]);
  await loadWeights(weights, annotation.weights);
  await loadImage(image, 'example.png', annotation);
}

function wire(): void {
  const mapSelect = select('prior-map');
  mapSelect.innerHTML = ['all', ...FEATURE_MAPS.map((m) => m.name)].map((n) => `<option value="${n}">${n === 'all' ? 'all six maps' : n}</option>`).join('');
  mapSelect.addEventListener('change', () => drawPriors());
  canvas('priors').addEventListener('mousemove', (e) => {
    const at = pointIn(e, canvas('priors'), priorPanels);
    if (at !== null) drawPriors([at.fx, at.fy]);
  });
  canvas('matching').addEventListener('click', (e) => {
    if (matchingPanel === null) return;
    const at = pointIn(e, canvas('matching'), [matchingPanel]);
    const objects = groundTruth();
    // The smallest box under the click (boxes may nest).
    let hit: number | undefined;
    if (at !== null) {
      objects.forEach((o, k) => {
        const [x0, y0, x1, y1] = o.boxXy;
        const inside = at.fx >= x0 && at.fx <= x1 && at.fy >= y0 && at.fy <= y1;
        const area = (x1 - x0) * (y1 - y0);
        if (inside && (hit === undefined || area < (objects[hit].boxXy[2] - objects[hit].boxXy[0]) * (objects[hit].boxXy[3] - objects[hit].boxXy[1]))) hit = k;
      });
    }
    state.only = hit;
    drawMatching();
  });
  select('gt-source').addEventListener('change', () => {
    state.only = undefined;
    drawMatching();
    drawMining();
  });
  input('min-score').addEventListener('input', () => {
    $('min-score-value').textContent = minScore().toFixed(2);
  });
  $('run').addEventListener('click', () => {
    detect(select('backend').value as BackendChoice).catch((e: Error) => status(`error: ${e.message}`));
  });
  input('weights-file').addEventListener('change', () => {
    const file = input('weights-file').files?.[0];
    if (file === undefined) return;
    file.arrayBuffer()
      .then((b) => loadWeights(new Uint8Array(b), file.name))
      .then(() => status(`loaded ${file.name}; press Detect`))
      .catch((e: Error) => status(`error: ${e.message}`));
  });
  const takeImage = (file: File | undefined): void => {
    if (file === undefined) return;
    loadImage(file, file.name, null)
      .then(() => status(`loaded ${file.name}; press Detect`))
      .catch((e: Error) => status(`error: ${file.name}: ${e.message}`));
  };
  input('image-file').addEventListener('change', () => takeImage(input('image-file').files?.[0]));
  document.body.addEventListener('dragover', (e) => e.preventDefault());
  document.body.addEventListener('drop', (e) => {
    e.preventDefault();
    takeImage(e.dataTransfer?.files[0]);
  });
  controls.wire({
    run: () => state.run, image300: () => state.image300, classes, annotation: () => state.example?.objects ?? null, priorsCxcy,
    redraw: { priors: () => drawPriors(), matching: drawMatching, mining: drawMining, detections: drawDetections },
  });
}

// What the browser test drives (spec/web/page.browser.ts).
export interface PageApi {
  ready: Promise<void>;
  detect(backend: BackendChoice): Promise<{ backend: string; note: string; forwardMs: number; detectMs: number; detections: RunResult['detections']; imageChecksum: number }>;
  /** Where the image panels lie on the priors and matching canvases (canvas pixels). */
  panels(): { priors: Panel[]; matching: Panel | null };
  /** Set a control (web/controls.ts, CONTROL_INPUTS) as a user would: its pictures are redrawn when this returns, with these numbers. */
  setControl(name: ControlName, value: number | string): ControlNumbers;
  /** Every control back to its default (the reset button). */
  resetControls(): ControlNumbers;
  /** The numbers behind the pictures: control values, prior counts, positives, NMS steps, PR curves and AP. */
  controlNumbers(): ControlNumbers;
  /** A picture on the page (detections, priors, matching, mining, nms, pr): its size, pixel checksum and PNG data URL. */
  pictureOf(id: PictureId): { width: number; height: number; checksum: number; dataUrl: string };
  /** Train the demo's detector in the tab (web/train_panel.ts): `epochs`, or stop after `maxSteps`. */
  train(epochs: number, maxSteps?: number): Promise<Omit<TrainedRun, 'weights'> & { weightsChecksum: number; weightsBytes: number }>;
  /** Pause, resume, step or stop the run going on. */
  trainControl(kind: 'pause' | 'resume' | 'step' | 'stop'): void;
  /** The losses of the steps made so far in the run going on (or the last one). */
  trainLosses(): number[];
  /** The labelling section (web/label_panel.ts): its images, their boxes (class names) and the class list. */
  labels(): LabelsSummary;
  /** Train on the labelled images (web/label_panel.ts, the training worker): `epochs`, or stop after `maxSteps`. */
  trainOnLabels(epochs: number, maxSteps?: number): Promise<Omit<TrainedRun, 'weights'> & { weightsChecksum: number; weightsBytes: number }>;
}

/** What the labelling section holds. */
export interface LabelsSummary {
  classes: string[];
  images: number;
  boxes: number;
  /** The image shown (0-based) and the box selected on it. */
  current: number;
  selected: number | null;
  list: { name: string; width: number; height: number; boxes: { boxXy: BoxXy; label: string }[] }[];
}

// Training in the tab: the finished run's weights become the page's detector. After a run on the
// user's images, it detects on the image shown in the labelling section.
const trainPanel = new TrainPanel(async (run) => {
  await loadWeights(run.weights, run.userImages === null ? `trained in this tab (${run.steps} steps)` : `trained in this tab on your ${run.userImages} images (${run.steps} steps)`);
  if (run.userImages !== null && labelPanel.images.length > 0) await labelPanel.detect();
  else if (state.image !== null) await detect(select('backend').value as BackendChoice);
});

// Your own data: label images, train on them, download them as a VOC zip.
const labelPanel = new LabelPanel({
  decode: decodeBlob,
  epochs: () => Number(input('train-epochs').value),
  train: (epochs, maxSteps, data) => trainPanel.start(epochs, maxSteps, data),
  detect: async (image, name) => {
    showImage(image, name, null);
    const run = await detect(select('backend').value as BackendChoice);
    return { detections: run.detections, classes: classes() };
  },
});

const ready = (async () => {
  wire();
  status('loading the example weights and image...');
  await loadExample();
  status('ready: press Detect (or pick or drop an image, or another weights file)');
})();
ready.catch((e: Error) => status(`error: ${e.message}`));

const api: PageApi = {
  ready,
  async detect(backend) {
    await ready;
    const run = await detect(backend);
    return { backend: run.backend, note: run.note, forwardMs: run.forwardMs, detectMs: run.detectMs, detections: run.detections, imageChecksum: checksum(state.image as RgbImage) };
  },
  panels: () => ({ priors: priorPanels, matching: matchingPanel }),
  setControl: (name, value) => controls.set(name, value),
  resetControls: () => {
    controls.reset();
    return controls.read();
  },
  controlNumbers: () => controls.read(),
  pictureOf: (id) => controls.picture(id),
  async train(epochs, maxSteps) {
    await ready;
    const { weights, ...run } = await trainPanel.start(epochs, maxSteps);
    return { ...run, weightsChecksum: checksumBytes(weights), weightsBytes: weights.length };
  },
  trainControl: (kind) => trainPanel.send({ kind }),
  trainLosses: () => [...trainPanel.losses],
  labels: () => {
    const { images, boxes } = labelPanel.counts();
    return {
      classes: [...labelPanel.classes], images, boxes, current: labelPanel.current, selected: labelPanel.selected,
      list: labelPanel.images.map((img) => ({
        name: img.name, width: img.image.width, height: img.image.height,
        boxes: img.boxes.map((b) => ({ boxXy: [...b.boxXy] as BoxXy, label: labelPanel.classes[b.label] })),
      })),
    };
  },
  async trainOnLabels(epochs, maxSteps) {
    await ready;
    const { weights, ...run } = await labelPanel.train(epochs, maxSteps);
    return { ...run, weightsChecksum: checksumBytes(weights), weightsBytes: weights.length };
  },
};
(window as unknown as { ssdPage: PageApi }).ssdPage = api;
