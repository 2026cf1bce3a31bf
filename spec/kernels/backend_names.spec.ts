// The list of backend names lives in one place, kernels/select.ts (BACKEND_NAMES). What repeats
// it for people to read is built from it (the CLI's help) or checked against it here (the backends
// table, which moved from the README to docs/backends.md); scripts/test.js builds its list from it.

import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { BACKEND_NAMES } from '../../kernels/select';
import { commandHelp, overview } from '../../cli/help';

const root = path.join(__dirname, '../../..'); // dist/spec/kernels -> the repository

describe('kernels/select: the backend names, in one place', () => {
  it("the CLI help's --backend is built from BACKEND_NAMES, in order", () => {
    const match = /--backend ([a-z.:|]+)/.exec(overview());
    expect(match, 'a `--backend a|b|c` line in `ssd help`').to.not.equal(null);
    expect(match![1].split('|')).to.deep.equal([...BACKEND_NAMES]);
    expect(commandHelp('detect')).to.contain(`--backend ${BACKEND_NAMES.join('|')}`);
  });

  it("docs/backends.md's backends table has one row per name, in order", () => {
    const page = fs.readFileSync(path.join(root, 'docs/backends.md'), 'utf8');
    const start = page.indexOf('## The backends');
    expect(start, 'docs/backends.md has its "## The backends" section').to.be.greaterThan(-1);
    const section = page.slice(start);
    const rows = section.split('\n').filter((line) => /^\| `[^`]+`/.test(line));
    const names = rows.map((line) => /^\| `([^`]+)`/.exec(line)![1]);
    expect(names.slice(0, BACKEND_NAMES.length)).to.deep.equal([...BACKEND_NAMES]);
  });

  it('scripts/test.js takes its list from BACKEND_NAMES', () => {
    const script = fs.readFileSync(path.join(root, 'scripts/test.js'), 'utf8');
    expect(script).to.match(/BACKEND_NAMES/);
    expect(script).to.not.match(/'cpu,gpu\.js/); // no hand-written list
  });
});
