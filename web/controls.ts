// The page's controls that teach: each redraws its picture at once, from what the page already
// has (the predictions of the last Detect are kept; no control needs a new forward pass).
//
//   matching threshold     -> the matching and mining pictures (ssd/matching.ts)
//   negatives per positive -> the mining picture (ssd/loss.ts)
//   NMS overlap, min score -> the detection picture and table, NMS step by step, the PR curve (ssd/detect.ts)
//   a map's scale, ratios  -> the priors picture and the prior counts (ssd/priors.ts); the model keeps its own
//   reset                  -> all of them back to the defaults
//
// It draws two pictures of its own: NMS step by step for one class (explain/nms_steps.ts) and the
// precision-recall curve of the example image against its annotation (explain/pr_curve.ts).
// web/main.ts draws the other four with the values held here, and wires this once (wireControls).

import type { RgbImage } from '../data/image';
import { FEATURE_MAPS, FeatureMap, createPriors } from '../ssd/priors';
import { Detection } from '../ssd/detect';
import { Tensor } from '../tensor/tensor';
import { editFeatureMap, parseAspectRatios, priorCounts, PriorCounts } from '../explain/priors';
import { ClassCandidates, NmsStep, classCandidates, nmsSteps, rankName, renderNmsSteps } from '../explain/nms_steps';
import { ClassCurve, precisionRecallCurves, renderClassCurves } from '../explain/pr_curve';
import { classColor } from '../explain/detection';
import { SceneObject } from '../explain/scene';
import { showImage } from './canvas';
import { element, input, select } from './dom';

/** The controls a test may set (PageApi.setControl), each with the element it sets. */
export const CONTROL_INPUTS = {
  threshold: 'match-threshold', // 0.1 .. 0.9, step 0.05
  negPosRatio: 'neg-pos-ratio', // 1 .. 10, step 1
  maxOverlap: 'nms-overlap', // 0.05 .. 1, step 0.05
  minScore: 'min-score', // 0.05 .. 0.95, step 0.05 (the slider at the top)
  priorView: 'prior-map', // 'all' or a map name: which map the priors picture shows
  priorMap: 'prior-edit-map', // the map whose scale and ratios are edited
  priorScale: 'prior-scale', // 0.01 .. 1
  priorRatios: 'prior-ratios', // text: '1, 2, 0.5' or '1, 2:1, 1:2'
  nmsClass: 'nms-class', // a class label (as a string) among those with candidates
  nmsStep: 'nms-step', // 0 .. the number of steps (the candidates, or fewer when 200 are kept): the steps taken
} as const;
export type ControlName = keyof typeof CONTROL_INPUTS;

/** The pictures PageApi.pictureOf reads: canvas ids. */
export const PICTURES = ['detections', 'priors', 'matching', 'mining', 'nms', 'pr'] as const;
export type PictureId = (typeof PICTURES)[number];

export const DEFAULTS = { threshold: 0.5, negPosRatio: 3, maxOverlap: 0.45, minScore: 0.3 } as const;
/** detectObjects' topK on the page (web/main.ts). */
const TOP_K = 200;

/** What the pictures computed, for the page's test (PageApi.controlNumbers). */
export interface ControlNumbers {
  threshold: number;
  negPosRatio: number;
  maxOverlap: number;
  minScore: number;
  /** The map being edited, its scale and ratios, the counts of priors, and the last error of the ratio or scale input (or ''). */
  priorMap: string;
  priorScale: number;
  priorRatios: number[];
  priorCounts: PriorCounts;
  priorError: string;
  /** From the matching and mining pictures (null before they are drawn). */
  positives: number | null;
  hardNegatives: number | null;
  /** From the detection picture: boxes above the min score, after NMS, final (null before a Detect). */
  beforeNms: number | null;
  afterNms: number | null;
  detections: number | null;
  /** NMS step by step: the class shown, its candidates, the steps taken (of steps.length), the boxes kept in the end, and the steps (rank order). */
  nms: { label: number; candidates: number; step: number; kept: number; steps: NmsStep[] } | null;
  /** The example image's curves (null when there is no annotation or no Detect yet): per class, AP and the curve. */
  pr: { label: number; name: string; ap: number; nPositives: number; recall: number[]; precision: number[]; verdicts: string[] }[] | null;
}

/** What main.ts lends the controls: the page's state, read when needed, and its four pictures to redraw. */
export interface PageView {
  /** The predictions of the last Detect: (n_priors, 4) locs and (n_priors, n_classes) scores, or null. */
  run(): { locs: Tensor; scores: Tensor } | null;
  image300(): RgbImage | null;
  classes(): readonly string[];
  /** The annotation of the image shown, when it has one (the example image). */
  annotation(): readonly SceneObject[] | null;
  /** The model's priors (the defaults). */
  priorsCxcy: Tensor;
  redraw: { priors(): void; matching(): void; mining(): void; detections(): void };
}

const $ = element;

/** A ratio as the ratio input shows it: 0.333 stays 0.333, 1/3 shows as 0.333 too. */
function ratioText(r: number): string {
  return String(Number(r.toFixed(3)));
}

/** FNV-1a over a canvas's RGBA bytes: equal pictures, equal checksums. */
function canvasChecksum(c: HTMLCanvasElement): number {
  if (c.width === 0 || c.height === 0) return 0;
  const data = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data;
  let h = 2166136261;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 16777619) >>> 0;
  return h;
}


const escapeHtml = (s: string): string => s.replace(/[&<>"]/g, (ch) => `&#${ch.charCodeAt(0)};`);

export class Controls {
  threshold: number = DEFAULTS.threshold;
  negPosRatio: number = DEFAULTS.negPosRatio;
  maxOverlap: number = DEFAULTS.maxOverlap;
  /** The feature maps the priors picture draws (FEATURE_MAPS until edited; the model keeps FEATURE_MAPS). */
  maps: readonly FeatureMap[] = FEATURE_MAPS;
  /** Numbers the pictures report (main.ts fills positives and hardNegatives; detected() the rest). */
  numbers: ControlNumbers = {
    threshold: DEFAULTS.threshold, negPosRatio: DEFAULTS.negPosRatio, maxOverlap: DEFAULTS.maxOverlap, minScore: DEFAULTS.minScore,
    priorMap: FEATURE_MAPS[0].name, priorScale: FEATURE_MAPS[0].scale, priorRatios: [...FEATURE_MAPS[0].aspectRatios], priorCounts: priorCounts(), priorError: '',
    positives: null, hardNegatives: null, beforeNms: null, afterNms: null, detections: null, nms: null, pr: null,
  };
  private view: PageView | null = null;
  private customPriors: { maps: readonly FeatureMap[]; priors: Tensor } | null = null;
  private candidates: ClassCandidates[] = [];
  /** The predictions and min score the candidates are of. */
  private candidatesOf: { run: object; minScore: number } | null = null;
  /** The steps of NMS for the class shown, and what they are of (the slider only redraws). */
  private steps: { of: ClassCandidates; maxOverlap: number; steps: NmsStep[] } | null = null;

  /** The priors of `maps` for the priors picture: the model's own tensor while they are the defaults. */
  priorsCxcy(defaults: Tensor): Tensor {
    if (this.maps === FEATURE_MAPS) return defaults;
    if (this.customPriors?.maps !== this.maps) this.customPriors = { maps: this.maps, priors: createPriors('float32', this.maps) };
    return this.customPriors.priors;
  }

  private get page(): PageView {
    if (this.view === null) throw new Error('controls: not wired yet');
    return this.view;
  }

  wire(view: PageView): void {
    this.view = view;
    const editSelect = select('prior-edit-map');
    editSelect.innerHTML = FEATURE_MAPS.map((m) => `<option value="${m.name}">${m.name}</option>`).join('');
    this.showPriorInputs();
    const onInput = (id: string, f: () => void): void => $(id).addEventListener('input', f);
    onInput('match-threshold', () => {
      this.threshold = Number(input('match-threshold').value);
      this.showValues();
      view.redraw.matching();
      view.redraw.mining();
    });
    onInput('neg-pos-ratio', () => {
      this.negPosRatio = Number(input('neg-pos-ratio').value);
      this.showValues();
      view.redraw.mining();
    });
    const detectionChanged = (): void => {
      this.maxOverlap = Number(input('nms-overlap').value);
      this.showValues();
      view.redraw.detections(); // calls detected(), which redraws NMS step by step and the PR curve
      if (select('gt-source').value === 'detections') {
        view.redraw.matching();
        view.redraw.mining();
      }
    };
    onInput('nms-overlap', detectionChanged);
    onInput('min-score', detectionChanged); // main.ts shows its value
    editSelect.addEventListener('change', () => {
      this.showPriorInputs();
      select('prior-map').value = editSelect.value; // show the map being edited
      view.redraw.priors();
    });
    onInput('prior-scale', () => this.editPriors());
    onInput('prior-ratios', () => this.editPriors());
    select('nms-class').addEventListener('change', () => {
      input('nms-step').value = '1';
      this.drawNms();
    });
    onInput('nms-step', () => this.drawNms());
    $('nms-list').addEventListener('click', (e) => {
      const row = (e.target as HTMLElement).closest('tr[data-step]');
      if (row === null) return;
      input('nms-step').value = row.getAttribute('data-step') as string;
      this.drawNms();
    });
    $('controls-reset').addEventListener('click', () => this.reset());
    this.showValues();
  }

  /** Every control back to its default, and every picture redrawn. */
  reset(): void {
    const view = this.page;
    this.threshold = DEFAULTS.threshold;
    this.negPosRatio = DEFAULTS.negPosRatio;
    this.maxOverlap = DEFAULTS.maxOverlap;
    this.maps = FEATURE_MAPS;
    input('match-threshold').value = String(DEFAULTS.threshold);
    input('neg-pos-ratio').value = String(DEFAULTS.negPosRatio);
    input('nms-overlap').value = String(DEFAULTS.maxOverlap);
    input('min-score').value = String(DEFAULTS.minScore);
    $('min-score-value').textContent = DEFAULTS.minScore.toFixed(2);
    input('nms-step').value = '1';
    select('prior-edit-map').value = FEATURE_MAPS[0].name;
    select('prior-map').value = 'all';
    this.showPriorInputs();
    this.showValues();
    view.redraw.priors();
    view.redraw.matching();
    view.redraw.mining();
    view.redraw.detections();
  }

  /** Set a control as a user would (its value, then its input or change event): the pictures redraw before this returns. */
  set(name: ControlName, value: number | string): ControlNumbers {
    const id = CONTROL_INPUTS[name];
    if (id === undefined) throw new Error(`setControl: no control '${String(name)}'; choose one of ${Object.keys(CONTROL_INPUTS).join(', ')}`);
    const el = $(id) as HTMLInputElement | HTMLSelectElement;
    el.value = String(value);
    if (el instanceof HTMLSelectElement && el.value !== String(value)) throw new Error(`setControl: ${name} has no option '${value}'`);
    el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
    return this.read();
  }

  /** The numbers behind the pictures, as they are now. */
  read(): ControlNumbers {
    return { ...this.numbers, minScore: Number(input('min-score').value) };
  }

  /** A picture as it is on the page: its size, a checksum of its pixels, and its PNG as a data URL. */
  picture(id: PictureId): { width: number; height: number; checksum: number; dataUrl: string } {
    if (!(PICTURES as readonly string[]).includes(id)) throw new Error(`pictureOf: no picture '${id}'; choose one of ${PICTURES.join(', ')}`);
    const c = $(id) as HTMLCanvasElement;
    return { width: c.width, height: c.height, checksum: canvasChecksum(c), dataUrl: c.toDataURL() };
  }

  private showValues(): void {
    $('match-threshold-value').textContent = this.threshold.toFixed(2);
    $('neg-pos-ratio-value').textContent = `${this.negPosRatio}:1`;
    $('nms-overlap-value').textContent = this.maxOverlap.toFixed(2);
    Object.assign(this.numbers, { threshold: this.threshold, negPosRatio: this.negPosRatio, maxOverlap: this.maxOverlap });
  }

  // -------------------------------------------------------------------------------------------
  // Priors

  /** Fill the scale and ratio inputs with the map being edited, and show the counts. */
  private showPriorInputs(): void {
    const map = this.maps.find((m) => m.name === select('prior-edit-map').value) ?? this.maps[0];
    input('prior-scale').value = String(map.scale);
    input('prior-ratios').value = map.aspectRatios.map(ratioText).join(', ');
    this.numbers.priorError = '';
    this.showCounts();
  }

  private editPriors(): void {
    const name = select('prior-edit-map').value;
    try {
      const scale = Number(input('prior-scale').value);
      this.maps = editFeatureMap(this.maps, name, { scale, aspectRatios: parseAspectRatios(input('prior-ratios').value) });
      this.numbers.priorError = '';
    } catch (e) {
      this.numbers.priorError = (e as Error).message; // the picture keeps the last priors that could be made
    }
    this.showCounts();
    this.page.redraw.priors();
  }

  private showCounts(): void {
    const counts = priorCounts(this.maps);
    const name = select('prior-edit-map').value;
    const map = this.maps.find((m) => m.name === name) ?? this.maps[0];
    const row = counts.maps.find((m) => m.name === map.name) ?? counts.maps[0];
    Object.assign(this.numbers, { priorMap: map.name, priorScale: map.scale, priorRatios: [...map.aspectRatios], priorCounts: counts });
    $('prior-count').textContent = `${row.name}: ${row.perPosition} priors per position x ${row.size}x${row.size} cells = ${row.count}; ${counts.total} priors in all (the model's: 8732)`;
    const notes: string[] = [];
    if (this.numbers.priorError !== '') notes.push(`not drawn: ${this.numbers.priorError}`);
    for (const m of counts.maps) {
      if (m.perPosition !== m.modelPerPosition) {
        notes.push(`${m.name} now has ${m.perPosition} priors per position, but the model's prediction convs for it have ${m.modelPerPosition} ` +
          `(4 x ${m.modelPerPosition} box channels, n_classes x ${m.modelPerPosition} score channels): a model for these priors would need other convs, and this one could not use them.`);
      }
    }
    const note = $('prior-note');
    note.textContent = notes.join(' ');
    note.hidden = notes.length === 0;
  }

  // -------------------------------------------------------------------------------------------
  // After each drawing of the detection picture (main.ts calls this): the numbers, NMS step by step, PR

  detected(picture: { beforeNms: unknown[]; afterNms: unknown[]; final: Detection[] }): void {
    Object.assign(this.numbers, { beforeNms: picture.beforeNms.length, afterNms: picture.afterNms.length, detections: picture.final.length });
    this.fillNmsClasses();
    this.drawNms();
    this.drawPr(picture.final);
  }

  /** A new image, not yet detected: NMS step by step and the precision-recall curve say to press Detect. */
  detectionCleared(): void {
    Object.assign(this.numbers, { beforeNms: null, afterNms: null, detections: null, hardNegatives: null });
    this.fillNmsClasses();
    this.drawNms();
    this.drawPr([]);
  }

  /** The classes with candidates at the current min score, in the NMS class select (the one chosen stays chosen). */
  private fillNmsClasses(): void {
    const run = this.page.run();
    const minScore = Number(input('min-score').value);
    if (run === null) this.candidates = [];
    else if (this.candidatesOf?.run !== run || this.candidatesOf.minScore !== minScore) this.candidates = classCandidates(run.locs, run.scores, this.page.priorsCxcy, minScore);
    this.candidatesOf = run === null ? null : { run, minScore };
    const chosen = select('nms-class');
    const before = chosen.value;
    const names = this.page.classes();
    chosen.innerHTML = this.candidates.map((c) => `<option value="${c.label}">${escapeHtml(names[c.label] ?? `class ${c.label}`)} (${c.scores.length} candidates)</option>`).join('');
    if (this.candidates.some((c) => String(c.label) === before)) chosen.value = before;
    else if (this.candidates.length > 0) {
      // The class with the most candidates: the most for NMS to do.
      const most = this.candidates.reduce((a, b) => (b.scores.length > a.scores.length ? b : a));
      chosen.value = String(most.label);
      input('nms-step').value = '1';
    }
  }

  private drawNms(): void {
    const chosen = this.candidates.find((c) => String(c.label) === select('nms-class').value);
    const list = $('nms-list');
    if (chosen === undefined) {
      this.numbers.nms = null;
      list.innerHTML = '';
      $('nms-info').textContent = this.page.run() === null ? 'press Detect first' : 'no class has a box above the min score';
      return;
    }
    if (this.steps?.of !== chosen || this.steps.maxOverlap !== this.maxOverlap) {
      // detectObjects stops a class once it has kept topK (200) boxes; so do the steps.
      this.steps = { of: chosen, maxOverlap: this.maxOverlap, steps: nmsSteps(chosen.boxesXy, chosen.scores, this.maxOverlap, TOP_K) };
    }
    const steps = this.steps.steps;
    const slider = input('nms-step');
    slider.max = String(steps.length);
    const upTo = Math.min(Math.max(Number(slider.value), 0), steps.length);
    slider.value = String(upTo);
    const name = this.page.classes()[chosen.label] ?? `class ${chosen.label}`;
    const picture = renderNmsSteps(this.page.image300(), chosen.boxesXy, steps, { upTo, maxOverlap: this.maxOverlap, name, color: classColor(chosen.label) });
    showImage($('nms') as HTMLCanvasElement, picture.image);
    this.numbers.nms = { label: chosen.label, candidates: chosen.scores.length, step: upTo, kept: steps.filter((s) => s.kept).length, steps };
    const stopped = steps.length < chosen.scores.length ? ` (it stops once ${TOP_K} are kept: the top-k)` : '';
    $('nms-info').textContent = `step ${upTo} of ${steps.length}; ${picture.keptSoFar} kept and ${picture.suppressedSoFar} suppressed so far; ${this.numbers.nms.kept} kept in the end${stopped}`;
    // The list: each visit, best score first; the current one marked. Clicking a row goes to it.
    const rankOf = new Map(steps.map((s) => [s.index, s]));
    const shown = 100;
    const rows = steps.slice(0, shown).map((s, k) => {
      const what = s.kept ? `kept (IoU with the kept boxes at most ${s.iou.toFixed(3)})` : `suppressed by ${rankName(rankOf.get(s.by as number) as NmsStep)}: IoU ${s.iou.toFixed(3)} &gt; ${this.maxOverlap}`;
      const style = k + 1 === upTo ? ' style="background: #ffe9a8"' : k + 1 > upTo ? ' style="color: #999"' : '';
      return `<tr data-step="${k + 1}"${style}><td>${rankName(s)}</td><td>${s.score.toFixed(3)}</td><td>${what}</td></tr>`;
    });
    const more = steps.length > shown ? `<tr><td colspan="3">... and ${steps.length - shown} more</td></tr>` : '';
    list.innerHTML = `<tr><th>rank</th><th>score</th><th>step</th></tr>${rows.join('')}${more}`;
  }

  private drawPr(final: readonly Detection[]): void {
    const objects = this.page.annotation();
    const canvas = $('pr') as HTMLCanvasElement;
    const table = $('pr-table');
    if (objects === null || this.page.run() === null) {
      this.numbers.pr = null;
      canvas.width = 0;
      canvas.height = 0;
      table.innerHTML = '';
      $('pr-info').textContent = objects === null ? 'this image has no annotation: the curve needs the example image' : 'press Detect first';
      return;
    }
    const names = this.page.classes();
    const nClasses = Math.max(names.length, ...objects.map((o) => o.label + 1), ...final.map((d) => d.label + 1));
    const groundTruth = [{ boxes: objects.map((o) => [...o.boxXy] as [number, number, number, number]), labels: objects.map((o) => o.label) }];
    const curves: ClassCurve[] = precisionRecallCurves([[...final]], groundTruth, nClasses);
    const name = (label: number): string => names[label] ?? `class ${label}`;
    const mAP = curves.length > 0 ? curves.reduce((s, c) => s + c.ap, 0) / curves.length : NaN;
    showImage(canvas, renderClassCurves(curves, names, `Precision against recall, example image (min score ${Number(input('min-score').value).toFixed(2)}, NMS ${this.maxOverlap})`));
    this.numbers.pr = curves.map((c) => ({ label: c.label, name: name(c.label), ap: c.ap, nPositives: c.nPositives, recall: c.recall, precision: c.precision, verdicts: c.ranked.map((r) => r.verdict) }));
    $('pr-info').textContent = `VOC AP at IoU 0.5 (11-point), this one image: mAP ${mAP.toFixed(3)} over ${curves.length} classes`;
    const rows = curves.map((c) => {
      const verdicts = c.ranked.map((r) => `${r.verdict} ${r.score.toFixed(2)} (IoU ${r.iou.toFixed(2)})`).join(', ') || 'no detection';
      return `<tr><td>${escapeHtml(name(c.label))}</td><td>${c.nPositives}</td><td>${c.ap.toFixed(3)}</td><td>${verdicts}</td></tr>`;
    });
    table.innerHTML = `<tr><th>class</th><th>objects</th><th>AP</th><th>detections by score: verdict, score (IoU)</th></tr>${rows.join('')}`;
  }
}

export const controls = new Controls();
