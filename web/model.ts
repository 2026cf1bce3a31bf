// The detector in the browser: the same SSD300, kernels, loss pieces and detection as in Node.
//
// Only what touches files differs. Node reads a weights file with fs (io/files.ts); here the
// bytes come from fetch or a file the user picked, and go through the same safetensors parser
// (tensor/safetensors.ts, decodeSafetensors) and the same loadStateDict. Kernels: the wasm
// backend (the same .wat kernels as in Node, their threads as Web Workers on one shared memory
// where the page is cross-origin isolated, else one thread), GPU.js as WebGL shaders (webgl2,
// else webgl), or the plain-TypeScript reference kernels. The Node-only 'cpu' backend is not bundled.

import { SSD300 } from '../ssd/ssd300';
import { decodeSafetensors } from '../tensor/safetensors';
import { Tensor } from '../tensor/tensor';
import { Kernels } from '../kernels/kernels';
import { ReferenceKernels } from '../kernels/cpu/reference';
import { GpuJsKernels } from '../kernels/gpu';
import { GpuJsMode } from '../kernels/gpu/runtime';
import { Detection, DetectOptions, detectObjects } from '../ssd/detect';
import { RgbImage } from '../data/image';
import { prepareForSSD } from '../data/image_tensor';
import { classNamesOfWeights } from '../data/class_names';
import { createWasmKernels, isolated, loadWasm } from './wasm_kernels';

export type BackendChoice = 'wasm' | 'webgl' | 'cpu';

export { createWasmKernels, isolated, loadWasm };

export interface LoadedWeights {
  tensors: Map<string, Tensor>;
  nClasses: number;
  widthDivisor: number;
  classes: string[];
  source: string;
}

/**
 * Parse a weights file and read the model's shape off its tensors (SSD300.shapeOfWeights, as
 * SSD300.fromWeights does for a file).
 */
export function parseWeights(bytes: Uint8Array, source: string): LoadedWeights {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const { nClasses, widthDivisor } = SSD300.shapeOfWeights(tensors, source);
  const classes = classNamesOfWeights(metadata, nClasses, source); // as the CLI names them
  return { tensors, nClasses, widthDivisor, classes, source };
}

/** The kernels to run on: GPU.js WebGL (webgl2, else webgl), else the reference CPU kernels. */
export function createBrowserKernels(choice: BackendChoice): { kernels: Kernels; note: string } {
  if (choice === 'webgl') {
    const failures: string[] = [];
    for (const mode of ['webgl2', 'webgl'] as GpuJsMode[]) {
      try {
        // Room for every kernel geometry of one forward pass (about 60), so that a second image
        // reuses the compiled shaders instead of compiling evicted ones again.
        return { kernels: new GpuJsKernels({ mode, maxKernels: 128 }), note: '' };
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
    return { kernels: new ReferenceKernels(), note: `no WebGL here, so the CPU kernels ran (${failures.join('; ')})` };
  }
  return { kernels: new ReferenceKernels(), note: '' };
}

/** The model the weights describe (batch norm or not, read off the names), in evaluation mode. */
export function buildModel(weights: LoadedWeights, kernels: Kernels): SSD300 {
  return SSD300.fromWeights(weights.tensors, weights.source, { kernels }).eval();
}

export interface RunResult {
  /** The kernels that ran: 'wasm', 'gpu.js:webgl2', 'gpu.js:webgl' or 'reference'. */
  backend: string;
  note: string;
  /** Forward pass and detection, in milliseconds. */
  forwardMs: number;
  detectMs: number;
  /** This image's predictions: (8732, 4) gcxgcy offsets and (8732, n_classes) logits. */
  locs: Tensor;
  scores: Tensor;
  detections: Detection[];
}

/** One image through the network and detection: what `ssd detect` does, with the time each took. */
export async function runDetector(model: SSD300, image: RgbImage, options: DetectOptions, note = ''): Promise<RunResult> {
  const input = prepareForSSD(image); // (1, 3, 300, 300)
  const t0 = performance.now();
  const { locs, scores } = await model.forward(input); // (1, 8732, 4), (1, 8732, n_classes)
  model.clearCache();
  const t1 = performance.now();
  const detections = detectObjects(locs, scores, model.priorsCxcy, options)[0];
  const t2 = performance.now();
  const n = model.priorsCxcy.shape[0];
  return {
    backend: model.kernels.name,
    note,
    forwardMs: t1 - t0,
    detectMs: t2 - t1,
    locs: locs.reshape([n, 4]),
    scores: scores.reshape([n, model.nClasses]),
    detections,
  };
}
