// Size limits on everything the `ssd` command reads, checked before reading or allocating: an
// annotation that is a link to /dev/zero or a huge file, a small weights file that declares a huge
// model, a small JPEG or PNG that declares a huge image, --threads beyond the machine. Each runs
// the CLI as a child process and measures its peak memory and time.

import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { SSD300 } from '../../ssd/ssd300';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { writeVocDataset } from '../../data/voc';
import { encodeJpeg, encodePng } from '../../data/image_files';
import { encodeSafetensors } from '../../tensor/safetensors';
import { Tensor } from '../../tensor/tensor';
import { makeImage } from '../../data/image';
import { snapshot, ssdMeasured } from './measured';

/** A real JPEG of about 15 kB whose frame header is then made to declare width x height. */
function jpegDeclaring(width: number, height: number): Buffer {
  const image = makeImage(100, 100);
  for (let i = 0; i < image.data.length; i++) image.data[i] = (i * 7919) % 251; // texture, so that it does not compress to nothing
  const bytes = Buffer.from(encodeJpeg(image, 90));
  for (let pos = 2; pos + 9 < bytes.length; pos += 2 + bytes.readUInt16BE(pos + 2)) {
    if (bytes[pos + 1] === 0xc0) {
      bytes.writeUInt16BE(height, pos + 5);
      bytes.writeUInt16BE(width, pos + 7);
      return bytes;
    }
  }
  throw new Error('no SOF0 in the JPEG');
}

/** A PNG whose header declares width x height (RGB) but whose data is one complete zlib stream of far fewer rows. */
function pngDeclaring(width: number, height: number): Buffer {
  const chunk = (type: string, body: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length);
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), body]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(10 * (1 + width * 3)))), // ten rows of zeros
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('cli: every read has a size bound, checked first', () => {
  let dir = '';
  let data = '';
  let weights = '';
  const ssd = (...args: string[]): ReturnType<typeof ssdMeasured> => ssdMeasured(args, 60000);
  const train = ['train', '--classes', 'synthetic', '--width-divisor', '32', '--batch', '2', '--max-steps', '1', '--no-augment'];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-limits-'));
    data = path.join(dir, 'data');
    writeVocDataset(data, 'trainval', makeSyntheticDataset(2, 5, { size: 64 }), SYNTHETIC_CLASSES);
    weights = path.join(dir, 'w.safetensors');
    new SSD300({ nClasses: SYNTHETIC_CLASSES.length, widthDivisor: 32, seed: 1 }).saveWeights(weights, { classes: JSON.stringify(SYNTHETIC_CLASSES) });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('an annotation that is a link to /dev/zero, a FIFO or a 3 GB file is refused at once, in little memory', function () {
    this.timeout(120000);
    const annotation = path.join(data, 'Annotations', 'trainval_000001.xml');
    const saved = fs.readFileSync(annotation);
    const out = path.join(dir, 'never.safetensors');
    const cases: Array<[() => void, string]> = [
      [() => fs.symlinkSync('/dev/zero', annotation), 'cannot read VOC annotation: not a plain file (a device, a FIFO or a socket)'],
      [() => (fs.writeFileSync(annotation, ''), fs.truncateSync(annotation, 3 * 2 ** 30)), 'cannot read VOC annotation: the file is 3,221,225,472 bytes, above the limit of 16,777,216 bytes'],
      [() => fs.mkdirSync(annotation), 'cannot read VOC annotation: is a directory'],
      [() => fs.symlinkSync(path.basename(annotation), annotation), 'cannot read VOC annotation: a loop of symbolic links'],
    ];
    if (spawnSync('mkfifo', ['--help']).status === 0) cases.push([() => spawnSync('mkfifo', [annotation]), 'cannot read VOC annotation: not a plain file (a device, a FIFO or a socket)']);
    for (const [make, message] of cases) {
      fs.rmSync(annotation, { recursive: true, force: true });
      make();
      // with --classes given, and with the classes read from the annotations
      for (const command of [[...train, '--data', data, '--out', out], ['train', '--data', data, '--out', out]]) {
        const r = ssd(...command);
        expect(r.status, `${message}: ${r.stderr}`).to.equal(1);
        expect(r.stderr, `${message} / ${command.join(" ")}`).to.contain(`ssd: ${annotation}: ${message}`);
        expect(r.seconds).to.be.below(15);
        expect(r.maxRssMb).to.be.below(250);
      }
    }
    fs.rmSync(annotation, { recursive: true, force: true });
    fs.writeFileSync(annotation, saved);
    expect(fs.existsSync(out)).to.equal(false);
  });

  it('a 320 kB weights file declaring 20,000 classes is refused before the model is built', function () {
    this.timeout(60000);
    const bomb = path.join(dir, 'bomb.safetensors');
    fs.writeFileSync(bomb, encodeSafetensors({ 'pred_convs.cl_conv11_2.bias': new Tensor([80000]), 'base.conv1_1.weight': new Tensor([1, 3, 3, 3]) }));
    expect(fs.statSync(bomb).size).to.be.below(330000);
    const image = path.join(dir, 'scene.png');
    fs.writeFileSync(image, encodePng(makeImage(32, 32)));
    const r = ssd('detect', '--weights', bomb, '--out', path.join(dir, 'found'), image);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain(`ssd: ${bomb}: not the weights of a model of 20000 classes, width divisor 64 (as its tensors say): missing 'base.conv1_1.bias'`);
    expect(r.maxRssMb, 'it built the model first').to.be.below(250);
    // a tensor of the wrong shape, in an otherwise complete file, is named with both shapes before building too
    const model = new SSD300({ nClasses: 3, widthDivisor: 64 });
    const tensors = new Map(model.namedParameters().map(([name, p]) => [name, p.value] as [string, Tensor]));
    tensors.set('pred_convs.cl_conv4_3.weight', new Tensor([12, 8, 3, 1]));
    const wrong = path.join(dir, 'wrong.safetensors');
    fs.writeFileSync(wrong, encodeSafetensors(tensors));
    const w = ssd('eval', '--weights', wrong, '--data', data);
    expect(w.status).to.equal(1);
    expect(w.stderr).to.contain(`${wrong}: tensor 'pred_convs.cl_conv4_3.weight' has shape (12, 8, 3, 1); a model of 3 classes, width divisor 64 (as its other tensors say) needs (12, 8, 3, 3)`);
    // weights that are a link to /dev/zero, or 3 GB
    const zero = path.join(dir, 'zero.safetensors');
    fs.symlinkSync('/dev/zero', zero);
    const huge = path.join(dir, 'huge.safetensors');
    fs.writeFileSync(huge, '');
    fs.truncateSync(huge, 3 * 2 ** 30);
    for (const [file, message] of [[zero, 'not a plain file'], [huge, 'the file is 3,221,225,472 bytes, above the limit of 2,147,483,648 bytes']]) {
      const z = ssd('detect', '--weights', file, image);
      expect(z.status).to.equal(1);
      expect(z.stderr).to.contain(`ssd: ${file}: cannot read safetensors file: ${message}`);
      expect(z.seconds).to.be.below(15);
    }
    fs.rmSync(huge);
    fs.rmSync(zero);
  });

  it('a 15 kB JPEG and a PNG declaring 8000x7999 pixels are refused before decoding allocates them', function () {
    this.timeout(60000);
    const jpg = path.join(dir, 'liar.jpg');
    fs.writeFileSync(jpg, jpegDeclaring(8000, 7999));
    expect(fs.statSync(jpg).size).to.be.within(5000, 25000);
    const png = path.join(dir, 'liar.png');
    fs.writeFileSync(png, pngDeclaring(8000, 7999));
    const good = path.join(dir, 'good.png');
    fs.writeFileSync(good, encodePng(makeImage(40, 30, [200, 10, 10])));
    const out = path.join(dir, 'found');
    const r = ssd('detect', '--weights', weights, '--out', out, jpg, png, good);
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(new RegExp(`ssd: ${jpg.replace(/[.]/g, '\\.')}: truncated or corrupt JPEG file: its header declares 8000x7999 pixels \\(3,000,000 blocks of 8x8\\), but it holds only [\\d,]+ bytes of image data`));
    expect(r.stderr, r.stderr).to.contain(`ssd: ${png}: truncated or corrupt PNG file: its pixel data hold 240,010 bytes, not the 191,983,999 bytes of the 8000x7999 image its header declares`);
    expect(r.stderr).to.contain(`detect: 2 of 3 image(s) failed: ${jpg}, ${png}`);
    expect(fs.readdirSync(out)).to.deep.equal(['good.detections.png']);
    expect(r.maxRssMb, 'decoding allocated the declared image').to.be.below(300);
    // an image file that is a FIFO, /dev/zero or above the byte limit
    const fifo = path.join(dir, 'fifo.png');
    const zero = path.join(dir, 'zero.png');
    fs.symlinkSync('/dev/zero', zero);
    const inputs = [zero];
    if (spawnSync('mkfifo', [fifo]).status === 0) inputs.push(fifo);
    const z = ssd('detect', '--weights', weights, '--out', out, ...inputs);
    expect(z.status).to.equal(1);
    for (const input of inputs) expect(z.stderr).to.contain(`ssd: ${input}: cannot read image: not a plain file`);
    expect(z.seconds).to.be.below(15);
  });

  it('--threads is bounded by the machine\'s cores, for every command, before any work', function () {
    this.timeout(60000);
    const cores = os.availableParallelism();
    const image = path.join(dir, 'scene.png');
    for (const args of [['summary'], ['detect', '--weights', weights, image], [...train, '--data', data, '--out', path.join(dir, 't.safetensors')], ['explain', 'detection', '--weights', weights, '--out', path.join(dir, 'e.png')]]) {
      const before = snapshot(dir);
      const r = ssd(...args, '--threads', '100000');
      expect(r.status, args.join(' ')).to.equal(1);
      expect(r.stderr, args.join(' ')).to.contain(`ssd: --threads: expected 1 to ${cores} (the cores of this machine), got '100000'`);
      expect([...snapshot(dir).keys()].sort()).to.deep.equal([...before.keys()].sort());
    }
    const ok = ssd('detect', '--weights', weights, '--out', path.join(dir, 'found'), '--threads', String(cores), image);
    expect(ok.status, ok.stderr).to.equal(0);
  });
});
