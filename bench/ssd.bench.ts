// Benchmark of the whole SSD300 (21 classes): forward time per image and a training step
// (forward, MultiBox loss, backward, SGD with momentum and weight decay) per image, per backend
// and batch size, with GFLOP/s and the share of the machine's peak, and a per-layer table showing
// where the time goes.
//
//   node dist/bench/ssd.bench.js [--backends wasm,cpu] [--batches 1,4] [--runs 3] [--warmup 2] [--quick]
//                                [--forward-only] [--width-divisor 16 --classes 4] [--layers 20] [--json FILE]
//
// Convolution algorithms: `wasm` runs the default ('auto': Winograd where its measured rule says
// it pays, the GEMM elsewhere); `wasm:gemm`, `wasm:winograd` and `wasm:auto` choose one, so
// `--backends wasm:gemm,wasm:auto` prints each algorithm's time per layer and pass side by side
// in two tables. The wasm tables have a column `algorithm` (forward / input gradient / weight
// gradient): the tile F2, F4 or F6 the backend runs, or gemm (conv1_1's input gradient is listed
// but never computed in a training step). Per-call timings of each tile size against the GEMM, with
// their errors, are bench/winograd.bench.ts's (`npm run bench:winograd`).
//
// Warm-up: `--warmup` untimed forward passes (default 2) before the timed runs: the first starts
// the workers and compiles, and grows the backends' memory (the wasm backend's blocks, see
// kernels/wasm/heap.ts, whose fresh pages cost a page fault each the first time); the later
// passes reuse it. The timed runs measure the steady state that a long inference or training
// run sees: the wasm backend keeps the weights' Winograd transforms from the third forward pass
// with the same weights on, as inference runs (the first timed run makes them, so the median of 3
// or more leaves it out); a training step changes the weights, so it makes them at every step.
// `--forward-only` skips the training steps (the cpu backend's take minutes on the full model).
// `--quick`: batch 1, one warm-up and one timed forward per backend, no training step.
//
// FLOPs: a forward pass of the full model is 31.37 GMAC = 62.7 GFLOP per image (convolutions
// only; see `ssd summary`); --width-divisor 16 gives the demo's small model. A training step
// counts 3x the forward: backward costs one pass for the input gradient and one for the weight
// gradient, each as large as the forward.
//
// Peak: the wasm backend is compared with the measured WebAssembly SIMD peak of its micro-kernel
// variant on all cores, the others (scalar JavaScript) with cores x measured clock x 2 FLOPs per
// cycle (one multiply and one add issued per cycle per core): bench/machine.ts, as in the kernel
// bench.

import * as os from 'os';
import { Tensor } from '../tensor/tensor';
import { Rng, randNormal } from '../tensor/random';
import { fromArray } from '../tensor/create';
import { createKernels } from '../kernels/select';
import { Kernels } from '../kernels/kernels';
import { Layer } from '../layers/layer';
import { Conv2d } from '../layers/conv2d';
import { SSD300 } from '../ssd/ssd300';
import { summarize } from '../ssd/summary';
import { multiboxLoss, ImageTargets } from '../ssd/loss';
import * as fs from 'fs';
import { scalarPeakGflops, simdPeakGflops } from './machine';
import { ConvAlgorithm, CONV_ALGORITHMS, WasmKernels, transposedAsForward } from '../kernels/wasm';
import { conv2dGeometry } from '../kernels/geometry';
import { CheckedKernels } from '../kernels/checked';
import { SGD } from '../layers/sgd';
import { arg } from './args';

interface LayerTime {
  forward: number;
  backward: number;
  /** A convolution's input shape, from its last forward call (for the algorithm the backend chose). */
  inputShape?: number[];
}

/** Wrap every conv/pool/relu/l2norm layer so that its forward and backward times are recorded by name. */
function instrument(model: SSD300): Map<string, LayerTime> {
  const times = new Map<string, LayerTime>();
  const wrap = (prefix: string, layer: Layer): void => {
    const name = prefix + layer.name;
    const t: LayerTime = { forward: 0, backward: 0 };
    times.set(name, t);
    const forward = layer.forward.bind(layer);
    const backward = layer.backward.bind(layer);
    layer.forward = async (x: Tensor): Promise<Tensor> => {
      if (layer instanceof Conv2d) t.inputShape = [...x.shape];
      const start = performance.now();
      const y = await forward(x);
      t.forward += performance.now() - start;
      return y;
    };
    let inBackward = false;
    layer.backward = async (dy: Tensor): Promise<Tensor> => {
      const start = performance.now();
      inBackward = true;
      const dx = await backward(dy);
      inBackward = false;
      t.backward += performance.now() - start;
      return dx;
    };
    if (layer instanceof Conv2d) {
      // conv1_1 in a training step: only the parameters' half of backward (SSD300.backwardToParameters)
      const parameterGradients = layer.parameterGradients.bind(layer);
      layer.parameterGradients = async (dy: Tensor): Promise<void> => {
        if (inBackward) return parameterGradients(dy); // counted by backward
        const start = performance.now();
        await parameterGradients(dy);
        t.backward += performance.now() - start;
      };
    }
  };
  for (const layer of model.base.children()) wrap('base.', layer);
  wrap('', model.l2norm);
  for (const layer of model.auxConvs.children()) wrap('aux_convs.', layer);
  for (const layer of model.predConvs.children()) wrap('pred_convs.', layer);
  return times;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function syntheticTargets(batch: number, nClasses: number): ImageTargets[] {
  const label = (i: number): number => 1 + (i % (nClasses - 1)); // never 0, the background
  const targets: ImageTargets[] = [];
  for (let i = 0; i < batch; i++) {
    targets.push({ boxes: fromArray([[0.1, 0.2, 0.45, 0.7], [0.5, 0.4, 0.95, 0.9]]), labels: [label(i), label(i + 7)] });
  }
  return targets;
}

interface Result {
  backend: string;
  microKernel?: string;
  batch: number;
  forwardSecondsPerImage: number;
  forwardGflops: number;
  stepSecondsPerImage: number;
  stepGflops: number;
  peakGflops: number;
}

async function benchBackend(
  name: string, batches: number[], runs: number, peaks: { scalar: number; simd: number; relaxed: number },
  model0: { nClasses: number; widthDivisor: number }, results: Result[], options: { warmup: number; forwardOnly: boolean },
): Promise<void> {
  const [backend, algorithm] = name.split(':');
  if (algorithm !== undefined && !CONV_ALGORITHMS.includes(algorithm as ConvAlgorithm)) {
    throw new Error(`--backends ${name}: the convolution algorithm must be one of ${CONV_ALGORITHMS.join(', ')}`);
  }
  const kernels: Kernels = await createKernels(backend, { convAlgorithm: algorithm as ConvAlgorithm | undefined });
  // The wasm backend's micro-kernel variant decides its peak.
  const fast = kernels instanceof CheckedKernels ? kernels.fast : kernels;
  const wasm = fast instanceof WasmKernels ? fast : undefined;
  const microKernel = wasm?.microKernel;
  const peak = microKernel === undefined ? peaks.scalar : peaks[microKernel];
  const model = new SSD300({ nClasses: model0.nClasses, widthDivisor: model0.widthDivisor, kernels });
  const gflopForward = (2 * summarize(model).totalMacs) / 1e9; // per image
  const times = instrument(model);
  // the trainer's optimizer settings; a small learning rate keeps the weights (and so the work) alike from step to step
  const optimizer = new SGD(model.parameters(), { lr: 1e-6, momentum: 0.9, weightDecay: 5e-4, kernels });
  const algorithmText = wasm === undefined ? '' : `convolutions: ${wasm.convAlgorithm}; `;
  console.log(`\n== backend ${name}${microKernel ? ` (${algorithmText}micro-kernel: ${microKernel}; peak ${peak.toFixed(1)} GFLOP/s)` : ` (scalar peak ${peak.toFixed(1)} GFLOP/s)`} ==`);
  for (const batch of batches) {
    const images = randNormal([batch, 3, 300, 300], new Rng(batch));
    const targets = syntheticTargets(batch, model0.nClasses);
    // warm-up: first calls compile kernels (GPU.js), start workers, and grow the memory (see the top)
    for (let w = 0; w < Math.max(1, options.warmup); w++) {
      await model.forward(images);
      model.clearCache();
    }
    const forwardMs: number[] = [];
    const stepMs: number[] = [];
    for (const t of times.values()) t.forward = t.backward = 0;
    for (let r = 0; r < runs; r++) {
      let start = performance.now();
      await model.forward(images);
      forwardMs.push(performance.now() - start);
      model.clearCache();
      if (options.forwardOnly) continue;
      start = performance.now();
      const out = await model.forward(images);
      const loss = multiboxLoss(out.locs, out.scores, targets, model.priorsCxcy);
      await model.backwardToParameters(loss.dLocs, loss.dScores);
      await optimizer.step();
      stepMs.push(performance.now() - start);
      model.zeroGrad();
      model.clearCache();
    }
    const fwd = median(forwardMs) / batch;
    const step = options.forwardOnly ? NaN : median(stepMs) / batch;
    const fwdGflops = gflopForward / (fwd / 1000);
    const stepGflops = (3 * gflopForward) / (step / 1000);
    console.log(
      `batch ${batch}: forward ${(fwd / 1000).toFixed(3)} s/image  ${fwdGflops.toFixed(2)} GFLOP/s (${((100 * fwdGflops) / peak).toFixed(1)}% of peak)` +
        (options.forwardOnly ? '' :
          `   train step ${(step / 1000).toFixed(3)} s/image  ${stepGflops.toFixed(2)} GFLOP/s (${((100 * stepGflops) / peak).toFixed(1)}% of peak)` +
          `   step / forward ${(step / fwd).toFixed(2)}`),
    );
    results.push({
      backend: name, microKernel, batch, forwardSecondsPerImage: fwd / 1000, forwardGflops: fwdGflops,
      stepSecondsPerImage: step / 1000, stepGflops, peakGflops: peak,
    });
    if (batch === batches[batches.length - 1]) printLayerTable(times, runs, batch, options.forwardOnly, model, peak, wasm);
  }
  await kernels.dispose();
}

/**
 * Which algorithm the wasm backend ran a convolution's three passes with: 'F4 / F4 / F6', 'gemm /
 * gemm / gemm'; a dilated layer run as Winograd on its sub-sampled maps (kernels/wasm/dilated.ts)
 * says so: 'F2 maps'.
 */
function algorithmsOf(wasm: WasmKernels, conv: Conv2d, inputShape: number[]): string {
  const g = conv2dGeometry(inputShape, conv.weight.value.shape, conv.options);
  const passes = ['forward', 'backwardInput', 'backwardWeight'] as const;
  return passes
    .map((pass) => {
      const maps = wasm.dilatedRoute(pass, g);
      const run = maps ?? g;
      // the input gradient runs as a forward pass where it can (null: the GEMM's own backward)
      const decides = pass === 'backwardInput' ? transposedAsForward(run) : run;
      const tile = decides === null ? null : wasm.winogradTile(pass === 'backwardWeight' ? 'backwardWeight' : 'forward', decides);
      return tile === null ? 'gemm' : `F${tile}${maps === null ? '' : ' maps'}`;
    })
    .join(' / ');
}

function printLayerTable(
  times: Map<string, LayerTime>, runs: number, batch: number, forwardOnly: boolean, model: SSD300, peak: number, wasm?: WasmKernels,
): void {
  // Each run did two forwards (one timed alone, one in the step) and one backward, or one forward.
  const forwards = forwardOnly ? runs : 2 * runs;
  const macs = new Map(summarize(model, batch).rows.map((r) => [r.name, r.macs])); // convolutions only
  const firstConv = model.topology[0].layers[0]; // its backward in a step has only the weights' half
  const convs = new Map<string, Conv2d>();
  for (const [prefix, layers] of [['base.', model.base.children()], ['aux_convs.', model.auxConvs.children()], ['pred_convs.', model.predConvs.children()]] as const) {
    for (const layer of layers) if (layer instanceof Conv2d) convs.set(prefix + layer.name, layer);
  }
  const rows = [...times.entries()].map(([name, t]) => {
    const forwardFlops = 2 * (macs.get(name) ?? 0);
    const backwardFlops = name === `base.${firstConv.name}` ? forwardFlops : 2 * forwardFlops;
    const conv = convs.get(name);
    const algorithms = wasm === undefined || conv === undefined || t.inputShape === undefined ? '' : algorithmsOf(wasm, conv, t.inputShape);
    return { name, forward: t.forward / forwards, backward: t.backward / runs, forwardFlops, backwardFlops, algorithms };
  });
  const total = rows.reduce((s, r) => s + r.forward + (forwardOnly ? 0 : r.backward), 0);
  rows.sort((a, b) => b.forward + b.backward - (a.forward + a.backward));
  // GFLOP/s and the share of the peak, for convolutions (the other layers move memory)
  const rate = (flops: number, ms: number): string => {
    if (flops === 0 || ms === 0) return `${'-'.padStart(9)}${'-'.padStart(7)}`;
    const gflops = flops / 1e6 / ms;
    return `${gflops.toFixed(1).padStart(9)}${`${((100 * gflops) / peak).toFixed(0)}%`.padStart(7)}`;
  };
  const pass = (ms: number, flops: number): string => `${ms.toFixed(1).padStart(10)}${rate(flops, ms)}`;
  console.log(`per layer, batch ${batch} (ms per batch, GFLOP/s and share of the peak; largest first; share of the time):`);
  const header = (title: string): string => `${title.padStart(10)}${'GFLOP/s'.padStart(9)}${'peak'.padStart(7)}`;
  const algorithmHeader = wasm === undefined ? '' : `  ${'algorithm (fwd / dx / dW)'}`;
  console.log(`${'layer'.padEnd(26)}${header('forward')}${forwardOnly ? '' : header('backward')}${'share'.padStart(8)}${algorithmHeader}`);
  const shown = Number(arg('layers', '20'));
  for (const r of rows.slice(0, shown)) {
    const share = (100 * (r.forward + (forwardOnly ? 0 : r.backward))) / total;
    const algorithms = wasm === undefined ? '' : `  ${r.algorithms}`;
    console.log(`${r.name.padEnd(26)}${pass(r.forward, r.forwardFlops)}${forwardOnly ? '' : pass(r.backward, r.backwardFlops)}${share.toFixed(1).padStart(7)}%${algorithms}`);
  }
  if (rows.length > shown) console.log(`(${rows.length - shown} smaller layers not shown; --layers ${rows.length} shows all)`);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const backends = arg('backends', 'wasm,cpu').split(',');
  const batches = arg('batches', quick ? '1' : '1,4').split(',').map(Number);
  const runs = Number(arg('runs', quick ? '1' : '3'));
  const warmup = Number(arg('warmup', quick ? '1' : '2'));
  const forwardOnly = quick || process.argv.includes('--forward-only'); // --quick: under half a minute here
  const model = { nClasses: Number(arg('classes', '21')), widthDivisor: Number(arg('width-divisor', '1')) };
  const jsonFile = arg('json', '');
  const cores = os.availableParallelism();
  const { ghz, gflops: scalar } = await scalarPeakGflops(cores);
  const peaks = { scalar, simd: await simdPeakGflops(cores, 'simd'), relaxed: await simdPeakGflops(cores, 'relaxed') };
  const gflop = (2 * summarize(new SSD300({ ...model })).totalMacs) / 1e9;
  console.log(`SSD300 benchmark: ${cores} cores at ${ghz.toFixed(2)} GHz (measured); peaks: scalar ${scalar.toFixed(1)} GFLOP/s, ` +
    `WebAssembly SIMD ${peaks.simd.toFixed(1)} (mul + add) / ${peaks.relaxed.toFixed(1)} (relaxed_madd) GFLOP/s`);
  console.log(`model: ${model.nClasses} classes, width / ${model.widthDivisor}: forward = ${gflop.toFixed(2)} GFLOP per image; ` +
    `training step counted as 3x forward; ${warmup} warm-up forward(s), then the median of ${runs} run(s)`);
  const results: Result[] = [];
  for (const name of backends) await benchBackend(name, batches, runs, peaks, model, results, { warmup, forwardOnly });
  if (jsonFile !== '') {
    fs.writeFileSync(jsonFile, JSON.stringify({ node: process.version, cores, ghz, peaks, model, gflopPerImage: gflop, results }, null, 2));
    console.log(`\nwrote ${jsonFile}`);
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
