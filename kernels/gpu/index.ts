// GPU.js kernels: the Kernels interface on GPU.js's 'webasm', 'headlessgl' and 'cpu' backends.
export { GpuJsKernels, GpuJsKernelsOptions } from './gpujs_kernels';
export { GpuJsMode, GPUJS_MODES } from './runtime';

import { GpuJsKernels } from './gpujs_kernels';
import { GpuJsMode } from './runtime';

/** The GPU.js kernels for one mode; throws if that mode is not available here. */
export function createGpuJsKernels(mode: GpuJsMode): GpuJsKernels {
  return new GpuJsKernels({ mode });
}
