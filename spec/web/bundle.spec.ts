// The page's bundle, without a browser (part of `npm test`; the page itself is tested in
// Chromium by `npm run test:web`, spec/web/page.browser.ts): it builds, holds the library's own
// modules, and no Node-only one.

import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..', '..');

describe('web/ bundle', () => {
  it('esbuild bundles the page for the browser, with the example files, and no fs, pngjs or worker threads', function () {
    this.timeout(120000);
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-web.js')], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const site = path.join(ROOT, 'dist', 'site');
    for (const f of ['index.html', 'main.js', 'weights.safetensors', 'example.png', 'example.json']) {
      expect(fs.existsSync(path.join(site, f)), f).to.equal(true);
    }
    const map = JSON.parse(fs.readFileSync(path.join(site, 'main.js.map'), 'utf8')) as { sources: string[] };
    const sources = map.sources.map((s) => s.replace(/\\/g, '/'));
    // The same modules as Node: the model, the detection, the pictures.
    for (const file of ['ssd/ssd300.ts', 'ssd/detect.ts', 'kernels/gpu/runtime.ts', 'kernels/cpu/reference.ts', 'explain/priors.ts', 'tensor/safetensors.ts']) {
      expect(sources.some((s) => s.endsWith(file)), file).to.equal(true);
    }
    // The Node-only ones replaced or absent.
    for (const banned of ['io/files.ts', 'node_modules/pngjs/', 'kernels/cpu/fast/', 'worker_threads']) {
      expect(sources.filter((s) => s.includes(banned)), banned).to.deep.equal([]);
    }
    expect(sources.some((s) => s.endsWith('web/node_only.ts'))).to.equal(true);
  });
});
