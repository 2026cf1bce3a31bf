#!/usr/bin/env node
// Before `npm run real-set` makes the real-image data set (bench/real_set.ts): the Debian
// packages it is made from, installed when missing. They are Tux Paint's stamps (photographs of
// objects cut out with an alpha channel) and three sets of desktop wallpapers (the backgrounds):
//   tuxpaint-stamps-default  plasma-workspace-wallpapers  mate-backgrounds  lomiri-wallpapers-16.04
// about 160 MB installed, no dependencies beyond them. As root with apt-get (Debian/Ubuntu) this
// installs what is missing; otherwise it says what to install and exits with 1, so that the
// `npm run real-set` chain stops here instead of failing later on a missing file.
// The list comes from the compiled bench/real_set.js (REAL_SET_PACKAGES), so it cannot drift
// from the files the set is made of; `npm run real-set` builds first.

const path = require('path');
const { installed, mayInstall, aptInstall } = require('./apt');

function packages() {
  try {
    return require(path.join(__dirname, '..', 'dist', 'bench', 'real_set.js')).REAL_SET_PACKAGES;
  } catch (e) {
    console.error(`setup-real-set: cannot read the package list from dist/bench/real_set.js (run \`npm run build\` first): ${e.message}`);
    process.exit(1);
  }
}

function main() {
  const wanted = packages();
  const missing = wanted.filter((p) => !installed(p));
  if (missing.length === 0) {
    console.log(`setup-real-set: ${wanted.join(', ')} are installed`);
    return;
  }
  if (!mayInstall()) {
    console.error(`setup-real-set: the real-image data set is made from Debian packages; install them first:\n  sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
  aptInstall('setup-real-set', missing);
  const still = wanted.filter((p) => !installed(p));
  if (still.length > 0) {
    console.error(`setup-real-set: still missing after apt-get: ${still.join(' ')}`);
    process.exit(1);
  }
}

main();
