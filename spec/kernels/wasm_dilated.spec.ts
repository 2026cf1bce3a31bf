// kernels/wasm/dilated.ts: a dilated convolution as an undilated one on a batch of sub-sampled
// maps, by hand on a small map, and where the wasm backend takes that route. (The whole passes
// against the float64 reference, every tile size, 1 and 2 threads: wasm.spec.ts, "every SSD300
// convolution geometry", whose dilated cases run this way under Winograd.)

import { expect } from 'chai';
import { conv2dGeometry } from '../../kernels/geometry';
import { WasmKernels } from '../../kernels/wasm';
import { dilatedAsBatch, dilatedAsBatchApplies, mapDilated } from '../../kernels/wasm/dilated';

describe('kernels/wasm/dilated: sub-sampled maps', () => {
  it('gathers a 5x5 map with dilation 2 into four maps of 3x3, zeros past the edge, and scatters back to the same map', () => {
    // x[y][x] = 10 y + x
    const full = Float32Array.from({ length: 25 }, (_, i) => 10 * Math.floor(i / 5) + (i % 5));
    const sub = new Float32Array(4 * 9).fill(NaN);
    mapDilated(full, sub, 1, 1, 5, 5, 2, 2, true);
    // map (ry, rx) holds rows ry, ry + 2, ry + 4 and columns rx, rx + 2, rx + 4, where they exist
    expect(Array.from(sub.subarray(0, 9)), 'map (0, 0)').to.deep.equal([0, 2, 4, 20, 22, 24, 40, 42, 44]);
    expect(Array.from(sub.subarray(9, 18)), 'map (0, 1)').to.deep.equal([1, 3, 0, 21, 23, 0, 41, 43, 0]);
    expect(Array.from(sub.subarray(18, 27)), 'map (1, 0)').to.deep.equal([10, 12, 14, 30, 32, 34, 0, 0, 0]);
    expect(Array.from(sub.subarray(27, 36)), 'map (1, 1)').to.deep.equal([11, 13, 0, 31, 33, 0, 0, 0, 0]);
    const back = new Float32Array(25).fill(NaN);
    mapDilated(back, sub, 1, 1, 5, 5, 2, 2, false);
    expect(Array.from(back)).to.deep.equal(Array.from(full));
  });

  it('orders the maps by image, then residue row, then residue column, channels inside each', () => {
    // 2 images, 2 channels, 2x3, dilation (1, 3): 3 maps per image of 2x1
    const full = Float32Array.from({ length: 24 }, (_, i) => i);
    const sub = new Float32Array(24);
    mapDilated(full, sub, 2, 2, 2, 3, 1, 3, true);
    // image 0, map rx = 0: channel 0 column 0 (0, 3), channel 1 (6, 9); map rx = 1: (1, 4), (7, 10) ...
    expect(Array.from(sub)).to.deep.equal([0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11, 12, 15, 18, 21, 13, 16, 19, 22, 14, 17, 20, 23]);
  });

  it('gathers and scatters as the definition says on maps the dilation divides or not (batch 2, 3 channels), every sub-map position written', () => {
    for (const [h, w, dh, dw] of [[19, 19, 6, 6], [8, 6, 2, 3], [7, 9, 3, 2], [1, 1, 2, 2], [5, 8, 5, 4]]) {
      const [batch, channels] = [2, 3];
      const [sh, sw] = [Math.ceil(h / dh), Math.ceil(w / dw)];
      const full = Float32Array.from({ length: batch * channels * h * w }, (_, i) => i + 1);
      const sub = new Float32Array(batch * dh * dw * channels * sh * sw).fill(NaN);
      mapDilated(full, sub, batch, channels, h, w, dh, dw, true);
      const back = new Float32Array(full.length).fill(NaN);
      mapDilated(back, sub, batch, channels, h, w, dh, dw, false);
      for (let n = 0; n < batch; n++) {
        for (let ry = 0; ry < dh; ry++) {
          for (let rx = 0; rx < dw; rx++) {
            for (let c = 0; c < channels; c++) {
              for (let a = 0; a < sh; a++) {
                for (let b = 0; b < sw; b++) {
                  const [y, x] = [a * dh + ry, b * dw + rx];
                  const expected = y < h && x < w ? full[((n * channels + c) * h + y) * w + x] : 0;
                  const at = ((((n * dh + ry) * dw + rx) * channels + c) * sh + a) * sw + b;
                  if (sub[at] !== expected) throw new Error(`${h}x${w}, dilation (${dh}, ${dw}): map (${n}, ${ry}, ${rx}) channel ${c} at (${a}, ${b}) is ${sub[at]}, expected ${expected}`);
                }
              }
            }
          }
        }
      }
      expect(Array.from(back), `${h}x${w}, dilation (${dh}, ${dw}): scattered back`).to.deep.equal(Array.from(full));
    }
  });

  it("conv6's geometry (19x19, dilation 6, padding 6) becomes 36 maps of 4x4 per image, padding 1", () => {
    const g = conv2dGeometry([2, 512, 19, 19], [1024, 512, 3, 3], { padding: 6, dilation: 6 });
    expect(dilatedAsBatchApplies(g)).to.equal(true);
    const sub = dilatedAsBatch(g);
    expect([sub.batch, sub.inChannels, sub.inH, sub.inW, sub.outChannels, sub.outH, sub.outW, sub.padH, sub.dilationH]).to.deep.equal([72, 512, 4, 4, 1024, 4, 4, 1, 1]);
  });

  it('applies only to 3x3, stride 1, dilation > 1 with padding equal to the dilation', () => {
    const applies = (options: Parameters<typeof conv2dGeometry>[2], k = 3): boolean => dilatedAsBatchApplies(conv2dGeometry([1, 4, 19, 19], [4, 4, k, k], options));
    expect(applies({ padding: 6, dilation: 6 })).to.equal(true);
    expect(applies({ padding: [2, 3], dilation: [2, 3] })).to.equal(true);
    expect(applies({ padding: 1 }), 'dilation 1').to.equal(false);
    expect(applies({ padding: 3, dilation: 6 }), 'padding other than the dilation').to.equal(false);
    expect(applies({ padding: 6, dilation: 6, stride: 2 }), 'stride 2').to.equal(false);
    expect(applies({ padding: 12, dilation: 6 }, 5), '5x5').to.equal(false);
  });

  it("the wasm backend takes the route for conv6 under 'auto' (each pass where Winograd runs the maps), never under 'gemm'", async () => {
    const g = conv2dGeometry([1, 512, 19, 19], [1024, 512, 3, 3], { padding: 6, dilation: 6 });
    const auto = new WasmKernels({ threads: 1 });
    const gemm = new WasmKernels({ threads: 1, convAlgorithm: 'gemm' });
    try {
      for (const pass of ['forward', 'backwardInput', 'backwardWeight'] as const) {
        expect(auto.dilatedRoute(pass, g)?.batch, `auto, ${pass}`).to.equal(36);
        expect(gemm.dilatedRoute(pass, g), `gemm, ${pass}`).to.equal(null);
      }
      // narrow layers (the trainer's channels / 8 model): the GEMM on the dilated layer is as fast or faster (dilatedAsBatchPays)
      const narrow = conv2dGeometry([16, 64, 19, 19], [128, 64, 3, 3], { padding: 6, dilation: 6 });
      for (const pass of ['forward', 'backwardInput', 'backwardWeight'] as const) expect(auto.dilatedRoute(pass, narrow), `narrow, ${pass}`).to.equal(null);
      // channels / 4: the forward and the input gradient, not the weight gradient
      const quarter = conv2dGeometry([16, 128, 19, 19], [256, 128, 3, 3], { padding: 6, dilation: 6 });
      expect([auto.dilatedRoute('forward', quarter)?.batch, auto.dilatedRoute('backwardInput', quarter)?.batch, auto.dilatedRoute('backwardWeight', quarter)]).to.deep.equal([576, 576, null]);
      // 'winograd' runs every pass of any dilated layer of that form this way (the tests use it on few channels)
      const forced = new WasmKernels({ threads: 1, convAlgorithm: 'winograd' });
      expect(forced.dilatedRoute('backwardWeight', narrow)?.batch).to.equal(576);
      await forced.dispose();
    } finally {
      await auto.dispose();
      await gemm.dispose();
    }
  });
});
