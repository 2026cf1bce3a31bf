// Reading and writing weights in the safetensors format.
//
// A safetensors file is three parts, one after the other:
//
//   1. 8 bytes: N, the length of the header, as a little-endian unsigned 64-bit integer.
//   2. N bytes: the header, UTF-8 JSON. It is an object with one entry per tensor,
//        { "base.conv1_1.weight": { "dtype": "F32", "shape": [64, 3, 3, 3], "data_offsets": [0, 6912] },
//          ...,
//          "__metadata__": { "format": "pt" } }
//      where the optional "__metadata__" entry maps strings to strings. Writers usually pad the
//      header with trailing spaces so that part 3 starts at a multiple of 8 bytes.
//   3. The byte buffer: every tensor's elements, row-major, little-endian. A tensor's
//      data_offsets [begin, end) are byte positions counted from the start of this buffer
//      (not from the start of the file).
//
// The format has no compression, no pointers and no code, so a file can be checked completely
// before anything is used: this reader validates every entry and fails with an error naming the
// file and the tensor rather than handing back garbage. The network only uses float32 and
// float64 tensors, so F32 and F64 are the dtypes accepted, plus I64 for the one integer PyTorch
// saves with a model (a batch norm's num_batches_tracked counter), read into float64.

import { readFileNamed, writeFileAtomic } from '../io/files';
import { DType, FloatArray, Tensor, allocate, shapeToString, sizeOf } from './tensor';

/** The reference implementation refuses headers above 100 MB; a larger one is corrupt or hostile. */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * The largest weights file read: 2 GiB. SSD300's weights are 105 MB and a training checkpoint
 * (weights and momentum) 316 MB for 21 classes; a model of 600 classes with its momentum stays
 * under 1.3 GB. Checked before the file is read (a link to a device or a huge file is refused at once).
 */
export const MAX_WEIGHTS_FILE_BYTES = 2 * 2 ** 30;

const METADATA_KEY = '__metadata__';

/** The safetensors dtype codes we handle, and what they become. */
const FORMAT_TO_DTYPE: Record<string, DType | undefined> = { F32: 'float32', F64: 'float64' };
const DTYPE_TO_FORMAT: Record<DType, string> = { float32: 'F32', float64: 'F64' };
const BYTES_PER_ELEMENT: Record<DType, number> = { float32: 4, float64: 8 };

/**
 * The file is little-endian. On a little-endian machine (every machine Node runs on in
 * practice) the bytes can be copied as they are; on a big-endian one each number must be
 * read through a DataView, which converts. Checked once, here.
 */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface SafetensorsContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/**
 * Serialise tensors (and optional string metadata) to safetensors bytes. Tensors are laid out
 * back to back in name order; the header is padded with spaces so the data starts 8-byte
 * aligned, as the reference Rust implementation does.
 */
export function encodeSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries: [string, Tensor][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  // Plain code-unit order, so the layout does not depend on the locale.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  // The header is built as text, key by key, so the key order is exactly ours and no key
  // (not even "__proto__") is treated specially by a JavaScript object.
  const headerParts: string[] = [];
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new Error(`encodeSafetensors: metadata "${key}" must be a string, got ${typeof value}`);
      }
    }
    headerParts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }

  let offset = 0;
  for (const [name, tensor] of entries) {
    if (name === METADATA_KEY) {
      throw new Error(`encodeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    }
    if (!(tensor instanceof Tensor) || !(tensor.data instanceof Float32Array || tensor.data instanceof Float64Array)) {
      throw new Error(`encodeSafetensors: tensor "${name}" is not a float32 or float64 Tensor`);
    }
    const end = offset + tensor.data.byteLength;
    const info = { dtype: DTYPE_TO_FORMAT[tensor.dtype], shape: [...tensor.shape], data_offsets: [offset, end] };
    headerParts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset = end;
  }
  const dataLength = offset;

  // (plain Uint8Array and TextEncoder, not Node's Buffer: the page encodes weights too)
  const json = new TextEncoder().encode(`{${headerParts.join(',')}}`);
  // Pad so that 8 + headerLength is a multiple of 8: then the data starts aligned.
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // trailing spaces are valid JSON whitespace

  const dataStart = 8 + headerLength;
  offset = 0;
  for (const [, tensor] of entries) {
    writeLittleEndian(tensor.data, out, dataStart + offset);
    offset += tensor.data.byteLength;
  }
  return out;
}

function writeLittleEndian(data: FloatArray, out: Uint8Array, at: number): void {
  if (HOST_IS_LITTLE_ENDIAN) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    return;
  }
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const step = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < data.length; i++) {
    if (step === 8) view.setFloat64(at + i * 8, data[i], true);
    else view.setFloat32(at + i * 4, data[i], true);
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/**
 * Parse safetensors bytes. `source` (usually the file path) names the file in every error.
 * The tensors own their memory: nothing aliases `bytes`, whatever its alignment.
 */
export function decodeSafetensors(bytes: Uint8Array, source: string): SafetensorsContents {
  // Explicitly typed so TypeScript knows code after fail(...) is unreachable.
  const fail: (message: string) => never = (message) => {
    throw new Error(`${source}: ${message}`);
  };

  if (bytes.length < 8) {
    fail(`not a safetensors file: ${bytes.length} bytes is too short to hold the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // A u64 may exceed what a JS number holds exactly, so compare as BigInt first.
  const headerLengthBig = view.getBigUint64(0, true);
  if (headerLengthBig > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLengthBig} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  }
  const headerLength = Number(headerLengthBig);
  if (headerLength > bytes.length - 8) {
    fail(`truncated: header length is ${headerLength} bytes but only ${bytes.length - 8} bytes follow`);
  }

  let headerText = '';
  try {
    // fatal: invalid UTF-8 throws instead of turning into U+FFFD.
    headerText = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    fail('not a safetensors file: the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (err) {
    fail(`not a safetensors file: the header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) {
    fail('not a safetensors file: the header is not a JSON object');
  }
  const headerObject = header as Record<string, unknown>;

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata = parseMetadata(headerObject[METADATA_KEY], fail);

  interface Entry { name: string; dtype: DType; shape: number[]; begin: number; end: number; isInt64: boolean }
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(headerObject)) {
    if (name === METADATA_KEY) continue;
    const where = `tensor "${name}"`;
    if (!isPlainObject(raw)) fail(`${where}: header entry is not an object`);
    const info = raw as Record<string, unknown>;

    if (info.dtype === undefined) fail(`${where}: header entry has no "dtype"`);
    if (info.shape === undefined) fail(`${where}: header entry has no "shape"`);
    if (info.data_offsets === undefined) fail(`${where}: header entry has no "data_offsets"`);
    if (typeof info.dtype !== 'string') fail(`${where}: "dtype" must be a string, got ${JSON.stringify(info.dtype)}`);
    if (!Array.isArray(info.shape)) fail(`${where}: "shape" must be an array, got ${JSON.stringify(info.shape)}`);
    if (!Array.isArray(info.data_offsets) || info.data_offsets.length !== 2) {
      fail(`${where}: "data_offsets" must be an array [begin, end], got ${JSON.stringify(info.data_offsets)}`);
    }

    const format = info.dtype as string;
    const isInt64 = format === 'I64';
    const dtype = isInt64 ? 'float64' : FORMAT_TO_DTYPE[format];
    if (dtype === undefined) fail(`${where} has dtype ${format}; only F32, F64 (and I64 counters) are supported`);

    const shape = info.shape as unknown[];
    if (!shape.every(isNonNegativeInteger)) {
      fail(`${where}: shape ${JSON.stringify(shape)} must contain only non-negative integers`);
    }
    const offsets = info.data_offsets as unknown[];
    if (!offsets.every(isNonNegativeInteger)) {
      fail(`${where}: data_offsets ${JSON.stringify(offsets)} must be two non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLength) {
      fail(`truncated: ${where} needs bytes [${begin}, ${end}) but the data buffer holds only ${dataLength} bytes`);
    }

    const numericShape = shape as number[];
    const expectedBytes = sizeOf(numericShape) * BYTES_PER_ELEMENT[dtype as DType];
    if (end - begin !== expectedBytes) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but ${format} shape ` +
          `${shapeToString(numericShape)} needs ${expectedBytes}`,
      );
    }
    entries.push({ name, dtype: dtype as DType, shape: numericShape, begin, end, isInt64 });
  }

  // Two tensors must never share bytes (empty tensors occupy none, so they cannot overlap).
  const byOffset = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    const cur = byOffset[i];
    if (cur.begin < prev.end) {
      fail(
        `tensors "${prev.name}" [${prev.begin}, ${prev.end}) and "${cur.name}" [${cur.begin}, ${cur.end}) overlap`,
      );
    }
  }

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const data = e.isInt64
      ? readInt64AsFloat64(view, dataStart + e.begin, dataStart + e.end, e.name, fail)
      : readLittleEndian(bytes, view, dataStart + e.begin, dataStart + e.end, e.dtype);
    tensors.set(e.name, new Tensor(e.shape, data));
  }
  return { tensors, metadata };
}

function parseMetadata(raw: unknown, fail: (message: string) => never): Record<string, string> {
  const metadata: Record<string, string> = {};
  if (raw === undefined) return metadata;
  if (!isPlainObject(raw)) fail(`"${METADATA_KEY}" must be an object of strings`);
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string') fail(`"${METADATA_KEY}" entry "${key}" must be a string, got ${JSON.stringify(value)}`);
    // defineProperty, not assignment: a key "__proto__" must stay an ordinary entry.
    Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return metadata;
}

/**
 * Copy bytes [start, end) of the file into a fresh typed array. A Float32Array cannot be laid
 * over memory that is not 4-byte aligned (and aliasing the file buffer would keep it alive),
 * so the bytes are always copied into new, aligned memory.
 */
function readLittleEndian(bytes: Uint8Array, view: DataView, start: number, end: number, dtype: DType): FloatArray {
  const count = (end - start) / BYTES_PER_ELEMENT[dtype];
  const data = allocate(dtype, count);
  if (HOST_IS_LITTLE_ENDIAN) {
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes.subarray(start, end));
  } else if (dtype === 'float64') {
    for (let i = 0; i < count; i++) data[i] = view.getFloat64(start + i * 8, true);
  } else {
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(start + i * 4, true);
  }
  return data;
}

/** I64 values (PyTorch's counters) as float64; refused beyond 2^53, where float64 stops being exact. */
function readInt64AsFloat64(view: DataView, start: number, end: number, name: string, fail: (message: string) => never): Float64Array {
  const data = new Float64Array((end - start) / 8);
  for (let i = 0; i < data.length; i++) {
    const v = view.getBigInt64(start + i * 8, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail(`tensor "${name}": I64 value ${v} is too large to read exactly`);
    data[i] = Number(v);
  }
  return data;
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/** Read and decode a safetensors file. Errors name the path. */
export function readSafetensors(filePath: string): SafetensorsContents {
  return decodeSafetensors(readFileNamed(filePath, 'safetensors file', MAX_WEIGHTS_FILE_BYTES), filePath);
}

/**
 * Encode and write a safetensors file atomically: the bytes go to a temporary file in the same
 * directory, which is flushed to disk and then renamed over `filePath`. A rename within one
 * directory is atomic, so a crash or a full disk at any moment leaves either the old file or the
 * complete new one, never a half-written mix. The temporary file is removed if anything fails.
 */
export function writeSafetensors(
  filePath: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  // Encode first: a bad tensor then fails before anything touches the disk.
  writeFileAtomic(filePath, encodeSafetensors(tensors, metadata), 'safetensors file');
}

