export * from './layer';
export * from './init';
export * from './conv2d';
export * from './relu';
export * from './maxpool2d';
export * from './l2norm';
export * from './sequential';
export * from './sgd';
