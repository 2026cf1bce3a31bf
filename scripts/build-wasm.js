#!/usr/bin/env node
// Assembles the hand-written WebAssembly text of kernels/wasm/*.wat into dist/kernels/wasm/*.wasm
// (and the benchmarks' own peak loop, bench/peak.wat, into dist/bench),
// with wabt (the WebAssembly Binary Toolkit's own wat2wasm, compiled to JavaScript; a dev
// dependency). Run by `npm run build` after tsc. The runtime loads the .wasm files beside its
// compiled JavaScript (kernels/wasm/runtime.ts). Templates (see VARIANTS) give two files each.

const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
// each folder of .wat sources and where its .wasm files go
const FOLDERS = [
  { sourceDir: path.join(root, 'kernels/wasm'), outDir: path.join(root, 'dist/kernels/wasm') },
  { sourceDir: path.join(root, 'bench'), outDir: path.join(root, 'dist/bench') },
];

// simd: SIMD128; relaxed_simd: f32x4.relaxed_madd (gemm-4x8-relaxed.wasm); threads: the shared memory
const FEATURES = { simd: true, relaxed_simd: true, threads: true, bulk_memory: true };

// A file that uses (MADD a b c), a * b + c lane by lane, is a template of two variants
// (kernels/wasm/gemm-4x8.wat, bench/peak.wat): NAME-simd.wasm with a multiply then an add, and NAME-relaxed.wasm with
// relaxed SIMD's fused multiply-add. The arguments are whole s-expressions.
const VARIANTS = {
  simd: (a, b, c) => `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`,
  relaxed: (a, b, c) => `(f32x4.relaxed_madd ${a} ${b} ${c})`,
};

/** The s-expression that starts at source[start] (a '(' or an atom) and the index after it. */
function expression(source, start) {
  if (source[start] !== '(') {
    const end = source.slice(start).search(/[\s()]/);
    return end < 0 ? source.length : start + end;
  }
  let depth = 0;
  for (let i = start; i < source.length; i++) {
    if (source[i] === '(') depth++;
    else if (source[i] === ')' && --depth === 0) return i + 1;
  }
  throw new Error(`unbalanced parentheses from offset ${start}`);
}

/** The template with every (MADD a b c) written as `write(a, b, c)`. */
function expandMadd(file, source, write) {
  let out = '';
  let at = 0;
  for (let found = source.indexOf('(MADD ', at); found >= 0; found = source.indexOf('(MADD ', at)) {
    out += source.slice(at, found);
    const args = [];
    let i = found + '(MADD'.length;
    for (let k = 0; k < 3; k++) {
      while (/\s/.test(source[i])) i++;
      if (i >= source.length || source[i] === ')') throw new Error(`${file}: (MADD ...) at offset ${found} takes exactly three arguments`);
      const end = expression(source, i);
      args.push(source.slice(i, end));
      i = end;
    }
    while (/\s/.test(source[i])) i++;
    if (source[i] !== ')') throw new Error(`${file}: (MADD ...) at offset ${found} takes exactly three arguments`);
    out += write(...args);
    at = i + 1;
  }
  return out + source.slice(at);
}

async function main() {
  const wabt = await require('wabt')();
  for (const { sourceDir, outDir } of FOLDERS) {
    fs.mkdirSync(outDir, { recursive: true });
    const assemble = (name, source) => {
      const module = wabt.parseWat(name, source, FEATURES);
      module.validate(FEATURES);
      const { buffer } = module.toBinary({ log: false, write_debug_names: true });
      module.destroy();
      fs.writeFileSync(path.join(outDir, `${name}.wasm`), buffer);
    };
    for (const file of fs.readdirSync(sourceDir).filter((f) => f.endsWith('.wat')).sort()) {
      const source = fs.readFileSync(path.join(sourceDir, file), 'utf8');
      const name = file.replace(/\.wat$/, '');
      if (!source.includes('(MADD ')) {
        assemble(name, source);
        continue;
      }
      for (const [variant, write] of Object.entries(VARIANTS)) assemble(`${name}-${variant}`, expandMadd(file, source, write));
    }
  }
}

module.exports = { VARIANTS, expandMadd };

if (require.main === module) {
  main().catch((error) => {
    console.error(`build-wasm: ${error.message}`);
    process.exit(1);
  });
}
