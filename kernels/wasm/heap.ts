// Where the 'wasm' backend keeps tensors: blocks of its shared WebAssembly.Memory.
//
// Every kernel of the backend reads its inputs from that memory and writes its outputs there. If
// a tensor lived in ordinary JavaScript memory, each call would copy its inputs in and its output
// out: for conv1_x of a batch of 16 that is 46 MB each way, and a fresh 46 MB output costs a page
// fault per 4 KiB the first time it is written (measured here: a 46 MB copy takes 7.5 ms into
// memory already touched, 20 to 110 ms into fresh memory). So the backend returns tensors whose
// data is a view of a block of its memory (resident tensors), and the next kernel reads them in
// place. A training step allocates the same sizes in the same order every time, so the blocks
// freed by one step are exactly what the next step asks for: after the first step nothing is
// copied and no page is touched for the first time.
//
// This is a plain first-fit allocator: a list of free blocks sorted by address, merged with their
// neighbours when a block comes back, and the memory grown at its end when no free block is large
// enough. Blocks are 64-byte aligned (a cache line; v128 loads never straddle one).

/** Alignment of every block, in bytes. */
export const BLOCK_ALIGN = 64;

interface FreeBlock {
  address: number;
  bytes: number;
}

export class WasmHeap {
  /** Free blocks, sorted by address, never adjacent (merged on release). */
  private readonly freeBlocks: FreeBlock[] = [];
  /** Blocks handed out: address -> bytes. */
  private readonly used = new Map<number, number>();
  /** The end of the memory carved into blocks so far; everything past it is untouched. */
  private top: number;

  /**
   * @param memory the shared memory; grown (never shrunk) when the blocks need more
   * @param start first byte the heap may use (the bytes before it are the backend's own)
   * @param maxBytes the heap's blocks never reach past this address (the memory's maximum by default)
   */
  constructor(
    private readonly memory: WebAssembly.Memory,
    start: number,
    private readonly maxBytes: number,
  ) {
    this.top = alignUp(start);
  }

  /** Bytes in blocks handed out now. */
  get bytesInUse(): number {
    let sum = 0;
    for (const bytes of this.used.values()) sum += bytes;
    return sum;
  }

  /** Blocks handed out now. */
  get blocksInUse(): number {
    return this.used.size;
  }

  /**
   * A block of at least `bytes` bytes (64-byte aligned), or null when the memory cannot hold it
   * (the caller then falls back to ordinary memory).
   */
  alloc(bytes: number): number | null {
    const size = Math.max(BLOCK_ALIGN, alignUp(bytes));
    // first fit among the free blocks
    for (let i = 0; i < this.freeBlocks.length; i++) {
      const block = this.freeBlocks[i];
      if (block.bytes < size) continue;
      const address = block.address;
      if (block.bytes === size) this.freeBlocks.splice(i, 1);
      else {
        block.address += size;
        block.bytes -= size;
      }
      this.used.set(address, size);
      return address;
    }
    // none fits: carve a new block at the top, merging the last free block if it ends there
    const last = this.freeBlocks[this.freeBlocks.length - 1];
    const address = last !== undefined && last.address + last.bytes === this.top ? last.address : this.top;
    const end = address + size;
    if (end > this.maxBytes || !this.grow(end)) return null;
    if (address !== this.top) this.freeBlocks.pop();
    this.top = end;
    this.used.set(address, size);
    return address;
  }

  /** Gives a block back. An address that is not a block in use is an error (a double release). */
  release(address: number): void {
    const size = this.used.get(address);
    if (size === undefined) throw new Error(`WasmHeap: release of ${address}, which is not a block in use`);
    this.used.delete(address);
    // insert in address order, merging with the neighbours
    let i = 0;
    while (i < this.freeBlocks.length && this.freeBlocks[i].address < address) i++;
    const before = this.freeBlocks[i - 1];
    const after = this.freeBlocks[i];
    if (before !== undefined && before.address + before.bytes === address) {
      before.bytes += size;
      if (after !== undefined && before.address + before.bytes === after.address) {
        before.bytes += after.bytes;
        this.freeBlocks.splice(i, 1);
      }
    } else if (after !== undefined && address + size === after.address) {
      after.address = address;
      after.bytes += size;
    } else {
      this.freeBlocks.splice(i, 0, { address, bytes: size });
    }
  }

  /** The size of a block in use (what alloc rounded the request up to). */
  sizeOf(address: number): number | undefined {
    return this.used.get(address);
  }

  /** Grows the memory to at least `end` bytes; false when it cannot. */
  private grow(end: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return true;
    const pages = Math.ceil((end - have) / PAGE);
    try {
      this.memory.grow(pages);
      return true;
    } catch {
      return false; // past the memory's maximum, or the engine refused the pages
    }
  }
}

const PAGE = 65536;

function alignUp(bytes: number): number {
  return Math.ceil(bytes / BLOCK_ALIGN) * BLOCK_ALIGN;
}
