// "Your own data": open images, draw boxes on them with the mouse, name their classes, then train
// the detector on them in the tab (the training worker, web/train_worker.ts, with the images as its
// data set) or download them as a Pascal VOC data set in a zip (io/zip.ts; the annotations by
// data/voc.ts's formatVocAnnotation), which `ssd train --data DIR` reads once unzipped.
//
// Boxes are kept as fractions of the image (x1 < x2, y1 < y2, inside [0, 1]) on whole pixels: a
// drag from corner to corner is rounded to the pixel grid, so the VOC file (whole 1-based pixels)
// holds exactly the box drawn. Labels are indices into the class list (0: background, never a box).

import type { BoxXy } from '../data/annotations';
import type { RgbImage } from '../data/image';
import { checkClassName, formatVocAnnotation } from '../data/voc';
import { VOC_CLASSES } from '../data/class_names';
import { SYNTHETIC_CLASSES } from '../data/synthetic';
import { classColor } from '../explain/detection';
import { writeZip, ZipEntry } from '../io/zip';
import type { Detection } from '../ssd/detect';
import type { UserData } from './user_data';
import type { TrainedRun } from './train_panel';
import { showImage } from './canvas';
import { element } from './dom';

/** A drag narrower or shorter than this many pixels of the image makes no box (a click selects instead). */
export const MIN_BOX_PIXELS = 4;
/** The page detector's best boxes drawn over the labels (an untrained model has hundreds near the min score). */
const DRAWN_DETECTIONS = 20;
/** The labelling canvas shows an image at most this large (CSS pixels), small ones enlarged up to it. */
const VIEW_WIDTH = 640;
const VIEW_HEIGHT = 480;

export interface LabelBox {
  boxXy: BoxXy;
  /** Index into the class list, 1.. */
  label: number;
}

export interface LabelImage {
  name: string;
  image: RgbImage;
  boxes: LabelBox[];
  /** The image at full size, to draw and to encode as PNG. */
  picture: HTMLCanvasElement;
}

/** What the page lends the panel: decoding, training, the detector. */
export interface LabelPanelHost {
  decode(blob: Blob): Promise<RgbImage>;
  /** The epochs input of the training section. */
  epochs(): number;
  train(epochs: number, maxSteps: number | undefined, data: UserData): Promise<TrainedRun>;
  /** Run the page's detector on an image: its detections and the class names of its weights. */
  detect(image: RgbImage, name: string): Promise<{ detections: Detection[]; classes: readonly string[] }>;
}

/**
 * The class list of "names, comma-separated", checked as `ssd train --classes` checks it
 * (cli/options.ts classList): voc, synthetic, or names, none empty or twice; 'background' is
 * class 0 and is added.
 */
export function parseClassList(spec: string): string[] {
  const text = spec.trim();
  if (text === 'voc') return [...VOC_CLASSES];
  if (text === 'synthetic') return [...SYNTHETIC_CLASSES];
  const names = text.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) throw new Error(`classes: expected names separated by commas, with none empty, got '${spec}'`);
  for (const name of names) checkClassName(name, 'classes');
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new Error(`classes: '${twice}' is named twice`);
  const objects = names.filter((n) => n !== 'background');
  if (objects.length === 0) throw new Error('classes: name the classes of the objects (\'background\', class 0, is added by itself)');
  return ['background', ...objects];
}


function rgbCss(label: number): string {
  const [r, g, b] = classColor(label);
  return `rgb(${r}, ${g}, ${b})`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export class LabelPanel {
  readonly images: LabelImage[] = [];
  classes: string[] = ['background', 'object'];
  current = 0;
  /** The box selected (by a click, in the list, or just drawn) on the current image. */
  selected: number | null = null;
  /** The page detector's boxes on the current image, after "Detect on this image" or a run. */
  private detections: { list: Detection[]; classes: readonly string[] } | null = null;
  /** A drag in progress, in image pixels. */
  private drag: { x0: number; y0: number; x1: number; y1: number; cx: number; cy: number } | null = null;
  private readonly canvas: HTMLCanvasElement;

  constructor(private readonly host: LabelPanelHost) {
    this.canvas = element<HTMLCanvasElement>('label-canvas');
    element<HTMLInputElement>('label-classes').value = this.classes.slice(1).join(', ');
    element<HTMLInputElement>('label-files').addEventListener('change', () => {
      const files = Array.from(element<HTMLInputElement>('label-files').files ?? []);
      this.add(files).catch((e: Error) => this.say(`error: ${e.message}`));
    });
    element<HTMLInputElement>('label-classes').addEventListener('change', () => this.setClasses(element<HTMLInputElement>('label-classes').value));
    element('label-prev').addEventListener('click', () => this.show(this.current - 1));
    element('label-next').addEventListener('click', () => this.show(this.current + 1));
    element('label-remove-image').addEventListener('click', () => this.removeImage());
    element('label-delete').addEventListener('click', () => this.deleteSelected());
    element('label-train').addEventListener('click', () => {
      this.train(this.host.epochs()).catch((e: Error) => this.say(`error: ${e.message}`));
    });
    element('label-detect').addEventListener('click', () => {
      this.detect().catch((e: Error) => this.say(`error: ${e.message}`));
    });
    element('label-zip').addEventListener('click', () => {
      this.download().catch((e: Error) => this.say(`error: ${e.message}`));
    });
    this.canvas.addEventListener('mousedown', (e) => this.down(e));
    window.addEventListener('mousemove', (e) => this.move(e));
    window.addEventListener('mouseup', (e) => this.up(e));
    this.canvas.addEventListener('keydown', (e) => {
      if (e.key === 'Delete' || e.key === 'Backspace') {
        e.preventDefault();
        this.deleteSelected();
      }
    });
    element('label-boxes').addEventListener('click', (e) => {
      const target = e.target as HTMLElement;
      const row = target.closest('tr[data-box]');
      if (row === null) return;
      const k = Number(row.getAttribute('data-box'));
      if (target.closest('button') !== null) this.deleteBox(k);
      else if (target.closest('select') === null) this.select(k);
    });
    element('label-boxes').addEventListener('change', (e) => {
      const target = e.target as HTMLSelectElement;
      const row = target.closest('tr[data-box]');
      const img = this.images[this.current];
      if (row === null || img === undefined) return;
      img.boxes[Number(row.getAttribute('data-box'))].label = Number(target.value);
      this.refresh();
    });
    this.refresh();
  }

  /** Decode image files (PNG, JPEG) and add them; the first of them is shown. */
  async add(files: File[]): Promise<void> {
    const first = this.images.length;
    const failed: string[] = [];
    for (const file of files) {
      try {
        const image = await this.host.decode(file);
        const picture = document.createElement('canvas');
        showImage(picture, image);
        this.images.push({ name: file.name, image, boxes: [], picture });
      } catch (e) {
        failed.push(`${file.name} (${(e as Error).message})`);
      }
    }
    if (this.images.length > first) this.show(first);
    else this.refresh();
    this.say(`${this.images.length - first} image${this.images.length - first === 1 ? '' : 's'} added${failed.length > 0 ? `; not read: ${failed.join(', ')}` : ''}: drag on the image to draw a box`);
  }

  /** Set the class list from "names, comma-separated". Boxes keep their class by name (or by position: a rename). */
  setClasses(spec: string): void {
    const input = element<HTMLInputElement>('label-classes');
    try {
      const next = parseClassList(spec);
      const used = new Set(this.images.flatMap((img) => img.boxes.map((b) => b.label)));
      let map: (label: number) => number;
      if ([...used].every((l) => next.includes(this.classes[l]))) map = (l) => next.indexOf(this.classes[l]);
      else if (next.length === this.classes.length) map = (l) => l; // the same number of names: renamed
      else {
        const missing = [...used].map((l) => this.classes[l]).filter((n) => !next.includes(n));
        throw new Error(`classes: ${missing.map((n) => `'${n}'`).join(', ')} ha${missing.length === 1 ? 's' : 've'} boxes: keep ${missing.length === 1 ? 'it' : 'them'}, rename (as many names as before), or delete those boxes first`);
      }
      for (const img of this.images) for (const b of img.boxes) b.label = map(b.label);
      this.classes = next;
      input.value = next.slice(1).join(', ');
      element('label-classes-error').textContent = '';
    } catch (e) {
      element('label-classes-error').textContent = (e as Error).message;
    }
    this.refresh();
  }

  /** Show image k (clamped to the list). */
  show(k: number): void {
    this.current = Math.min(Math.max(k, 0), Math.max(this.images.length - 1, 0));
    this.selected = null;
    this.detections = null;
    this.drag = null;
    this.refresh();
  }

  select(k: number | null): void {
    this.selected = k;
    this.refresh();
  }

  deleteBox(k: number): void {
    const img = this.images[this.current];
    if (img === undefined || k < 0 || k >= img.boxes.length) return;
    img.boxes.splice(k, 1);
    this.selected = null;
    this.refresh();
  }

  deleteSelected(): void {
    if (this.selected !== null) this.deleteBox(this.selected);
  }

  removeImage(): void {
    if (this.images.length === 0) return;
    this.images.splice(this.current, 1);
    this.show(this.current);
  }

  /** The images with at least one box: what trains and what the zip holds (as `ssd train` wants: no empty annotations). */
  private labelled(): LabelImage[] {
    return this.images.filter((img) => img.boxes.length > 0);
  }

  private leftOut(): string {
    const n = this.images.length - this.labelled().length;
    return n === 0 ? '' : ` (${n} image${n === 1 ? '' : 's'} without boxes left out)`;
  }

  /** The labelled images as the training worker takes them (copies: the panel keeps its own). */
  data(): UserData {
    const images = this.labelled();
    if (images.length === 0) throw new Error('draw a box on at least one image first');
    return {
      classes: [...this.classes],
      images: images.map((img) => ({
        width: img.image.width, height: img.image.height, data: img.image.data.slice(),
        objects: img.boxes.map((b) => ({ boxXy: [...b.boxXy] as BoxXy, label: b.label })),
      })),
    };
  }

  /** Train the page's detector on the labelled images (the training section shows the run). */
  async train(epochs: number, maxSteps?: number): Promise<TrainedRun> {
    const data = this.data();
    this.say(`training on ${data.images.length} images${this.leftOut()}: see the training section above for the progress`);
    const run = await this.host.train(epochs, maxSteps, data);
    this.say(`trained ${run.steps} steps on ${data.images.length} images: the detector now has your classes; ${this.detectionsInWords()}`);
    return run;
  }

  /** Run the page's detector on the image shown, and draw its boxes (dashed) over the labels. */
  async detect(): Promise<Detection[]> {
    const img = this.images[this.current];
    if (img === undefined) throw new Error('open an image first');
    const k = this.current;
    const { detections, classes } = await this.host.detect(img.image, img.name);
    if (this.current === k) {
      this.detections = { list: [...detections].sort((a, b) => b.score - a.score), classes };
      this.draw();
      this.say(this.detectionsInWords());
    }
    return detections;
  }

  private detectionsInWords(): string {
    const n = this.detections?.list.length ?? 0;
    if (this.detections === null) return 'press Detect on this image to see its detections';
    return `${n} detection${n === 1 ? '' : 's'} on this image above the min score${n > DRAWN_DETECTIONS ? `, the best ${DRAWN_DETECTIONS} drawn dashed` : n > 0 ? ', drawn dashed' : ''}`;
  }

  /** The labelled images as a Pascal VOC data set in a zip: JPEGImages/<id>.png, Annotations/<id>.xml, ImageSets/Main/trainval.txt. */
  async zip(): Promise<{ bytes: Uint8Array; ids: string[] }> {
    const images = this.labelled();
    if (images.length === 0) throw new Error('draw a box on at least one image first');
    const ids = images.map((_, k) => String(k + 1).padStart(6, '0'));
    const entries: ZipEntry[] = [];
    const encoder = new TextEncoder();
    for (const [k, img] of images.entries()) {
      const png = await new Promise<Blob>((resolve, reject) =>
        img.picture.toBlob((blob) => (blob === null ? reject(new Error(`${img.name}: the browser did not encode it as PNG`)) : resolve(blob)), 'image/png'));
      entries.push({ name: `JPEGImages/${ids[k]}.png`, data: new Uint8Array(await png.arrayBuffer()) });
      const objects = img.boxes.map((b) => ({ boxXy: b.boxXy, label: b.label, difficult: false }));
      const xml = formatVocAnnotation(`${ids[k]}.png`, img.image.width, img.image.height, objects, this.classes, img.name);
      entries.push({ name: `Annotations/${ids[k]}.xml`, data: encoder.encode(xml) });
    }
    entries.push({ name: 'ImageSets/Main/trainval.txt', data: encoder.encode(ids.join('\n') + '\n') });
    return { bytes: writeZip(entries), ids };
  }

  /** Make the zip and hand it to the browser as a download. */
  async download(): Promise<void> {
    const { bytes, ids } = await this.zip();
    const link = element<HTMLAnchorElement>('label-zip-link');
    if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
    link.click();
    this.say(`my-data-voc.zip: ${ids.length} images in the VOC layout${this.leftOut()}; unzip it and train with ssd train --data DIR --classes ${this.classes.slice(1).join(',')}`);
  }

  /** The numbers the page shows. */
  counts(): { images: number; boxes: number; perClass: number[] } {
    const perClass = this.classes.map(() => 0);
    for (const img of this.images) for (const b of img.boxes) perClass[b.label]++;
    return { images: this.images.length, boxes: perClass.reduce((a, b) => a + b, 0), perClass };
  }

  // -------------------------------------------------------------------------------------------
  // The mouse

  /** The image pixel under the mouse (fractional), clamped to the image. */
  private pixelAt(event: MouseEvent, img: LabelImage): { x: number; y: number } {
    const rect = this.canvas.getBoundingClientRect();
    const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
    return {
      x: clamp(((event.clientX - rect.left) / rect.width) * img.image.width, img.image.width),
      y: clamp(((event.clientY - rect.top) / rect.height) * img.image.height, img.image.height),
    };
  }

  private down(event: MouseEvent): void {
    const img = this.images[this.current];
    if (img === undefined || event.button !== 0) return;
    event.preventDefault();
    this.canvas.focus();
    const p = this.pixelAt(event, img);
    this.drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y, cx: event.clientX, cy: event.clientY };
  }

  private move(event: MouseEvent): void {
    const img = this.images[this.current];
    if (this.drag === null || img === undefined) return;
    const p = this.pixelAt(event, img);
    this.drag.x1 = p.x;
    this.drag.y1 = p.y;
    this.draw();
  }

  private up(event: MouseEvent): void {
    const img = this.images[this.current];
    const drag = this.drag;
    if (drag === null || img === undefined) return;
    this.drag = null;
    const p = this.pixelAt(event, img);
    const { width, height } = img.image;
    // to the pixel grid: a box covers whole pixels, as a VOC annotation says it
    const x1 = Math.round(Math.min(drag.x0, p.x));
    const x2 = Math.round(Math.max(drag.x0, p.x));
    const y1 = Math.round(Math.min(drag.y0, p.y));
    const y2 = Math.round(Math.max(drag.y0, p.y));
    if (x2 - x1 >= MIN_BOX_PIXELS && y2 - y1 >= MIN_BOX_PIXELS) {
      const label = Number(element<HTMLSelectElement>('label-class').value) || 1;
      img.boxes.push({ boxXy: [x1 / width, y1 / height, x2 / width, y2 / height], label });
      this.selected = img.boxes.length - 1;
      this.say(`box ${img.boxes.length}: ${this.classes[label]}, pixels ${x1}-${x2} x ${y1}-${y2}`);
    } else if (Math.abs(event.clientX - drag.cx) <= 3 && Math.abs(event.clientY - drag.cy) <= 3) {
      // a click: the smallest box under it (boxes may nest), or none
      const fx = p.x / width;
      const fy = p.y / height;
      let hit: number | null = null;
      const area = (b: BoxXy): number => (b[2] - b[0]) * (b[3] - b[1]);
      img.boxes.forEach((b, k) => {
        const [bx1, by1, bx2, by2] = b.boxXy;
        if (fx >= bx1 && fx <= bx2 && fy >= by1 && fy <= by2 && (hit === null || area(b.boxXy) < area(img.boxes[hit].boxXy))) hit = k;
      });
      this.selected = hit;
    } else {
      this.say(`a box under ${MIN_BOX_PIXELS} pixels wide or high is ignored`);
    }
    this.refresh();
  }

  // -------------------------------------------------------------------------------------------
  // The page

  private say(text: string): void {
    element('label-status').textContent = text;
  }

  /** Everything that shows the state: class choice, position, counts, box list, canvas. */
  private refresh(): void {
    const choice = element<HTMLSelectElement>('label-class');
    const chosen = choice.value;
    choice.innerHTML = this.classes.slice(1).map((name, i) => `<option value="${i + 1}">${escapeHtml(name)}</option>`).join('');
    if (Number(chosen) >= 1 && Number(chosen) < this.classes.length) choice.value = chosen;
    const img = this.images[this.current];
    element('label-position').textContent = img === undefined ? 'no images yet' : `image ${this.current + 1} of ${this.images.length}: ${img.name} (${img.image.width}x${img.image.height})`;
    element<HTMLButtonElement>('label-prev').disabled = this.current <= 0;
    element<HTMLButtonElement>('label-next').disabled = this.current >= this.images.length - 1;
    for (const id of ['label-remove-image', 'label-detect']) element<HTMLButtonElement>(id).disabled = img === undefined;
    element<HTMLButtonElement>('label-delete').disabled = this.selected === null;
    const { images, boxes, perClass } = this.counts();
    const labelled = this.labelled().length;
    element('label-counts').textContent = `${images} image${images === 1 ? '' : 's'} (${labelled} with boxes), ${boxes} box${boxes === 1 ? '' : 'es'}` +
      (boxes > 0 ? `: ${this.classes.slice(1).map((n, i) => `${n} ${perClass[i + 1]}`).join(', ')}` : '');
    for (const id of ['label-train', 'label-zip']) element<HTMLButtonElement>(id).disabled = labelled === 0;
    const options = (label: number): string => this.classes.slice(1).map((n, i) => `<option value="${i + 1}"${i + 1 === label ? ' selected' : ''}>${escapeHtml(n)}</option>`).join('');
    element('label-boxes').innerHTML = img === undefined || img.boxes.length === 0 ? '' :
      `<tr><th>box</th><th>class</th><th>pixels (x1, y1, x2, y2)</th><th></th></tr>` +
      img.boxes.map((b, k) => {
        const px = [b.boxXy[0] * img.image.width, b.boxXy[1] * img.image.height, b.boxXy[2] * img.image.width, b.boxXy[3] * img.image.height].map((v) => Math.round(v));
        return `<tr data-box="${k}"${k === this.selected ? ' class="selected"' : ''}><td>${k + 1}</td><td><select>${options(b.label)}</select></td>` +
          `<td>${px.join(', ')}</td><td><button title="delete this box">×</button></td></tr>`;
      }).join('');
    this.draw();
  }

  private draw(): void {
    const img = this.images[this.current];
    const c = this.canvas;
    if (img === undefined) {
      c.width = 0;
      c.height = 0;
      return;
    }
    const { width, height } = img.image;
    const scale = Math.min(VIEW_WIDTH / width, VIEW_HEIGHT / height);
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const ctx = c.getContext('2d') as CanvasRenderingContext2D;
    ctx.imageSmoothingEnabled = scale < 1;
    ctx.drawImage(img.picture, 0, 0, w, h);
    ctx.font = '13px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    const rect = (b: readonly number[], color: string, lineWidth: number, dash: number[], text: string): void => {
      const [x1, y1, x2, y2] = [b[0] * w, b[1] * h, b[2] * w, b[3] * h];
      ctx.setLineDash(dash);
      ctx.lineWidth = lineWidth;
      ctx.strokeStyle = color;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      ctx.setLineDash([]);
      if (text === '') return;
      const tw = ctx.measureText(text).width + 6;
      const tx = Math.min(Math.max(x1, 0), Math.max(0, w - tw)); // inside the canvas (a detection may reach past the image)
      const ty = Math.min(Math.max(y1 >= 16 ? y1 - 16 : y1, 0), Math.max(0, h - 16));
      ctx.fillStyle = color;
      ctx.fillRect(tx, ty, tw, 16);
      ctx.fillStyle = '#fff';
      ctx.fillText(text, tx + 3, ty + 2);
    };
    if (this.detections !== null) {
      for (const d of this.detections.list.slice(0, DRAWN_DETECTIONS)) rect(d.box, rgbCss(d.label), 2, [6, 4], `${this.detections.classes[d.label] ?? d.label} ${d.score.toFixed(2)}`);
    }
    img.boxes.forEach((b, k) => rect(b.boxXy, rgbCss(b.label), k === this.selected ? 4 : 2, [], `${k + 1} ${this.classes[b.label]}`));
    if (this.drag !== null) {
      const d = this.drag;
      rect([Math.min(d.x0, d.x1) / width, Math.min(d.y0, d.y1) / height, Math.max(d.x0, d.x1) / width, Math.max(d.y0, d.y1) / height], '#fff', 2, [4, 3], '');
    }
  }
}
