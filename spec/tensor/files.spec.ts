import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeDirectory, writeFileAtomic } from '../../tensor/files';

describe('tensor/files', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-files-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('makeDirectory creates missing parents, accepts an existing directory, and names a file in the way', () => {
    const deep = path.join(dir, 'a', 'b', 'c');
    makeDirectory(deep);
    expect(fs.statSync(deep).isDirectory()).to.equal(true);
    makeDirectory(deep); // already there: nothing to do
    const file = path.join(dir, 'plain.txt');
    fs.writeFileSync(file, 'x');
    expect(() => makeDirectory(path.join(file, 'sub'))).to.throw(`cannot create the directory: ${file} is a file`);
  });

  it('makeDirectory under /proc fails at once (Node 20\'s recursive mkdirSync never returns there)', function () {
    if (!fs.existsSync('/proc/self')) this.skip();
    expect(() => makeDirectory('/proc/no-such-folder/deeper')).to.throw('/proc/no-such-folder/deeper: cannot create the directory /proc/no-such-folder');
  });

  it('writeFileAtomic with createDirectory writes the file and leaves no temporary file', () => {
    const target = path.join(dir, 'x', 'y', 'out.txt');
    writeFileAtomic(target, 'hello', 'text', { createDirectory: true });
    expect(fs.readFileSync(target, 'utf8')).to.equal('hello');
    expect(fs.readdirSync(path.dirname(target))).to.deep.equal(['out.txt']);
  });
});
