#!/usr/bin/env node
// `npm test` after the build: mocha over spec/, with every kernel backend.
//
// The backend suites read SSD_TEST_BACKENDS (spec/kernels/backends.spec.ts) and
// SSD_TEST_GPUJS_MODES (spec/kernels/gpujs.spec.ts); a backend named there that does not work
// FAILS its tests. Unless you set them, this script names every backend of kernels/select.ts's
// BACKEND_NAMES but the reference (which the suite compares against): in CI always (a CI run must
// never pass by quietly testing less), elsewhere all those this machine can run, saying which it
// leaves out. headless-gl needs an X server, so mocha runs under `xvfb-run -a` when
// that exists (npm install's scripts/setup-gl.js installs it as root on Debian).

const { spawnSync, execSync } = require('child_process');
const path = require('path');

const root = path.join(__dirname, '..');
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

function works(command) {
  try {
    execSync(command, { cwd: root, stdio: 'ignore', shell: '/bin/bash' });
    return true;
  } catch {
    return false;
  }
}

// The one list of backend names (npm test builds before it runs this).
const { BACKEND_NAMES } = require(path.join(root, 'dist/kernels/select'));

const hasXvfb = works('command -v xvfb-run');
const glUsable = hasXvfb && works(`node -e "require('gl')"`);
const env = { ...process.env };
if (env.SSD_TEST_BACKENDS === undefined) {
  const tested = BACKEND_NAMES.filter((name) => name !== 'reference' && (inCI || glUsable || name !== 'gpu.js:headlessgl'));
  env.SSD_TEST_BACKENDS = tested.join(',');
}
if (env.SSD_TEST_GPUJS_MODES === undefined) {
  env.SSD_TEST_GPUJS_MODES = inCI || glUsable ? 'webasm,cpu,headlessgl' : 'webasm,cpu';
}
if (!inCI && !glUsable) {
  console.warn('test: gpu.js:headlessgl left out (needs the gl package and xvfb-run; see scripts/setup-gl.js)');
}
console.log(`test: kernel backends ${env.SSD_TEST_BACKENDS}; GPU.js modes ${env.SSD_TEST_GPUJS_MODES}`);

const mocha = [path.join(root, 'node_modules/mocha/bin/mocha.js'), ...process.argv.slice(2)];
const command = hasXvfb ? ['xvfb-run', ['-a', process.execPath, ...mocha]] : [process.execPath, mocha];
const result = spawnSync(command[0], command[1], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status === null ? 1 : result.status);
