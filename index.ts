// The library's public API in one import. Each name lives in the file of the idea it belongs to.
export * from './tensor';
export * from './kernels';
export { createKernels, defaultBackendName, BACKEND_NAMES, BackendName } from './kernels/select';
export * from './layers';
export { SSD300, SSD300Options, SSD300Output } from './ssd/ssd300';
export { FEATURE_MAPS, createPriors, boxesPerPosition } from './ssd/priors';
export { xyToCxcy, cxcyToXy, cxcyToGcxgcy, gcxgcyToCxcy, jaccardOverlap } from './ssd/boxes';
export { matchPriors } from './ssd/matching';
export { multiboxLoss, ImageTargets, MultiboxResult } from './ssd/loss';
export { detectObjects, nms, Detection } from './ssd/detect';
export { evaluateDetections, GroundTruth } from './ssd/evaluate';
export { summarize, formatSummary } from './ssd/summary';
export { trainStep, ssdOptimizer } from './ssd/train_step';
