import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { RgbImage, makeImage } from '../../data/image';
import { decodeImage, encodeJpeg, encodePng, readImage, writePng } from '../../data/image_files';
import { resizeBilinear } from '../../data/resize';
import { IMAGENET_MEAN, IMAGENET_STD, imageToTensor, prepareForSSD } from '../../data/image_tensor';
import { drawBoxes } from '../../draw/boxes';
import { pngBomb } from '../helpers/png_bomb';

/** A w x h image whose bytes follow a smooth pattern (JPEG-friendly) with every channel different. */
function gradient(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      data[p] = Math.round((255 * x) / (w - 1));
      data[p + 1] = Math.round((255 * y) / (h - 1));
      data[p + 2] = 100;
    }
  }
  return { width: w, height: h, data };
}

/** An image from a list of [r, g, b] pixels, row-major. */
function fromPixels(width: number, height: number, pixels: number[][]): RgbImage {
  return { width, height, data: Uint8Array.from(pixels.flat()) };
}

function pixels(img: RgbImage): number[][] {
  const out: number[][] = [];
  for (let p = 0; p < img.width * img.height; p++) out.push([...img.data.subarray(p * 3, p * 3 + 3)]);
  return out;
}

describe('data/image', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-image-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('decode and encode', () => {
    it('PNG round trip is lossless, through a file written atomically', () => {
      const img: RgbImage = { width: 5, height: 3, data: Uint8Array.from({ length: 45 }, (_, i) => (i * 37) % 256) };
      const back = decodeImage(encodePng(img), 'mem.png');
      expect(back.width).to.equal(5);
      expect(back.height).to.equal(3);
      expect([...back.data]).to.deep.equal([...img.data]);

      const file = path.join(dir, 'round.png');
      writePng(file, img);
      expect([...readImage(file).data]).to.deep.equal([...img.data]);
      expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).to.deep.equal([]); // no temp file left
    });

    it('drops the alpha channel of an RGBA PNG', () => {
      const png = new PNG({ width: 2, height: 1 });
      png.data = Buffer.from([10, 20, 30, 0, 40, 50, 60, 255]); // first pixel fully transparent
      const img = decodeImage(PNG.sync.write(png), 'rgba.png');
      expect([...img.data]).to.deep.equal([10, 20, 30, 40, 50, 60]);
    });

    it('JPEG round trip at quality 95 is close (lossy)', () => {
      const img = gradient(32, 24);
      const back = decodeImage(encodeJpeg(img, 95), 'mem.jpg');
      expect([back.width, back.height]).to.deep.equal([32, 24]);
      let maxDiff = 0;
      let sumDiff = 0;
      for (let i = 0; i < img.data.length; i++) {
        const d = Math.abs(img.data[i] - back.data[i]);
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
      }
      expect(sumDiff / img.data.length).to.be.below(2); // mean error under 2 levels
      expect(maxDiff).to.be.at.most(12);
    });

    it('a truncated PNG is an error naming the file', () => {
      const bytes = encodePng(gradient(16, 16));
      expect(() => decodeImage(bytes.subarray(0, bytes.length - 20), 'photos/cut.png')).to.throw(
        /photos\/cut\.png: truncated or corrupt PNG/,
      );
      expect(() => decodeImage(bytes.subarray(0, 5), 'photos/cut.png')).to.throw(/photos\/cut\.png: truncated PNG/);
    });

    it('a truncated JPEG is an error naming the file', () => {
      const bytes = encodeJpeg(gradient(16, 16), 90);
      expect(() => decodeImage(bytes.subarray(0, Math.floor(bytes.length / 2)), 'photos/cut.jpg')).to.throw(
        /photos\/cut\.jpg: truncated or corrupt JPEG/,
      );
      expect(() => decodeImage(bytes.subarray(0, bytes.length - 2), 'photos/cut.jpg')).to.throw(/photos\/cut\.jpg/);
    });

    it('a corrupt PNG (a flipped byte inside the compressed data) is an error naming the file', () => {
      const bytes = Buffer.from(encodePng(gradient(16, 16)));
      bytes[60] ^= 0xff;
      expect(() => decodeImage(bytes, 'bad.png')).to.throw(/bad\.png: .*corrupt PNG/);
    });

    it('an unsupported format (GIF) is an error naming the file and the format', () => {
      const gif = Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1');
      expect(() => decodeImage(gif, 'anim.gif')).to.throw(/anim\.gif: unsupported image format \(GIF\)/);
      expect(() => decodeImage(Buffer.from('hello world'), 'notes.txt')).to.throw(/notes\.txt: unsupported image format/);
      expect(() => decodeImage(new Uint8Array(0), 'empty.png')).to.throw(/empty\.png: empty file/);
    });

    it('a missing file is an error naming it', () => {
      const file = path.join(dir, 'missing.png');
      expect(() => readImage(file)).to.throw(`${file}: cannot read image: no such file`);
    });

    it('a decompression bomb (a 50 kB PNG of 20000x20000 pixels) is refused before decoding, naming the file and its size', () => {
      const bomb = pngBomb(20000, 20000);
      expect(bomb.length).to.be.below(100_000);
      const file = path.join(dir, 'bomb.png');
      fs.writeFileSync(file, bomb);
      const before = process.memoryUsage().rss;
      expect(() => readImage(file)).to.throw(
        `${file}: the image is 20000x20000 (400,000,000 pixels), above the limit of 64,000,000 pixels; not decoded`,
      );
      expect(process.memoryUsage().rss - before).to.be.below(200 * 2 ** 20); // decoding would take 1.6 GB
      // the limit is an option: a small image under a smaller limit
      const img = gradient(100, 80);
      expect(() => decodeImage(encodePng(img), 'small.png', { maxPixels: 7999 })).to.throw(/small\.png: the image is 100x80 \(8,000 pixels\), above the limit of 7,999 pixels/);
      expect(decodeImage(encodePng(img), 'small.png', { maxPixels: 8000 }).width).to.equal(100);
    });

    it("a JPEG above the limit is refused from its frame header, and the message says what the limit is", () => {
      const bytes = Buffer.from(encodeJpeg(gradient(100, 80), 90));
      expect(() => decodeImage(bytes, 'photo.jpg', { maxPixels: 5000 })).to.throw(/photo\.jpg: the image is 100x80 \(8,000 pixels\), above the limit of 5,000 pixels; not decoded/);
      // the same file with its frame header saying 30000 x 30000
      const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
      bytes.writeUInt16BE(30000, sof + 5);
      bytes.writeUInt16BE(30000, sof + 7);
      expect(() => decodeImage(bytes, 'huge.jpg')).to.throw(/huge\.jpg: the image is 30000x30000 \(900,000,000 pixels\), above the limit of 64,000,000 pixels/);
    });

    it('rejects a malformed RgbImage and a bad JPEG quality', () => {
      expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(11) })).to.throw(/needs 12 bytes, got 11/);
      expect(() => encodeJpeg(gradient(4, 4), 0)).to.throw(/quality/);
    });
  });

  describe('resizeBilinear (align_corners=False)', () => {
    // 2x2 -> 4x4. Output column x samples input column (x + 0.5) * 2/4 - 0.5:
    //   x=0: -0.25 -> clamped to 0 -> all of column 0
    //   x=1:  0.25 -> 0.75 * col0 + 0.25 * col1
    //   x=2:  0.75 -> 0.25 * col0 + 0.75 * col1
    //   x=3:  1.25 -> clamped to 1 -> all of column 1
    // and the same for rows. With a red channel of [[0, 200], [40, 120]]:
    //   row 0 (all of input row 0):      0, 50, 150, 200
    //   row 3 (all of input row 1):     40, 60, 100, 120
    //   row 1 = 0.75 row0 + 0.25 row3: 10, 52.5 -> 53, 137.5 -> 138, 180
    //   row 2 = 0.25 row0 + 0.75 row3: 30, 57.5 -> 58, 112.5 -> 113, 140
    it('2x2 -> 4x4 worked by hand', () => {
      const img = fromPixels(2, 2, [[0, 0, 7], [200, 0, 7], [40, 0, 7], [120, 0, 7]]);
      const out = resizeBilinear(img, 4, 4);
      const red = pixels(out).map((p) => p[0]);
      expect(red).to.deep.equal([0, 50, 150, 200, 10, 53, 138, 180, 30, 58, 113, 140, 40, 60, 100, 120]);
      expect(pixels(out).every((p) => p[1] === 0 && p[2] === 7)).to.equal(true); // constant channels stay
    });

    it('2x2 -> 1x1 samples the centre: the mean of the four', () => {
      // Output (0, 0) samples input (0.5, 0.5): each pixel weighs 1/4. (0 + 200 + 40 + 120) / 4 = 90.
      const img = fromPixels(2, 2, [[0, 1, 2], [200, 1, 2], [40, 1, 2], [120, 1, 2]]);
      expect(pixels(resizeBilinear(img, 1, 1))).to.deep.equal([[90, 1, 2]]);
    });

    it('same size is the identity', () => {
      const img = gradient(7, 5);
      expect([...resizeBilinear(img, 7, 5).data]).to.deep.equal([...img.data]);
    });
  });

  describe('imageToTensor', () => {
    it('normalizes with the ImageNet mean and std, worked by hand for one pixel', () => {
      // Pixel (255, 128, 0):
      //   R: (255/255 - 0.485) / 0.229 = 0.515 / 0.229       =  2.24890829...
      //   G: (128/255 - 0.456) / 0.224 = 0.04596078 / 0.224  =  0.20518207...
      //   B: (0/255 - 0.406) / 0.225   = -0.406 / 0.225      = -1.80444444...
      const t = imageToTensor([fromPixels(1, 1, [[255, 128, 0]])]);
      expect(t.shape).to.deep.equal([1, 3, 1, 1]);
      expect(t.dtype).to.equal('float32');
      expect(t.get(0, 0, 0, 0)).to.be.closeTo(2.2489083, 1e-6);
      expect(t.get(0, 1, 0, 0)).to.be.closeTo(0.2051821, 1e-6);
      expect(t.get(0, 2, 0, 0)).to.be.closeTo(-1.8044444, 1e-6);
      expect(IMAGENET_MEAN).to.deep.equal([0.485, 0.456, 0.406]);
      expect(IMAGENET_STD).to.deep.equal([0.229, 0.224, 0.225]);
    });

    it('lays a batch out as (N, 3, H, W)', () => {
      // Two 2x1 images; image n, pixel x has red byte 255 when (n, x) = (1, 1), else 0.
      const a = fromPixels(2, 1, [[0, 0, 0], [0, 0, 0]]);
      const b = fromPixels(2, 1, [[0, 0, 0], [255, 0, 0]]);
      const t = imageToTensor([a, b]);
      expect(t.shape).to.deep.equal([2, 3, 1, 2]);
      const lowRed = (0 - 0.485) / 0.229;
      expect(t.get(1, 0, 0, 1)).to.be.closeTo((1 - 0.485) / 0.229, 1e-6);
      expect(t.get(1, 0, 0, 0)).to.be.closeTo(lowRed, 1e-6);
      expect(t.get(0, 0, 0, 1)).to.be.closeTo(lowRed, 1e-6);
    });

    it('rejects an empty batch and images of different sizes', () => {
      expect(() => imageToTensor([])).to.throw(/no images/);
      expect(() => imageToTensor([gradient(3, 3), gradient(4, 3)])).to.throw(/image 1 is 4x3, image 0 is 3x3/);
    });

    it('prepareForSSD gives (1, 3, 300, 300)', () => {
      const t = prepareForSSD(gradient(40, 30));
      expect(t.shape).to.deep.equal([1, 3, 300, 300]);
      // The top-left output pixel samples input (0, 0) (clamped), red byte 0.
      expect(t.get(0, 0, 0, 0)).to.be.closeTo(-0.485 / 0.229, 1e-6);
    });
  });

  describe('drawBoxes', () => {
    it('draws a 2-pixel outline inside the box, on a copy', () => {
      const img = makeImage(10, 10);
      // Box [0.2, 0.2, 0.8, 0.8] of a 10x10 image covers pixel columns and rows 2..7.
      const out = drawBoxes(img, [[0.2, 0.2, 0.8, 0.8]], [1], [[0, 0, 0], [255, 0, 0]]);
      const at = (x: number, y: number): number[] => [...out.data.subarray((y * 10 + x) * 3, (y * 10 + x) * 3 + 3)];
      expect(at(2, 2)).to.deep.equal([255, 0, 0]);
      expect(at(3, 5)).to.deep.equal([255, 0, 0]);
      expect(at(7, 7)).to.deep.equal([255, 0, 0]);
      expect(at(6, 4)).to.deep.equal([255, 0, 0]);
      expect(at(4, 4)).to.deep.equal([0, 0, 0]); // inside, past the 2-pixel border
      expect(at(5, 5)).to.deep.equal([0, 0, 0]);
      expect(at(1, 1)).to.deep.equal([0, 0, 0]); // outside
      expect(at(8, 8)).to.deep.equal([0, 0, 0]);
      expect(img.data.every((v) => v === 0)).to.equal(true); // the input is untouched
      expect(() => drawBoxes(img, [[0, 0, 1, 1]], [])).to.throw(/1 boxes but 0 labels/);
    });
  });
});
