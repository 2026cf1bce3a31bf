import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  MAX_HEADER_BYTES,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  writeSafetensors,
} from '../../tensor/safetensors';
import { Tensor } from '../../tensor/tensor';
import { fromFlat, zeros } from '../../tensor/create';

const SRC = 'bad.safetensors';

/** The raw bytes of a typed array, to compare values bit for bit (NaN payloads, -0). */
function bits(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** The header length and parsed JSON header of encoded bytes. */
function headerOf(bytes: Uint8Array): { length: number; json: Record<string, { data_offsets: number[] }> } {
  const length = Number(Buffer.from(bytes).readBigUInt64LE(0));
  const text = Buffer.from(bytes.subarray(8, 8 + length)).toString('utf8');
  return { length, json: JSON.parse(text) };
}

/**
 * A safetensors file built by hand: `header` (an object, or raw JSON text) followed by
 * `padding` spaces and then `data`. The length field can be overridden to lie.
 */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), padding = 0, lengthField?: bigint): Uint8Array {
  const text = (typeof header === 'string' ? header : JSON.stringify(header)) + ' '.repeat(padding);
  const json = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(8 + json.length + data.length);
  out.writeBigUInt64LE(lengthField ?? BigInt(json.length), 0);
  json.copy(out, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** A header with a single tensor "w". */
function one(info: unknown): Record<string, unknown> {
  return { w: info };
}

describe('safetensors', () => {
  describe('round trip', () => {
    it('preserves float32 tensors bit for bit, including NaN, infinities and -0', () => {
      const a = fromFlat([1.5, -2.25, 3e-38, NaN, Infinity, -Infinity, -0, 0.1], [2, 4]);
      const b = fromFlat([7, 8, 9], [3]);
      const { tensors, metadata } = decodeSafetensors(encodeSafetensors({ a, b }), 'mem');
      expect([...tensors.keys()].sort()).to.deep.equal(['a', 'b']);
      const a2 = tensors.get('a')!;
      expect(a2.dtype).to.equal('float32');
      expect(a2.shape).to.deep.equal([2, 4]);
      expect(bits(a2).equals(bits(a))).to.equal(true);
      expect(Array.from(tensors.get('b')!.data)).to.deep.equal([7, 8, 9]);
      expect(metadata).to.deep.equal({});
    });

    it('preserves float64 tensors at full precision', () => {
      const t = fromFlat([0.1, 1 / 3, Math.PI, -1e-300, 1e300, Number.MIN_VALUE], [3, 2], 'float64');
      const back = decodeSafetensors(encodeSafetensors(new Map([['x', t]])), 'mem').tensors.get('x')!;
      expect(back.dtype).to.equal('float64');
      expect(back.shape).to.deep.equal([3, 2]);
      expect(Array.from(back.data)).to.deep.equal(Array.from(t.data));
    });

    it('mixes float32 and float64 tensors in one file', () => {
      const f32 = fromFlat([1, 2], [2]);
      const f64 = fromFlat([0.1, 0.2, 0.3], [3], 'float64');
      const bytes = encodeSafetensors({ f32, f64 });
      expect(headerOf(bytes).json).to.deep.include({
        f32: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        f64: { dtype: 'F64', shape: [3], data_offsets: [8, 32] },
      });
      const back = decodeSafetensors(bytes, 'mem').tensors;
      expect(back.get('f32')!.dtype).to.equal('float32');
      expect(Array.from(back.get('f64')!.data)).to.deep.equal([0.1, 0.2, 0.3]);
    });

    it('handles a scalar (shape []) and a zero-size tensor', () => {
      const scalar = fromFlat([42.5], []);
      const empty = zeros([0, 3]);
      const emptyToo = zeros([5, 0], 'float64');
      const back = decodeSafetensors(encodeSafetensors({ scalar, empty, emptyToo }), 'mem').tensors;
      expect(back.get('scalar')!.shape).to.deep.equal([]);
      expect(Array.from(back.get('scalar')!.data)).to.deep.equal([42.5]);
      expect(back.get('empty')!.shape).to.deep.equal([0, 3]);
      expect(back.get('empty')!.size).to.equal(0);
      expect(back.get('emptyToo')!.shape).to.deep.equal([5, 0]);
      expect(back.get('emptyToo')!.dtype).to.equal('float64');
    });

    it('round-trips an empty set of tensors', () => {
      const { tensors, metadata } = decodeSafetensors(encodeSafetensors({}), 'mem');
      expect(tensors.size).to.equal(0);
      expect(metadata).to.deep.equal({});
    });

    it('round-trips metadata, including unusual keys and non-ASCII text', () => {
      const metadata = { format: 'pt', epoch: '12', note: 'h\u00e9llo \u{1F600} "quoted"', '': 'empty key' };
      const back = decodeSafetensors(encodeSafetensors({ w: zeros([1]) }, metadata), 'mem');
      expect(back.metadata).to.deep.equal(metadata);
      expect(back.tensors.has('__metadata__')).to.equal(false);
    });

    it('keeps a "__proto__" key as ordinary data, in metadata and as a tensor name', () => {
      const metadata = JSON.parse('{"__proto__": "p", "a": "b"}') as Record<string, string>;
      const tensors = new Map([['__proto__', fromFlat([9], [1])]]);
      const back = decodeSafetensors(encodeSafetensors(tensors, metadata), 'mem');
      expect(Object.keys(back.metadata).sort()).to.deep.equal(['__proto__', 'a']);
      expect(Object.getOwnPropertyDescriptor(back.metadata, '__proto__')!.value).to.equal('p');
      expect(Object.getPrototypeOf(back.metadata)).to.equal(Object.prototype);
      expect(Array.from(back.tensors.get('__proto__')!.data)).to.deep.equal([9]);
    });

    it('round-trips tensor names with non-ASCII characters', () => {
      const back = decodeSafetensors(encodeSafetensors({ 'caf\u00e9.w': fromFlat([3], [1]) }), 'mem');
      expect(Array.from(back.tensors.get('caf\u00e9.w')!.data)).to.deep.equal([3]);
    });

    it('returns tensors that own their memory (no aliasing of the input bytes)', () => {
      const bytes = encodeSafetensors({ w: fromFlat([1, 2, 3], [3]) });
      const t = decodeSafetensors(bytes, 'mem').tensors.get('w')!;
      bytes.fill(0, bytes.length - 12);
      expect(Array.from(t.data)).to.deep.equal([1, 2, 3]);
      expect(t.data.buffer).to.not.equal(bytes.buffer);
    });
  });

  describe('layout of encoded files', () => {
    it('starts the data at an 8-byte aligned offset, padding the header with spaces', () => {
      for (let n = 1; n <= 12; n++) {
        const bytes = encodeSafetensors({ ['x'.repeat(n)]: zeros([1]) }, n % 2 ? { k: 'v'.repeat(n) } : undefined);
        const { length } = headerOf(bytes);
        expect((8 + length) % 8, `name length ${n}`).to.equal(0);
        const header = Buffer.from(bytes.subarray(8, 8 + length)).toString('utf8');
        expect(header.trimEnd().endsWith('}'), header).to.equal(true);
        expect(header.length - header.trimEnd().length).to.be.below(8);
        expect(/^ *$/.test(header.slice(header.trimEnd().length))).to.equal(true);
      }
    });

    it('lays tensors out back to back in name order, whatever the insertion order', () => {
      const tensors = new Map<string, Tensor>([
        ['c', zeros([3])],
        ['a', zeros([1])],
        ['b', zeros([2], 'float64')],
      ]);
      const bytes = encodeSafetensors(tensors);
      const { length, json } = headerOf(bytes);
      expect(json.a.data_offsets).to.deep.equal([0, 4]);
      expect(json.b.data_offsets).to.deep.equal([4, 20]);
      expect(json.c.data_offsets).to.deep.equal([20, 32]);
      // Nothing after the last tensor: readers such as the reference one require that.
      expect(bytes.length).to.equal(8 + length + 32);
    });

    it('writes the data little-endian', () => {
      const bytes = encodeSafetensors({ w: fromFlat([1], [1]) });
      expect(Array.from(bytes.subarray(bytes.length - 4))).to.deep.equal([0x00, 0x00, 0x80, 0x3f]);
    });

    it('refuses to name a tensor __metadata__', () => {
      expect(() => encodeSafetensors({ __metadata__: zeros([1]) })).to.throw(/__metadata__.*reserved/);
    });
  });

  describe('files written by other tools', () => {
    it('decodes a hand-built file with a space-padded header and tensors out of name order', () => {
      // Byte buffer: "zeta" (F64, 2 values) first, then "alpha" (F32, 2x2), then "mid" (F32 scalar).
      const data = new DataView(new ArrayBuffer(16 + 16 + 4));
      data.setFloat64(0, 0.1, true);
      data.setFloat64(8, -1234.5, true);
      [1, -2, 0.5, 3].forEach((v, i) => data.setFloat32(16 + 4 * i, v, true));
      data.setFloat32(32, 7.25, true);
      const header = {
        mid: { dtype: 'F32', shape: [], data_offsets: [32, 36] },
        __metadata__: { format: 'pt' },
        alpha: { dtype: 'F32', shape: [2, 2], data_offsets: [16, 32] },
        zeta: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
      };
      const bytes = build(header, new Uint8Array(data.buffer), 13);
      const { tensors, metadata } = decodeSafetensors(bytes, 'torch.safetensors');
      expect(metadata).to.deep.equal({ format: 'pt' });
      expect(tensors.get('zeta')!.dtype).to.equal('float64');
      expect(Array.from(tensors.get('zeta')!.data)).to.deep.equal([0.1, -1234.5]);
      expect(tensors.get('alpha')!.shape).to.deep.equal([2, 2]);
      expect(tensors.get('alpha')!.toArray()).to.deep.equal([[1, -2], [0.5, 3]]);
      expect(tensors.get('mid')!.shape).to.deep.equal([]);
      expect(Array.from(tensors.get('mid')!.data)).to.deep.equal([7.25]);
    });

    it('decodes data at unaligned offsets (odd header length, gaps, unaligned input view)', () => {
      const data = new DataView(new ArrayBuffer(3 + 8 + 12));
      data.setFloat64(3, 2.5, true); // F64 at buffer offset 3
      [10, 20, 30].forEach((v, i) => data.setFloat32(11 + 4 * i, v, true)); // F32 at offset 11
      const header = {
        d: { dtype: 'F64', shape: [1], data_offsets: [3, 11] },
        f: { dtype: 'F32', shape: [3], data_offsets: [11, 23] },
      };
      const file = build(header, new Uint8Array(data.buffer), 1);
      expect(headerOf(file).length % 8).to.not.equal(0);
      // Also view the file at an odd byte offset inside a larger buffer.
      const host = new Uint8Array(file.length + 5);
      host.set(file, 5);
      for (const bytes of [file, host.subarray(5)]) {
        const { tensors } = decodeSafetensors(bytes, 'odd.safetensors');
        expect(Array.from(tensors.get('d')!.data)).to.deep.equal([2.5]);
        expect(Array.from(tensors.get('f')!.data)).to.deep.equal([10, 20, 30]);
      }
    });

    it('accepts an empty header object', () => {
      expect(decodeSafetensors(build({}), 'e').tensors.size).to.equal(0);
    });
  });

  describe('bad input', () => {
    const f32 = (shape: number[], data_offsets: number[]) => ({ dtype: 'F32', shape, data_offsets });
    const decode = (bytes: Uint8Array) => () => decodeSafetensors(bytes, SRC);

    it('rejects a file shorter than 8 bytes', () => {
      expect(decode(new Uint8Array(0))).to.throw(/^bad\.safetensors: .*too short/);
      expect(decode(new Uint8Array(7))).to.throw(/^bad\.safetensors: .*7 bytes.*too short/);
    });

    it('rejects a header length larger than the rest of the file as truncated', () => {
      const full = build(one(f32([1], [0, 4])), new Uint8Array(4));
      const headerOnly = full.subarray(0, 8 + headerOf(full).length - 1);
      expect(decode(headerOnly)).to.throw(/^bad\.safetensors: truncated/);
      expect(decode(build('{}', new Uint8Array(0), 0, 1000n))).to.throw(/^bad\.safetensors: truncated.*1000/);
    });

    it('rejects a header larger than 100 MB', () => {
      const tooBig = build('{}', new Uint8Array(0), 0, BigInt(MAX_HEADER_BYTES + 1));
      expect(decode(tooBig)).to.throw(/^bad\.safetensors: header length 100000001 exceeds/);
      const huge = build('{}', new Uint8Array(0), 0, 0xffffffffffffffffn);
      expect(decode(huge)).to.throw(/^bad\.safetensors: header length 18446744073709551615 exceeds/);
    });

    it('rejects a header that is not UTF-8 JSON object text', () => {
      const notUtf8 = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0xff, 0xfe])]);
      expect(decode(notUtf8)).to.throw(/^bad\.safetensors: not a safetensors file.*UTF-8/);
      expect(decode(build('PNG\r\n'))).to.throw(/^bad\.safetensors: not a safetensors file.*not valid JSON/);
      expect(decode(build('{"w": '))).to.throw(/^bad\.safetensors: not a safetensors file.*not valid JSON/);
      expect(decode(build('[1, 2]'))).to.throw(/^bad\.safetensors: not a safetensors file.*not a JSON object/);
      expect(decode(build('null'))).to.throw(/^bad\.safetensors: not a safetensors file.*not a JSON object/);
      // A PNG read as safetensors: its first 8 bytes make an absurd header length.
      const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]);
      expect(decode(png)).to.throw(/^bad\.safetensors: header length \d+ exceeds/);
    });

    it('rejects an entry that is not an object', () => {
      expect(decode(build(one(5)))).to.throw(/^bad\.safetensors: tensor "w": header entry is not an object/);
      expect(decode(build(one([1])))).to.throw(/^bad\.safetensors: tensor "w": header entry is not an object/);
    });

    it('rejects an entry missing dtype, shape or data_offsets', () => {
      expect(decode(build(one({ shape: [1], data_offsets: [0, 4] }), new Uint8Array(4)))).to.throw(
        /^bad\.safetensors: tensor "w": .*no "dtype"/,
      );
      expect(decode(build(one({ dtype: 'F32', data_offsets: [0, 4] }), new Uint8Array(4)))).to.throw(
        /^bad\.safetensors: tensor "w": .*no "shape"/,
      );
      expect(decode(build(one({ dtype: 'F32', shape: [1] }), new Uint8Array(4)))).to.throw(
        /^bad\.safetensors: tensor "w": .*no "data_offsets"/,
      );
    });

    it('rejects entries with fields of the wrong type', () => {
      const data = new Uint8Array(4);
      expect(decode(build(one({ dtype: 32, shape: [1], data_offsets: [0, 4] }), data))).to.throw(
        /tensor "w": "dtype" must be a string/,
      );
      expect(decode(build(one({ dtype: 'F32', shape: '1', data_offsets: [0, 4] }), data))).to.throw(
        /tensor "w": "shape" must be an array/,
      );
      expect(decode(build(one({ dtype: 'F32', shape: [1], data_offsets: { begin: 0 } }), data))).to.throw(
        /tensor "w": "data_offsets" must be an array/,
      );
      expect(decode(build(one(f32([1], [0])), data))).to.throw(/tensor "w": "data_offsets" must be an array/);
      expect(decode(build(one(f32([1], [0, 4, 8])), data))).to.throw(/tensor "w": "data_offsets" must be an array/);
      expect(decode(build(one({ dtype: 'F32', shape: [1], data_offsets: ['0', '4'] }), data))).to.throw(
        /^bad\.safetensors: tensor "w": data_offsets .* non-negative integers/,
      );
      expect(decode(build(one(f32([1], [-4, 0])), data))).to.throw(/tensor "w": data_offsets .* non-negative integers/);
    });

    it('rejects shapes that are not lists of non-negative integers', () => {
      const data = new Uint8Array(8);
      for (const shape of [[-2], [1.5], [2, null], ['2'], [1e300]]) {
        expect(decode(build(one({ dtype: 'F32', shape, data_offsets: [0, 8] }), data)), JSON.stringify(shape)).to.throw(
          /^bad\.safetensors: tensor "w": shape .* non-negative integers/,
        );
      }
    });

    it('rejects dtypes other than F32, F64 and I64, naming the tensor and the dtype', () => {
      for (const dtype of ['F16', 'BF16', 'I32', 'U8', 'BOOL', 'f32']) {
        const header = { ok: f32([1], [0, 4]), 'base.conv1_1.weight': { dtype, shape: [1], data_offsets: [4, 6] } };
        expect(decode(build(header, new Uint8Array(6)))).to.throw(
          new RegExp(`^bad\\.safetensors: tensor "base\\.conv1_1\\.weight" has dtype ${dtype}; only F32, F64`),
        );
      }
    });

    it('reads I64 (a batch norm\'s num_batches_tracked, as PyTorch saves it) into float64', () => {
      const bytes = new Uint8Array(16);
      const view = new DataView(bytes.buffer);
      view.setBigInt64(0, 1234n, true);
      view.setBigInt64(8, -5n, true);
      const header = { 'bn.num_batches_tracked': { dtype: 'I64', shape: [2], data_offsets: [0, 16] } };
      const t = decodeSafetensors(build(header, bytes), 'bn.safetensors').tensors.get('bn.num_batches_tracked');
      expect(t?.dtype).to.equal('float64');
      expect(Array.from(t?.data ?? [])).to.deep.equal([1234, -5]);
      view.setBigInt64(0, 2n ** 60n, true);
      expect(() => decodeSafetensors(build(header, bytes), 'bn.safetensors')).to.throw(/I64 value 1152921504606846976 is too large/);
    });

    it('rejects data_offsets whose end is before their begin', () => {
      expect(decode(build(one(f32([1], [8, 4])), new Uint8Array(8)))).to.throw(
        /^bad\.safetensors: tensor "w": data_offsets \[8, 4\] end before/,
      );
    });

    it('rejects data_offsets past the end of the data buffer as truncated', () => {
      const header = { a: f32([2], [0, 8]), b: f32([2], [8, 16]) };
      const full = build(header, new Uint8Array(16));
      expect(() => decodeSafetensors(full, SRC)).to.not.throw();
      expect(decode(full.subarray(0, full.length - 1))).to.throw(
        /^bad\.safetensors: truncated: tensor "b" needs bytes \[8, 16\) but the data buffer holds only 15 bytes/,
      );
    });

    it('rejects a byte length that does not match the shape and dtype', () => {
      expect(decode(build(one(f32([3], [0, 8])), new Uint8Array(8)))).to.throw(
        /^bad\.safetensors: tensor "w": .*8 bytes but F32 shape \(3\) needs 12/,
      );
      const f64 = { dtype: 'F64', shape: [2, 2], data_offsets: [0, 16] };
      expect(decode(build(one(f64), new Uint8Array(16)))).to.throw(/tensor "w": .*16 bytes but F64 shape \(2, 2\) needs 32/);
    });

    it('rejects overlapping tensors, naming both', () => {
      const header = { a: f32([2], [0, 8]), b: f32([2], [4, 12]) };
      expect(decode(build(header, new Uint8Array(12)))).to.throw(/^bad\.safetensors: tensors "a" .* and "b" .* overlap/);
      const same = { x: f32([1], [4, 8]), y: f32([1], [4, 8]) };
      expect(decode(build(same, new Uint8Array(8)))).to.throw(/tensors "x" .* and "y" .* overlap/);
      // Empty tensors take no bytes and so overlap nothing.
      const withEmpty = { a: f32([2], [0, 8]), e: f32([0], [4, 4]) };
      expect(decodeSafetensors(build(withEmpty, new Uint8Array(8)), SRC).tensors.size).to.equal(2);
    });

    it('rejects malformed __metadata__', () => {
      expect(decode(build({ __metadata__: { epoch: 3 } }))).to.throw(
        /^bad\.safetensors: "__metadata__" entry "epoch" must be a string/,
      );
      expect(decode(build({ __metadata__: ['x'] }))).to.throw(/^bad\.safetensors: "__metadata__" must be an object/);
    });
  });

  describe('files', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'safetensors-spec-'));
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('writes and reads back a file', () => {
      const file = path.join(dir, 'w.safetensors');
      writeSafetensors(file, { w: fromFlat([1, 2, 3, 4], [2, 2]) }, { step: '7' });
      const { tensors, metadata } = readSafetensors(file);
      expect(tensors.get('w')!.toArray()).to.deep.equal([[1, 2], [3, 4]]);
      expect(metadata).to.deep.equal({ step: '7' });
      expect(fs.readdirSync(dir)).to.deep.equal(['w.safetensors']);
    });

    it('names the path when the file is missing', () => {
      const file = path.join(dir, 'nope.safetensors');
      expect(() => readSafetensors(file)).to.throw(/nope\.safetensors: cannot read safetensors file: no such file/);
    });

    it('names the path when the file is corrupt', () => {
      const file = path.join(dir, 'corrupt.safetensors');
      fs.writeFileSync(file, Buffer.from([1, 2, 3]));
      expect(() => readSafetensors(file)).to.throw(/corrupt\.safetensors: not a safetensors file/);
    });

    it('replaces an existing file and leaves no temporary file behind', () => {
      const file = path.join(dir, 'ckpt.safetensors');
      writeSafetensors(file, { w: fromFlat([1], [1]) });
      writeSafetensors(file, { w: fromFlat([2, 3], [2]), v: zeros([1], 'float64') });
      expect(fs.readdirSync(dir)).to.deep.equal(['ckpt.safetensors']);
      const { tensors } = readSafetensors(file);
      expect(Array.from(tensors.get('w')!.data)).to.deep.equal([2, 3]);
      expect(tensors.get('v')!.dtype).to.equal('float64');
    });

    it('throws and leaves no temporary file when the target directory does not exist', () => {
      const file = path.join(dir, 'missing-dir', 'w.safetensors');
      expect(() => writeSafetensors(file, { w: zeros([1]) })).to.throw(/missing-dir.*w\.safetensors: cannot write/);
      expect(fs.readdirSync(dir)).to.deep.equal([]);
    });

    it('removes the temporary file when the final rename fails', () => {
      // The target is a non-empty directory: the temporary file is written, then rename fails.
      const target = path.join(dir, 'target.safetensors');
      fs.mkdirSync(target);
      fs.writeFileSync(path.join(target, 'keep'), 'x');
      expect(() => writeSafetensors(target, { w: zeros([1]) })).to.throw(/target\.safetensors: cannot write/);
      expect(fs.readdirSync(dir)).to.deep.equal(['target.safetensors']);
      expect(fs.readdirSync(target)).to.deep.equal(['keep']);
    });

    it('keeps the previous file when encoding fails', () => {
      const file = path.join(dir, 'ckpt.safetensors');
      writeSafetensors(file, { w: fromFlat([5], [1]) });
      expect(() => writeSafetensors(file, { __metadata__: zeros([1]) })).to.throw(/reserved/);
      expect(fs.readdirSync(dir)).to.deep.equal(['ckpt.safetensors']);
      expect(Array.from(readSafetensors(file).tensors.get('w')!.data)).to.deep.equal([5]);
    });
  });
});
