// The part of the WebAssembly JavaScript API this backend uses. Node has the whole API, but
// @types/node leaves it to lib.dom, which a Node project does not load.

declare namespace WebAssembly {
  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  interface MemoryDescriptor {
    initial: number;
    maximum?: number;
    shared?: boolean;
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor);
    /** A SharedArrayBuffer for a shared memory: fetch it again after grow(). */
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(deltaPages: number): number;
  }
  function validate(bytes: ArrayBufferView | ArrayBuffer): boolean;
}
