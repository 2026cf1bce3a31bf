#!/usr/bin/env node
// Assembles the hand-written WebAssembly text of kernels/wasm/*.wat into dist/kernels/wasm/*.wasm,
// with wabt (the WebAssembly Binary Toolkit's own wat2wasm, compiled to JavaScript; a dev
// dependency). Run by `npm run build` after tsc. The runtime loads the .wasm files beside its
// compiled JavaScript (kernels/wasm/runtime.ts).

const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const sourceDir = path.join(root, 'kernels/wasm');
const outDir = path.join(root, 'dist/kernels/wasm');

// simd: SIMD128; relaxed_simd: f32x4.relaxed_madd (gemm-4x8-relaxed.wat); threads: the shared memory
const FEATURES = { simd: true, relaxed_simd: true, threads: true, bulk_memory: true };

async function main() {
  const wabt = await require('wabt')();
  fs.mkdirSync(outDir, { recursive: true });
  for (const file of fs.readdirSync(sourceDir).filter((f) => f.endsWith('.wat')).sort()) {
    const source = fs.readFileSync(path.join(sourceDir, file), 'utf8');
    const module = wabt.parseWat(file, source, FEATURES);
    module.validate(FEATURES);
    const { buffer } = module.toBinary({ log: false, write_debug_names: true });
    module.destroy();
    fs.writeFileSync(path.join(outDir, file.replace(/\.wat$/, '.wasm')), buffer);
  }
}

main().catch((error) => {
  console.error(`build-wasm: ${error.message}`);
  process.exit(1);
});
