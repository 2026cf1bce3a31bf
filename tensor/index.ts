export * from './tensor';
export * from './create';
export * from './random';
export * from './ops';
export * from './safetensors';
