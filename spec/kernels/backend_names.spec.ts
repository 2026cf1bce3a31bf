// The list of backend names lives in one place, kernels/select.ts (BACKEND_NAMES). What repeats
// it for people to read is built from it (the CLI's help) or checked against it here (the README's
// backends table); scripts/test.js builds its list from it.

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

  it("the README's backends table has one row per name, in order", () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Backends'));
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
