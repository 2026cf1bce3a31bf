#!/usr/bin/env node
// `npm run build:web`: bundle the page (web/main.ts and the library modules it imports) with
// esbuild into dist/site/, beside index.html, the example image with its annotation (as JSON) and
// the weights the page starts with (see below). Run after `npm run build` (the annotation is read with dist/data/voc.js).
//
// The bundle is for the browser, so nothing Node-only may be in it. Two files of the library
// touch the file system or Node's streams, and are imported (not called) on the page's paths:
// io/files.ts (fs, used by the file-path functions of safetensors and images) and pngjs (used
// by data/image.ts to encode and decode PNG files; the page decodes with the browser). Both are
// replaced in the bundle by web/node_only.ts, whose functions throw if ever called. Any other
// Node built-in that sneaks in (fs, worker_threads...) fails the build: esbuild cannot resolve it
// for platform 'browser'.

const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'dist', 'site');

/** Resolves the Node-only modules to the stub. */
const nodeOnly = {
  name: 'node-only',
  setup(build) {
    const stub = path.join(root, 'web', 'node_only.ts');
    build.onResolve({ filter: /^pngjs$/ }, () => ({ path: stub }));
    // the wasm backend: Node's built-ins it imports, and its worker threads as Web Workers
    const builtins = path.join(root, 'web', 'node_builtins.ts');
    build.onResolve({ filter: /^(fs|path|v8|os|worker_threads|crypto|zlib)$/ }, () => ({ path: builtins }));
    build.onResolve({ filter: /^\.\/threads$/ }, (args) =>
      path.resolve(args.resolveDir, args.path) === path.join(root, 'kernels', 'wasm', 'threads') ? { path: path.join(root, 'web', 'wasm_threads.ts') } : undefined);
    build.onResolve({ filter: /(^|\/)io\/files$|^\.\/files$/ }, (args) => {
      const resolved = path.resolve(args.resolveDir, args.path);
      return resolved === path.join(root, 'io', 'files') ? { path: stub } : undefined;
    });
  },
};

/** One entry of web/ bundled for the browser into dist/site/, with the Node-only modules replaced. */
function bundle(entry, outfile) {
  return esbuild.build({
    entryPoints: [path.join(root, 'web', entry)],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    sourcemap: true,
    outfile: path.join(out, outfile),
    plugins: [nodeOnly],
    logLevel: 'warning',
    metafile: true,
  });
}

async function main() {
  fs.mkdirSync(out, { recursive: true });
  // The page, and its two Web Workers: the trainer (web/train_worker.ts, training in the tab) and
  // the wasm backend's threads (web/wasm_worker.ts); the .wasm files they instantiate are copied
  // beside them (the page fetches them: web/wasm_kernels.ts).
  const result = await bundle('main.ts', 'main.js');
  const trainer = await bundle('train_worker.ts', 'train-worker.js');
  const worker = await bundle('wasm_worker.ts', 'wasm-worker.js');
  fs.mkdirSync(path.join(out, 'wasm'), { recursive: true });
  const wasmDir = path.join(root, 'dist', 'kernels', 'wasm');
  for (const file of fs.readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmDir, file), path.join(out, 'wasm', file));
  // Say so if a Node-only module got in anyway.
  const inputs = [...Object.keys(result.metafile.inputs), ...Object.keys(worker.metafile.inputs), ...Object.keys(trainer.metafile.inputs)];
  const banned = inputs.filter((f) => /io\/files\.ts$|node_modules\/pngjs\/|kernels\/cpu\/fast\/|kernels\/task_threads\.ts$|kernels\/wasm\/threads\.ts$/.test(f));
  if (banned.length > 0) throw new Error(`build-web: Node-only modules in the bundle: ${banned.join(', ')}`);

  fs.copyFileSync(path.join(root, 'web', 'index.html'), path.join(out, 'index.html'));
  // The weights the page starts with: $SSD_WEB_WEIGHTS, else the demo's checkpoint when `npm run demo`
  // has made one, else the small committed test weights (35 training steps: they run, but detect little).
  const demo = path.join(root, 'demo-output', 'ssd-synthetic.safetensors');
  const weights = process.env.SSD_WEB_WEIGHTS || (fs.existsSync(demo) ? demo : path.join(root, 'web', 'test-weights.safetensors'));
  fs.copyFileSync(weights, path.join(out, 'weights.safetensors'));
  fs.copyFileSync(path.join(root, 'web', 'test-image.png'), path.join(out, 'example.png'));
  const { parseVocAnnotation } = require(path.join(root, 'dist', 'data', 'voc.js'));
  const { SYNTHETIC_CLASSES } = require(path.join(root, 'dist', 'data', 'synthetic.js'));
  const annotation = parseVocAnnotation(fs.readFileSync(path.join(root, 'web', 'test-image.xml'), 'utf8'), 'web/test-image.xml', SYNTHETIC_CLASSES);
  const example = {
    classes: SYNTHETIC_CLASSES,
    objects: annotation.objects.map((o) => ({ boxXy: o.boxXy, label: o.label })),
    weights: path.relative(root, weights),
  };
  fs.writeFileSync(path.join(out, 'example.json'), JSON.stringify(example));
  const kb = (f) => (fs.statSync(path.join(out, f)).size / 1024).toFixed(0);
  console.log(`build-web: dist/site/ (main.js ${kb('main.js')} KB from ${Object.keys(result.metafile.inputs).length} modules, train-worker.js ${kb('train-worker.js')} KB, wasm-worker.js ${kb('wasm-worker.js')} KB, weights ${example.weights}, ${kb('weights.safetensors')} KB)`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
