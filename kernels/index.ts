export * from './geometry';
export * from './kernels';
export { ReferenceKernels, referenceKernels } from './cpu/reference';
