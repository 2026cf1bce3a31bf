// Choosing the backend that runs the kernels, by a name users understand:
//
//   reference          the plain-TypeScript loops of kernels/cpu/reference.ts (slow, exact, readable)
//   wasm               WebAssembly SIMD: packed float32 GEMMs on all cores (kernels/wasm)
//   cpu                the fast CPU path in plain TypeScript: im2col + blocked GEMM on all cores (kernels/cpu/fast)
//   gpu.js:webasm      GPU.js kernels compiled to WebAssembly
//   gpu.js:headlessgl  GPU.js kernels as WebGL shaders (a real GPU, or Mesa under Xvfb)
//   gpu.js:cpu         GPU.js kernels run as JavaScript
//
// The API takes the name as an option, the CLI as --backend, the tests from SSD_TEST_BACKENDS,
// and everything else from SSD_BACKEND. The default is the fastest that works here: 'wasm' where
// the engine validates WebAssembly SIMD128 (Node 20 does), else 'cpu' (measured on a 2-core
// machine without a GPU; see bench/).

import { Kernels } from './kernels';
import { ReferenceKernels, referenceKernels } from './cpu/reference';
import { checked } from './checked';
import { CpuKernels } from './cpu/fast';
import { ConvAlgorithm, WasmKernels } from './wasm';
import { simdSupported } from './wasm/runtime';

export const BACKEND_NAMES = ['reference', 'wasm', 'cpu', 'gpu.js:webasm', 'gpu.js:headlessgl', 'gpu.js:cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/**
 * Create the kernels of a backend, behind the argument checks of kernels/checked.ts (which also
 * send float64 calls to the reference). GPU.js backends check which mode really ran and throw if
 * it fell back.
 */
export async function createKernels(name: string, options: { threads?: number; convAlgorithm?: ConvAlgorithm } = {}): Promise<Kernels> {
  if (!isBackendName(name)) {
    throw new Error(`unknown backend '${name}'; choose one of: ${BACKEND_NAMES.join(', ')}`);
  }
  if (options.convAlgorithm !== undefined && options.convAlgorithm !== 'gemm' && name !== 'wasm') {
    throw new Error(`convolution algorithm '${options.convAlgorithm}': only the wasm backend has Winograd convolutions (backend '${name}' runs its own)`);
  }
  switch (name) {
    case 'reference':
      return new ReferenceKernels(); // checks its own arguments, in any dtype
    case 'wasm':
      return checked(new WasmKernels({ threads: options.threads, convAlgorithm: options.convAlgorithm }), referenceKernels);
    case 'cpu':
      return checked(new CpuKernels({ threads: options.threads }), referenceKernels);
    default: {
      // loaded only when asked for: gpu.js is a large import
      const { createGpuJsKernels } = await import('./gpu');
      return checked(createGpuJsKernels(name.slice('gpu.js:'.length) as 'webasm' | 'headlessgl' | 'cpu'), referenceKernels);
    }
  }
}

/** The backend to use when none is named: $SSD_BACKEND, else the fastest here. */
export function defaultBackendName(): BackendName {
  const fromEnv = process.env.SSD_BACKEND;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!isBackendName(fromEnv)) throw new Error(`SSD_BACKEND='${fromEnv}' is not a backend; choose one of: ${BACKEND_NAMES.join(', ')}`);
    return fromEnv;
  }
  return simdSupported() ? 'wasm' : 'cpu';
}
