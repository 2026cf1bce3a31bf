#!/usr/bin/env node
// After `tsc`: make the `ssd` command executable. The compiler writes dist/cli/ssd.js without
// its execute bit, and `npx ssd` (or `ssd` after `npm link`) runs the file directly through
// its `#!/usr/bin/env node` line, so without the bit it fails with "Permission denied".

const fs = require('fs');
const path = require('path');

const bin = path.join(__dirname, '..', 'dist', 'cli', 'ssd.js');
if (!fs.existsSync(bin)) {
  console.error(`postbuild: ${bin} was not built`);
  process.exit(1);
}
fs.chmodSync(bin, 0o755);
