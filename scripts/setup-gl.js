#!/usr/bin/env node
// postinstall: make GPU.js's headless-gl backend work on this machine.
//
// gpu.js lists `gl` (headless WebGL, compiled by node-gyp) as an optional dependency. Its build
// needs the X11 headers and pkg-config, and running it needs an X server (Xvfb) and Mesa's
// software GL. Without them npm drops `gl` silently and the 'gpu.js:headlessgl' backend is
// missing. So, after `npm install`: if `gl` does not load and we may use apt-get (root on
// Debian/Ubuntu), install the system packages and build `gl` again. Otherwise say what is missing.
// Nothing here is fatal: the test suite fails later if it is told to test a missing backend.

const { execSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { has, installed, mayInstall, aptInstall } = require('./apt');

const root = path.join(__dirname, '..');
const APT_PACKAGES = ['libx11-dev', 'libxext-dev', 'libxi-dev', 'pkg-config', 'xvfb', 'libgl1-mesa-dri'];

function glLoads() {
  try {
    execSync(`node -e "require('gl')"`, { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function glVersion() {
  const gpuPackage = JSON.parse(fs.readFileSync(path.join(root, 'node_modules/gpu.js/package.json'), 'utf8'));
  return (gpuPackage.optionalDependencies || {}).gl || 'latest';
}

function main() {
  if (process.env.SSD_SKIP_GL_SETUP) return;
  if (glLoads() && has('xvfb-run')) {
    console.log('setup-gl: headless-gl is built and xvfb-run is present');
    return;
  }
  if (!mayInstall()) {
    console.warn(`setup-gl: headless-gl is not usable; install ${APT_PACKAGES.join(' ')} and run \`npm rebuild gl\` to enable the gpu.js:headlessgl backend`);
    return;
  }
  const missing = APT_PACKAGES.filter((p) => !installed(p));
  if (missing.length > 0) aptInstall('setup-gl', missing, { recommends: true, env: { SSD_SKIP_GL_SETUP: '1' } });
  const run = (cmd) => {
    console.log(`setup-gl: ${cmd}`);
    execSync(cmd, { cwd: root, stdio: 'inherit', env: { ...process.env, SSD_SKIP_GL_SETUP: '1' } });
  };
  if (!glLoads()) run(`npm install --no-save --foreground-scripts gl@${glVersion()}`);
  console.log(glLoads() ? 'setup-gl: headless-gl is ready' : 'setup-gl: headless-gl still does not load; the gpu.js:headlessgl backend is unavailable');
}

try {
  main();
} catch (e) {
  console.warn(`setup-gl: ${e.message}`);
}
