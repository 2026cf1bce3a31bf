// What every layer is: named parameters with gradients, a `forward` that keeps what `backward`
// will need, and a `backward` that returns the input gradient and accumulates (adds to) the
// parameter gradients, so that several backward passes (e.g. over a batch split in two) sum up.

import { DType, Tensor, shapeToString, shapesEqual } from '../tensor/tensor';
import { zeros } from '../tensor/create';
import { Kernels } from '../kernels/kernels';
import { referenceKernels } from '../kernels/cpu/reference';

export class Parameter {
  /** Multiplies the optimizer's learning rate for this parameter (the paper uses 2 for biases). */
  lrMult: number;
  private gradient: Tensor;
  /**
   * Set by zeroGrad: the gradient holds stale values that stand for zeros. The first
   * accumulateGrad then copies instead of adding (no pass to clear it, none to add to zeros: for
   * the 26 million weights of the full SSD300, about 0.05 s of every training step here); reading
   * `grad` clears it first, so nothing ever sees the stale values.
   */
  private stale = false;

  constructor(
    public value: Tensor,
    options: { lrMult?: number } = {},
  ) {
    this.gradient = zeros(value.shape, value.dtype);
    this.lrMult = options.lrMult ?? 1;
  }

  /**
   * Moves the value and the gradient into memory of the backend's choosing (Kernels.zeros: the
   * wasm backend's own memory, where its kernels and the optimizer read them in place instead of
   * copying them in at every call). The values stay the same; `value` is a new tensor.
   */
  placeIn(kernels: Kernels): void {
    const value = kernels.zeros(this.value.shape, this.value.dtype);
    value.data.set(this.value.data);
    const gradient = kernels.zeros(this.gradient.shape, this.gradient.dtype);
    gradient.data.set(this.gradient.data);
    this.value = value;
    this.gradient = gradient;
  }

  /** dL/d(value), same shape; accumulated by backward (accumulateGrad), cleared by zeroGrad. */
  get grad(): Tensor {
    if (this.stale) {
      this.gradient.data.fill(0);
      this.stale = false;
    }
    return this.gradient;
  }

  /** grad += delta (the same shape). */
  accumulateGrad(delta: Tensor): void {
    if (!shapesEqual(delta.shape, this.gradient.shape)) {
      throw new Error(`Parameter.accumulateGrad: gradient of shape ${shapeToString(delta.shape)} for a parameter of shape ${shapeToString(this.gradient.shape)}`);
    }
    const grad = this.gradient.data;
    const d = delta.data;
    if (this.stale) {
      grad.set(d); // 0 + d, as PyTorch's first accumulation, which assigns
      this.stale = false;
      return;
    }
    for (let i = 0; i < grad.length; i++) grad[i] += d[i];
  }

  zeroGrad(): void {
    this.stale = true;
  }
}

/** A parameter together with its dotted name, e.g. 'conv1_1.weight'. */
export type NamedParameter = [name: string, parameter: Parameter];

/**
 * A buffer: state that is saved with the weights but not learned by gradient descent, such as
 * a batch norm's running mean (PyTorch's register_buffer). Named like parameters.
 */
export type NamedBuffer = [name: string, buffer: Tensor];

export interface LayerOptions {
  /** The kernels that do the arithmetic; the plain-TypeScript reference by default. */
  kernels?: Kernels;
  /** float32 as in PyTorch; float64 for gradient checks. */
  dtype?: DType;
}

/**
 * Anything with parameters: a layer, or a part of the model made of layers (the VGG base, the
 * prediction convs). Parameters are named as in PyTorch's state_dict: a module's own parameters
 * by their name ('weight'), its children's as '<child>.<name>' ('conv1_1.weight').
 */
export abstract class Module {
  kernels: Kernels;
  readonly dtype: DType;
  /**
   * Training or evaluation mode, as PyTorch's `module.training`. Only batch norm behaves
   * differently (batch statistics while training, running statistics in evaluation).
   */
  training = true;

  constructor(
    /** The module's name in its parent, as in PyTorch's state_dict (e.g. 'conv1_1'). */
    readonly name: string,
    options: LayerOptions = {},
  ) {
    this.kernels = options.kernels ?? referenceKernels;
    this.dtype = options.dtype ?? 'float32';
  }

  /** Sub-modules, in order. */
  children(): Module[] {
    return [];
  }

  /** This module's parameters, named relative to it. */
  namedParameters(): NamedParameter[] {
    const params: NamedParameter[] = [];
    for (const child of this.children()) {
      for (const [name, p] of child.namedParameters()) params.push([`${child.name}.${name}`, p]);
    }
    return params;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** This module's buffers (see NamedBuffer), named relative to it. */
  namedBuffers(): NamedBuffer[] {
    const buffers: NamedBuffer[] = [];
    for (const child of this.children()) {
      for (const [name, b] of child.namedBuffers()) buffers.push([`${child.name}.${name}`, b]);
    }
    return buffers;
  }

  /** Training mode for this module and all its children (batch norm uses batch statistics). */
  train(): this {
    this.training = true;
    for (const child of this.children()) child.train();
    return this;
  }

  /** Evaluation mode for this module and all its children (batch norm uses running statistics). */
  eval(): this {
    this.training = false;
    for (const child of this.children()) child.eval();
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Switch this module and all its children to another set of kernels. */
  setKernels(kernels: Kernels): void {
    this.kernels = kernels;
    for (const child of this.children()) child.setKernels(kernels);
  }

  /** Forget what forward kept for backward (frees memory after inference). */
  clearCache(): void {
    for (const child of this.children()) child.clearCache();
  }

  /** Throw unless forward has run: backward needs what it kept. */
  protected cached<T>(value: T | null, what: string): T {
    if (value === null) throw new Error(`${this.constructor.name} ${this.name}: backward called before forward (no cached ${what})`);
    return value;
  }
}

/** A module with one input and one output. */
export abstract class Layer extends Module {
  abstract forward(x: Tensor): Promise<Tensor>;
  /** Takes dL/d(output), accumulates parameter gradients, returns dL/d(input). */
  abstract backward(dy: Tensor): Promise<Tensor>;
}

/** The parameters' values and the buffers by name: what is saved to and loaded from a weights file. */
export function stateDict(layer: Module, prefix = ''): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, p] of layer.namedParameters()) out.set(prefix + name, p.value);
  for (const [name, b] of layer.namedBuffers()) out.set(prefix + name, b);
  return out;
}

/**
 * Copy weights into the layer's parameters. Every parameter must be present with its exact
 * shape and dtype, and no unexpected name may appear: a silent partial load would give a
 * network that runs and detects nothing. `source` (e.g. the file path) is named in errors.
 */
export function loadStateDict(layer: Module, weights: Map<string, Tensor>, source: string, prefix = ''): void {
  const params = new Map<string, { value: Tensor }>(layer.namedParameters().map(([name, p]) => [prefix + name, p] as const));
  // Buffers load like parameters. A counter such as num_batches_tracked, which PyTorch stores as
  // int64 (read here as float64), is converted to the model's dtype: it only counts batches.
  const counters = new Set<string>();
  for (const [name, b] of layer.namedBuffers()) {
    params.set(prefix + name, { value: b });
    if (name.endsWith('num_batches_tracked')) counters.add(prefix + name);
  }
  const missing = [...params.keys()].filter((name) => !weights.has(name));
  const unexpected = [...weights.keys()].filter((name) => !params.has(name));
  if (missing.length > 0) {
    throw new Error(`${source}: missing tensor${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}`);
  }
  if (unexpected.length > 0) {
    throw new Error(`${source}: unexpected tensor${unexpected.length > 1 ? 's' : ''} ${unexpected.map((n) => `'${n}'`).join(', ')}`);
  }
  for (const [name, p] of params) {
    const t = weights.get(name) as Tensor;
    if (!shapesEqual(t.shape, p.value.shape)) {
      throw new Error(`${source}: tensor '${name}' has shape ${shapeToString(t.shape)}, expected ${shapeToString(p.value.shape)}`);
    }
    if (t.dtype !== p.value.dtype && !counters.has(name)) {
      throw new Error(`${source}: tensor '${name}' has dtype ${t.dtype}, expected ${p.value.dtype}`);
    }
  }
  // A NaN or an infinity in a weight would make outputs non-finite, and detection would drop them
  // without a word (a NaN in conv1_1 is even swallowed by the ReLU): refuse such a file.
  for (const [name] of params) {
    const data = (weights.get(name) as Tensor).data;
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new Error(`${source}: tensor '${name}' holds ${data[i]} at index ${i}; weights must be finite`);
    }
  }
  for (const [name, p] of params) {
    p.value.data.set((weights.get(name) as Tensor).data);
    p.value.changed();
  }
}
