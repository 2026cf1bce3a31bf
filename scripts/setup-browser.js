#!/usr/bin/env node
// postinstall: the browser the page's test drives (`npm run test:web`, spec/web/page.browser.ts).
//
// The test uses Debian's Chromium at /usr/bin/chromium through playwright-core, which never
// downloads a browser. If it is missing and we may use apt-get (root on Debian/Ubuntu), install
// it; otherwise say how. Nothing here is fatal: `npm run test:web` fails later, saying what is missing.

const fs = require('fs');
const { mayInstall, aptInstall } = require('./apt');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function main() {
  if (process.env.SSD_SKIP_BROWSER_SETUP) return;
  if (fs.existsSync(CHROMIUM)) {
    console.log(`setup-browser: ${CHROMIUM} is present`);
    return;
  }
  if (!mayInstall()) {
    console.warn('setup-browser: no Chromium; install Debian\'s `chromium` package (or set $CHROMIUM) to run `npm run test:web`');
    return;
  }
  aptInstall('setup-browser', ['chromium'], { recommends: true });
  console.log(fs.existsSync(CHROMIUM) ? `setup-browser: ${CHROMIUM} is ready` : `setup-browser: chromium installed, but not at ${CHROMIUM}`);
}

try {
  main();
} catch (e) {
  console.warn(`setup-browser: ${e.message}`);
}
