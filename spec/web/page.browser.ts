// The web page in a real browser (`npm run test:web`, not part of `npm test`): Debian's headless
// Chromium, driven by playwright-core, loads the page from scripts/serve-web.js, runs a detection
// on the example image with the weights the build gave the page (web/test-weights.safetensors
// unless told otherwise; scripts/build-web.js), on the WebAssembly kernels (threads as Web
// Workers in the cross-origin isolated page; one thread in a page that is not), on the GPU.js
// WebGL kernels and on the CPU kernels, and compares the detections with Node's for the same
// weights and image. It saves
// screenshots under dist/web-screenshots/ for a reviewer.
//
// Nothing downloads a browser: the system's /usr/bin/chromium is used (scripts/setup-browser.js
// installs it with apt on `npm install` as root), or $CHROMIUM. WebGL runs on SwiftShader, the
// software renderer Chromium ships, so no GPU is needed.

import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Server } from 'http';
import { chromium, BrowserContext, Page } from 'playwright-core';
import { referenceKernels } from '../../kernels/cpu/reference';
import { loadModel } from '../../cli/model_files';
import { detectImages } from '../../train/evaluate';
import { encodePng, readImage } from '../../data/image_files';
import { SYNTHETIC_CLASSES, SYNTHETIC_TASK, makeSyntheticDataset } from '../../data/synthetic';
import { parseVocAnnotation, readVocDataset } from '../../data/voc';
import type { BoxXy } from '../../data/annotations';
import { Detection } from '../../ssd/detect';
import { WasmKernels } from '../../kernels/wasm';
import { SSD300 } from '../../ssd/ssd300';
import { train } from '../../train/trainer';
import { inMemorySource } from '../../data/source';
import { stateDict } from '../../layers/layer';
import { encodeSafetensors } from '../../tensor/safetensors';
import { DEMO_CLASSES, demoData, demoModelOptions, demoTraining } from '../../demo/recipe';

const ROOT = path.join(__dirname, '..', '..', '..');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = path.join(ROOT, 'dist', 'web-screenshots');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { serve } = require(path.join(ROOT, 'scripts', 'serve-web.js')) as { serve: (port: number, root?: string, options?: { isolated: boolean }) => Promise<Server> };

// The flags: headless, no sandbox (CI runs as root), WebGL on SwiftShader (Chromium's software
// GL; --enable-unsafe-swiftshader because recent Chromium refuses it for WebGL otherwise), and
// nothing that reaches the network or a profile of the user's.
const FLAGS = [
  '--headless=new', '--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
  '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Only what the test reads of the page's API (web/main.ts PageApi). */
interface PageRun {
  backend: string;
  note: string;
  forwardMs: number;
  detectMs: number;
  detections: Detection[];
  imageChecksum: number;
}

/** The FNV-1a checksum the page computes of the decoded pixels. */
function checksum(data: Uint8Array): number {
  let h = 2166136261;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i], 16777619) >>> 0;
  return h;
}

/**
 * The page's detections equal Node's: as many, and each Node detection has one on the page of
 * the same class with every box coordinate and the score within `tol` (float32 sums in another
 * order, on another device). Detections within `tol` of the score threshold may be on one side only.
 */
function expectSameDetections(page: Detection[], node: Detection[], minScore: number, tol: number): void {
  const clear = (d: Detection): boolean => Math.abs(d.score - minScore) > tol;
  const unused = page.filter(clear);
  for (const d of node.filter(clear)) {
    const k = unused.findIndex((p) => p.label === d.label && Math.abs(p.score - d.score) <= tol && p.box.every((v, i) => Math.abs(v - d.box[i]) <= tol));
    expect(k, `Node's detection ${JSON.stringify(d)} is not on the page`).to.be.at.least(0);
    unused.splice(k, 1);
  }
  expect(unused, 'detections on the page that Node does not have').to.deep.equal([]);
}

describe('web page in headless Chromium', function () {
  this.timeout(600000);
  let server: Server;
  let context: BrowserContext;
  let page: Page;
  let profile = '';
  const errors: string[] = [];
  let node: Detection[] = [];
  let nodeWasm: Detection[] = []; // Node's answer on the wasm kernels, 2 threads
  const minScore = 0.3; // the page's default

  before(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`no browser at ${CHROMIUM}: run \`npm install\` as root (scripts/setup-browser.js installs Debian's chromium) or set $CHROMIUM`);
    }
    if (!fs.existsSync(path.join(ROOT, 'dist', 'site', 'main.js'))) throw new Error('dist/site/ is not built: run `npm run build:web`');
    server = await serve(0);
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1100, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    const port = (server.address() as { port: number }).port;
    await page.goto(`http://127.0.0.1:${port}/`);

    // Node's answer for the same weights and image, on the reference kernels.
    const { model } = loadModel(path.join(ROOT, 'dist', 'site', 'weights.safetensors'), referenceKernels); // what the page loads
    [node] = await detectImages(model, [readImage(path.join(ROOT, 'web', 'test-image.png'))], { minScore, maxOverlap: 0.45, topK: 200 });
    const wasmKernels = new WasmKernels({ threads: 2 });
    const onWasm = loadModel(path.join(ROOT, 'dist', 'site', 'weights.safetensors'), wasmKernels).model;
    [nodeWasm] = await detectImages(onWasm, [readImage(path.join(ROOT, 'web', 'test-image.png'))], { minScore, maxOverlap: 0.45, topK: 200 });
    await wasmKernels.dispose();
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await context?.close();
    server?.close();
    if (profile !== '') fs.rmSync(profile, { recursive: true, force: true });
  });

  const run = (backend: 'wasm' | 'webgl' | 'cpu', on: Page = page): Promise<PageRun> =>
    on.evaluate(async (b) => {
      const api = (globalThis as unknown as { ssdPage: { detect(b: string): Promise<PageRun> } }).ssdPage;
      return api.detect(b);
    }, backend);

  it('loads the example weights and image, with no errors', async () => {
    await page.evaluate(() => (globalThis as unknown as { ssdPage: { ready: Promise<void> } }).ssdPage.ready);
    expect(await page.textContent('#status')).to.match(/^ready/);
    expect(await page.textContent('#weights-info')).to.contain('4 classes');
    expect(errors).to.deep.equal([]);
  });

  it('on the GPU.js WebGL kernels: WebGL ran, and the detections are Node\'s', async () => {
    const r = await run('webgl');
    console.log(`      WebGL (${r.backend}): forward ${r.forwardMs.toFixed(0)} ms (first run, compiling the shaders), detection ${r.detectMs.toFixed(0)} ms`);
    expect(r.backend).to.match(/^gpu\.js:webgl2?$/, r.note);
    expect(r.imageChecksum, 'the page decoded other pixels than Node').to.equal(checksum(readImage(path.join(ROOT, 'web', 'test-image.png')).data));
    expect(r.detections.length).to.be.greaterThan(0);
    expectSameDetections(r.detections, node, minScore, 1e-4);
    const again = await run('webgl');
    console.log(`      WebGL again: forward ${again.forwardMs.toFixed(0)} ms`);
    expectSameDetections(again.detections, node, minScore, 1e-4);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'page-webgl.png'), fullPage: true });
  });

  it('on the WebAssembly kernels: the page is cross-origin isolated, runs them on every core (Web Workers on one shared memory), and the detections are Node\'s', async () => {
    const { isolated, cores } = await page.evaluate(() => ({ isolated: crossOriginIsolated, cores: navigator.hardwareConcurrency }));
    expect(isolated, 'scripts/serve-web.js sends COOP and COEP').to.equal(true);
    const first = await run('wasm');
    const r = await run('wasm');
    console.log(`      wasm, ${cores} threads: forward ${first.forwardMs.toFixed(0)} ms (first call), then ${r.forwardMs.toFixed(0)} ms; detection ${r.detectMs.toFixed(0)} ms`);
    expect(r.backend).to.equal('wasm', r.note);
    expect(await page.textContent('#status')).to.match(new RegExp(`ran on the WebAssembly kernels \\((relaxed SIMD|SIMD128), ${cores} threads?\\): forward \\d+ ms, detection \\d+ ms$`));
    expect(r.detections.length).to.be.greaterThan(0);
    expectSameDetections(r.detections, nodeWasm, minScore, 1e-5);
    expectSameDetections(r.detections, node, minScore, 1e-4); // and the reference kernels' (another summation order)
    await page.screenshot({ path: path.join(SCREENSHOTS, 'page-wasm.png'), fullPage: true });
    expect(errors).to.deep.equal([]);
  });

  it('a page that is not cross-origin isolated runs the WebAssembly kernels on one thread, and says so', async () => {
    const plain = await serve(0, undefined, { isolated: false });
    const other = await context.newPage();
    try {
      const otherErrors: string[] = [];
      other.on('pageerror', (e) => otherErrors.push(e.message));
      await other.goto(`http://127.0.0.1:${(plain.address() as { port: number }).port}/`);
      expect(await other.evaluate(() => crossOriginIsolated)).to.equal(false);
      const r = await run('wasm', other);
      expect(r.backend).to.equal('wasm');
      expect(await other.textContent('#status')).to.match(/WebAssembly kernels \((relaxed SIMD|SIMD128), 1 thread\).*not cross-origin isolated/);
      expectSameDetections(r.detections, nodeWasm, minScore, 1e-5);
      await other.screenshot({ path: path.join(SCREENSHOTS, 'page-wasm-one-thread.png'), fullPage: true });
      expect(otherErrors).to.deep.equal([]);
    } finally {
      await other.close();
      plain.close();
    }
  });

  it('on the CPU kernels: the detections are Node\'s', async () => {
    const r = await run('cpu');
    console.log(`      CPU (${r.backend}): forward ${r.forwardMs.toFixed(0)} ms, detection ${r.detectMs.toFixed(0)} ms`);
    expect(r.backend).to.equal('reference');
    expectSameDetections(r.detections, node, minScore, 1e-5);
    expect(await page.textContent('#status')).to.match(/ran on the reference CPU kernels: forward \d+ ms/);
  });

  it('the pictures answer the mouse: hovering the priors moves the cell, clicking a box shows its priors', async () => {
    const pixels = (id: string): Promise<string> =>
      page.evaluate((sel) => (document.querySelector(sel) as HTMLCanvasElement).toDataURL(), `#${id}`);
    // One map, so a hover picks a cell of conv9_2.
    await page.selectOption('#prior-map', 'conv9_2');
    const before = await pixels('priors');
    const priors = page.locator('#priors');
    await priors.scrollIntoViewIfNeeded();
    const box = await priors.boundingBox();
    if (box === null) throw new Error('no priors canvas');
    await priors.hover({ position: { x: box.width * 0.1, y: box.height * 0.3 } }); // in conv9_2's cell (1, 0)
    expect(await pixels('priors'), 'hovering redraws the priors').to.not.equal(before);

    // The example's first object, clicked at its centre inside the matching panel.
    const matchingBefore = await pixels('matching');
    const matching = page.locator('#matching');
    await matching.scrollIntoViewIfNeeded();
    const m = await matching.boundingBox();
    const geometry = await page.evaluate(() => {
      const c = document.querySelector('#matching') as HTMLCanvasElement;
      const api = (globalThis as unknown as { ssdPage: { panels(): { matching: { x: number; y: number; size: number } | null } } }).ssdPage;
      return { width: c.width, height: c.height, panel: api.panels().matching };
    });
    const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'site', 'example.json'), 'utf8')) as { objects: { boxXy: number[] }[] };
    const [x0, y0, x1, y1] = example.objects[0].boxXy;
    if (m === null || geometry.panel === null) throw new Error('no matching picture');
    const px = geometry.panel.x + ((x0 + x1) / 2) * geometry.panel.size; // canvas pixels
    const py = geometry.panel.y + ((y0 + y1) / 2) * geometry.panel.size;
    await matching.click({ position: { x: (px * m.width) / geometry.width, y: (py * m.height) / geometry.height } });
    expect(await page.textContent('#matching-info')).to.match(/^object \d only/);
    expect(await pixels('matching')).to.not.equal(matchingBefore);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'page-interactive.png'), fullPage: true });
    expect(errors).to.deep.equal([]);
  });

  it('each control redraws its picture at once: matching threshold, negatives per positive, NMS overlap, min score, the priors of a map; NMS step by step; precision-recall', async () => {
    // the page's controls (web/controls.ts), driven through its test API; a Detect has run (above)
    type Numbers = {
      positives: number | null; hardNegatives: number | null; beforeNms: number | null; afterNms: number | null; detections: number | null;
      priorCounts: { total: number; fitsModel: boolean }; priorError: string;
      nms: { candidates: number; step: number; kept: number; steps: unknown[] } | null; pr: { name: string; ap: number }[] | null;
    };
    const call = <T>(expression: string): Promise<T> => page.evaluate(`globalThis.ssdPage.${expression}`) as Promise<T>;
    const picture = async (id: string): Promise<number> => (await call<{ checksum: number }>(`pictureOf('${id}')`)).checksum;
    await run('wasm');
    const start = await call<Numbers>('resetControls()');
    expect(start.priorCounts.total, 'the default priors').to.equal(8732);
    expect(start.priorCounts.fitsModel).to.equal(true);
    const before = { matching: await picture('matching'), mining: await picture('mining'), detections: await picture('detections'), priors: await picture('priors'), nms: await picture('nms') };

    const looser = await call<Numbers>("setControl('threshold', 0.3)");
    expect(looser.positives as number, 'a lower matching threshold matches more priors').to.be.above(start.positives as number);
    expect(await picture('matching')).to.not.equal(before.matching);
    const fewer = await call<Numbers>("setControl('negPosRatio', 1)");
    expect(fewer.hardNegatives, 'one negative per positive').to.equal(fewer.positives);
    expect(await picture('mining')).to.not.equal(before.mining);
    await call('resetControls()');
    const overlap = await call<Numbers>("setControl('maxOverlap', 0.9)");
    expect(overlap.afterNms as number, 'a higher NMS overlap keeps more boxes').to.be.at.least(start.afterNms as number);
    await call("setControl('minScore', 0.05)");
    expect(await picture('detections')).to.not.equal(before.detections);
    await call('resetControls()');
    const edited = await call<Numbers>("setControl('priorRatios', '1, 2')");
    expect(edited.priorCounts.total, 'fewer ratios, fewer priors').to.be.below(8732);
    expect(edited.priorCounts.fitsModel, 'the model was trained with the default priors').to.equal(false);
    expect(await picture('priors')).to.not.equal(before.priors);
    const reset = await call<Numbers>('resetControls()');
    expect(reset.priorCounts.total).to.equal(8732);
    expect(await picture('priors'), 'reset restores the picture').to.equal(before.priors);

    const nms = (await call<Numbers>('controlNumbers()')).nms;
    expect(nms, 'NMS step by step after a Detect').to.not.equal(null);
    const stepped = await call<Numbers>(`setControl('nmsStep', ${Math.min(2, (nms as { steps: unknown[] }).steps.length)})`);
    expect((stepped.nms as { step: number }).step).to.equal(Math.min(2, (nms as { steps: unknown[] }).steps.length));
    const pr = (await call<Numbers>('controlNumbers()')).pr;
    expect(pr, 'precision-recall of the example image').to.not.equal(null);
    for (const c of pr as { ap: number }[]) expect(c.ap).to.be.within(0, 1);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'page-controls.png'), fullPage: true });
    expect(errors).to.deep.equal([]);
  });

  it('an image the user picks goes the same way', async () => {
    await page.setInputFiles('#image-file', path.join(ROOT, 'web', 'test-image.png'));
    await page.waitForFunction(() => /^loaded test-image\.png/.test(document.querySelector('#status')?.textContent ?? ''));
    expect(await page.textContent('#image-info')).to.match(/^test-image\.png: 300x300/);
    // the last image's detection pictures are gone until Detect runs on this one
    expect(await page.textContent('#nms-info')).to.equal('press Detect first');
    expect(await page.evaluate(() => (document.getElementById('detections') as HTMLCanvasElement).width)).to.equal(0);
    expect(await page.textContent('#detections-table')).to.equal('');
    const r = await run('cpu');
    expectSameDetections(r.detections, node, minScore, 1e-5);
  });

  it('trains the demo\'s detector in the tab, in a worker: the loss at every step and the weights after K steps are Node\'s, bit for bit', async () => {
    const K = 12;
    const EPOCHS = 6; // both runs' schedules span the same epochs (the cosine decay depends on the run's length)
    // Node: the same recipe (demo/recipe.ts), the same kernels (wasm, 2 threads, as the page's 2 cores)
    const data = demoData();
    const kernels = new WasmKernels({ threads: 2 });
    const model = new SSD300({ ...demoModelOptions(), kernels });
    const nodeLosses: number[] = [];
    await train(model, inMemorySource(data.train), {
      ...demoTraining(EPOCHS), maxSteps: K, evalData: inMemorySource(data.test), evalEvery: 1, workers: 0, handleSigint: false, curves: false, log: () => undefined,
      onStep: (r) => void nodeLosses.push(r.loss),
    });
    const nodeWeights = encodeSafetensors(stateDict(model), { ...model.weightsMetadata(), classes: JSON.stringify(DEMO_CLASSES) });
    await kernels.dispose();

    type PageTrained = { losses: number[]; steps: number; threads: number; dataMs: number; msPerStep: number; weightsChecksum: number; weightsBytes: number; evalHistory: { mAP: number }[] };
    const training = page.evaluate(([e, k]) => (globalThis as unknown as { ssdPage: { train(e: number, s: number): Promise<PageTrained> } }).ssdPage.train(e, k), [EPOCHS, K]);
    // the page answers while the worker trains
    await page.waitForFunction(() => /^(making|kernels)/.test(document.querySelector('#train-log')?.textContent ?? ''));
    expect(await page.evaluate(() => document.title.length >= 0)).to.equal(true);
    const r = await training;
    console.log(`      trained ${r.steps} steps in the tab on ${r.threads} threads: ${r.msPerStep.toFixed(0)} ms a step (data ${(r.dataMs / 1000).toFixed(1)} s)`);
    expect(r.steps).to.equal(K);
    expect(r.threads).to.equal(2);
    expect(r.weightsBytes).to.equal(nodeWeights.length);
    expect(r.weightsChecksum, 'the weights after K steps, bit for bit').to.equal(checksum(nodeWeights));
    // and the losses, to the last bit: the loss's exp and log are tensor/exact_math.ts's, not the
    // engine's Math (Chromium's V8 and Node 20's differ by 1 ulp on a few percent of arguments)
    expect(r.losses, 'the loss at every step').to.deep.equal(nodeLosses);
    expect(r.evalHistory.length, 'the mAP of the last step').to.equal(1);
    expect(await page.textContent('#train-status')).to.match(/^done: 12 steps/);
    expect(await page.isVisible('#train-download'), 'a link to download the weights').to.equal(true);
    expect(await page.textContent('#weights-info')).to.contain('trained in this tab');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'page-trained.png'), fullPage: true });
  });

  it('pauses, steps and resumes a run in the tab', async () => {
    const api = 'globalThis.ssdPage';
    const losses = (): Promise<number> => page.evaluate(`${api}.trainLosses().length`) as Promise<number>;
    const done = page.evaluate(`${api}.train(6, 5)`);
    await page.evaluate(`${api}.trainControl('pause')`); // it pauses after the step going on (the first)
    await page.waitForFunction(`/paused/.test(document.querySelector('#train-status').textContent)`, undefined, { timeout: 120000 });
    const paused = await losses();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await losses(), 'no step while paused').to.equal(paused);
    await page.evaluate(`${api}.trainControl('step')`);
    await page.waitForFunction(`${api}.trainLosses().length === ${paused + 1}`, undefined, { timeout: 60000 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await losses(), 'one step, then paused again').to.equal(paused + 1);
    await page.evaluate(`${api}.trainControl('resume')`);
    await done;
    expect(await losses()).to.equal(5);
    expect(errors).to.deep.equal([]);
  });

  it('your own data: labels images with the mouse, trains on them in the tab (the detector gets their classes), and downloads them as a VOC zip that readVocDataset and `ssd train` read', async () => {
    type Labels = { classes: string[]; images: number; boxes: number; current: number; selected: number | null; list: { name: string; width: number; height: number; boxes: { boxXy: BoxXy; label: string }[] }[] };
    const labels = (): Promise<Labels> => page.evaluate('globalThis.ssdPage.labels()') as Promise<Labels>;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-labels-'));
    try {
      // the example image and two synthetic ones; the test draws their true boxes
      const synthetic = makeSyntheticDataset(2, 11, SYNTHETIC_TASK);
      const files = [path.join(ROOT, 'web', 'test-image.png')];
      synthetic.forEach((s, i) => {
        files.push(path.join(dir, `shapes-${i + 1}.png`));
        fs.writeFileSync(files[i + 1], encodePng(s.image));
      });
      const example = parseVocAnnotation(fs.readFileSync(path.join(ROOT, 'web', 'test-image.xml'), 'utf8'), 'web/test-image.xml', SYNTHETIC_CLASSES);
      const targets = [example.objects, ...synthetic.map((s) => s.objects)].map((objects) => objects.map((o) => ({ boxXy: o.boxXy, name: SYNTHETIC_CLASSES[o.label] })));

      // the class list, checked as --classes is; the user's order, not the demo's
      await page.fill('#label-classes', 'circle, circle');
      await page.press('#label-classes', 'Enter');
      expect(await page.textContent('#label-classes-error')).to.contain("'circle' is named twice");
      await page.fill('#label-classes', 'triangle, circle, square');
      await page.press('#label-classes', 'Enter');
      expect(await page.textContent('#label-classes-error')).to.equal('');
      const classes = ['background', 'triangle', 'circle', 'square'];
      expect((await labels()).classes).to.deep.equal(classes);

      await page.setInputFiles('#label-files', files);
      await page.waitForFunction('globalThis.ssdPage.labels().images === 3');
      const canvas = page.locator('#label-canvas');
      /** A drag from corner to corner with real mouse events, at fractions of the image shown. */
      const drag = async (box: readonly number[], name: string): Promise<void> => {
        await page.selectOption('#label-class', { label: name });
        await canvas.scrollIntoViewIfNeeded();
        const bb = await canvas.boundingBox();
        if (bb === null) throw new Error('no labelling canvas');
        // a quarter of a screen pixel inside the box's corners (the page rounds to the image's pixels)
        const x = (f: number, inward: number): number => bb.x + f * bb.width + inward * 0.25;
        const y = (f: number, inward: number): number => bb.y + f * bb.height + inward * 0.25;
        await page.mouse.move(x(box[0], 1), y(box[1], 1));
        await page.mouse.down();
        await page.mouse.move(x((box[0] + box[2]) / 2, 0), y((box[1] + box[3]) / 2, 0), { steps: 4 });
        await page.mouse.move(x(box[2], -1), y(box[3], -1), { steps: 2 });
        await page.mouse.up();
      };
      const clickAt = async (fx: number, fy: number): Promise<void> => {
        const bb = await canvas.boundingBox();
        if (bb === null) throw new Error('no labelling canvas');
        await page.mouse.click(bb.x + fx * bb.width, bb.y + fy * bb.height);
      };

      // image 1: its three objects; a box too small to count; one more, selected by a click and deleted
      for (const t of targets[0]) await drag(t.boxXy, t.name);
      await drag([0.5, 0.02, 0.5 + 2 / 300, 0.02 + 2 / 300], 'square'); // 2 x 2 pixels: ignored
      expect((await labels()).boxes, 'a box of 2 x 2 pixels is ignored').to.equal(3);
      await drag([0.02, 0.02, 0.2, 0.15], 'square');
      expect((await labels()).boxes).to.equal(4);
      await clickAt(0.95, 0.95); // on no box: nothing selected
      expect((await labels()).selected).to.equal(null);
      await clickAt(0.1, 0.08);
      expect((await labels()).selected, 'a click selects the box under it').to.equal(3);
      await page.click('#label-delete');
      expect((await labels()).boxes).to.equal(3);

      // image 2: its objects, and one more deleted with its x in the list
      await page.click('#label-next');
      expect(await page.textContent('#label-position')).to.match(/^image 2 of 3: shapes-1\.png \(300x300\)/);
      await drag([0.6, 0.6, 0.9, 0.95], 'triangle');
      for (const t of targets[1]) await drag(t.boxXy, t.name);
      await page.click('#label-boxes tr[data-box="0"] button');
      // image 3
      await page.click('#label-next');
      for (const t of targets[2]) await drag(t.boxXy, t.name);

      const drawn = await labels();
      const nBoxes = targets.reduce((n, t) => n + t.length, 0);
      expect(drawn.images).to.equal(3);
      expect(drawn.boxes).to.equal(nBoxes);
      expect(await page.textContent('#label-counts')).to.match(new RegExp(`^3 images \\(3 with boxes\\), ${nBoxes} boxes: triangle \\d+, circle \\d+, square \\d+$`));
      drawn.list.forEach((img, k) => {
        expect(img.name).to.equal(path.basename(files[k]));
        expect(img.boxes.map((b) => b.label), `image ${k + 1}: the classes`).to.deep.equal(targets[k].map((t) => t.name));
        img.boxes.forEach((b, i) => {
          const t = targets[k][i].boxXy;
          // within a pixel of what was dragged; x1 < x2, y1 < y2, on the pixel grid
          b.boxXy.forEach((v, j) => expect(Math.abs(v - t[j]) * 300, `image ${k + 1} box ${i + 1}: ${b.boxXy} vs ${t}`).to.be.at.most(1 + 1e-9));
          expect(b.boxXy[0] < b.boxXy[2] && b.boxXy[1] < b.boxXy[3]).to.equal(true);
          b.boxXy.forEach((v) => expect(Math.abs(v * 300 - Math.round(v * 300))).to.be.below(1e-9));
        });
      });

      // train on them: 3 images make batches of 3, one step an epoch
      type PageTrained = { steps: number; classes: string[]; userImages: number | null; evalHistory: { mAP: number }[]; weightsBytes: number };
      const r = await page.evaluate('globalThis.ssdPage.trainOnLabels(2, 2)') as PageTrained;
      expect(r.steps).to.equal(2);
      expect(r.classes).to.deep.equal(classes);
      expect(r.userImages).to.equal(3);
      expect(r.evalHistory.length, 'the mAP on the same images after each epoch').to.be.at.least(1);
      expect(await page.textContent('#train-status')).to.match(/^done: 2 steps .*on your 3 images \(the training images: no held-out split/);
      expect(await page.textContent('#weights-info')).to.match(/^trained in this tab on your 3 images \(2 steps\): 4 classes \(triangle, circle, square\), width divisor 16$/);
      expect(await page.textContent('#image-info'), 'the detector ran on the image shown').to.match(/^shapes-2\.png: 300x300/);
      expect(await page.textContent('#status')).to.match(/^\d+ detections; ran on/);
      await page.locator('#labels').screenshot({ path: path.join(SCREENSHOTS, 'page-labelling.png') }); // the section, with the detections dashed

      // the zip: a VOC data set that readVocDataset reads with the same boxes, classes and pixels
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#label-zip')]);
      expect(download.suggestedFilename()).to.equal('my-data-voc.zip');
      const zipPath = path.join(dir, 'my-data-voc.zip');
      await download.saveAs(zipPath);
      const voc = path.join(dir, 'voc');
      const unzip = spawnSync('/usr/bin/python3', ['-m', 'zipfile', '-e', zipPath, voc], { encoding: 'utf8' });
      expect(unzip.status, unzip.stderr).to.equal(0);
      const samples = readVocDataset(voc, 'trainval', classes);
      expect(samples.map((s) => path.relative(voc, s.imagePath))).to.deep.equal(['000001', '000002', '000003'].map((id) => path.join('JPEGImages', `${id}.png`)));
      samples.forEach((s, k) => {
        expect(s.objects.map((o) => classes[o.label])).to.deep.equal(drawn.list[k].boxes.map((b) => b.label));
        s.objects.forEach((o, i) => o.boxXy.forEach((v, j) => expect(Math.abs(v - drawn.list[k].boxes[i].boxXy[j]) * 300, `image ${k + 1} box ${i + 1}`).to.be.below(1e-6)));
        expect(checksum(readImage(s.imagePath).data), `image ${k + 1}: the pixels`).to.equal(checksum(readImage(files[k]).data));
      });

      // `ssd train` reads it, and its checkpoint loads in the page as the detector
      const checkpoint = path.join(dir, 'cli.safetensors');
      const cli = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'cli', 'ssd.js'), 'train', '--data', voc, '--classes', 'triangle,circle,square', '--batch-norm', '--width-divisor', '16',
        '--max-steps', '1', '--batch', '3', '--workers', '0', '--threads', '2', '--out', checkpoint], { encoding: 'utf8' });
      expect(cli.status, cli.stdout + cli.stderr).to.equal(0);
      expect(cli.stdout).to.contain('training on 3 images, 4 classes');
      await page.setInputFiles('#weights-file', checkpoint);
      await page.waitForFunction(() => /^loaded cli\.safetensors/.test(document.querySelector('#status')?.textContent ?? ''));
      expect(await page.textContent('#weights-info')).to.equal('cli.safetensors: 4 classes (triangle, circle, square), width divisor 16');
      expect(errors).to.deep.equal([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
