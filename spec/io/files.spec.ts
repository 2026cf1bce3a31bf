import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkCanWrite, lockOutput, makeDirectory, readFileNamed, writeFileAtomic } from '../../io/files';

/** The id of a process that has exited: no process has it now. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
}

describe('io/files', () => {
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

  it('readFileNamed checks the file before reading it: a size limit, no devices, FIFOs, directories or link loops', () => {
    const small = path.join(dir, 'small.txt');
    fs.writeFileSync(small, 'twelve bytes');
    expect(readFileNamed(small, 'note', 12).toString()).to.equal('twelve bytes');
    expect(() => readFileNamed(small, 'note', 11)).to.throw(`${small}: cannot read note: the file is 12 bytes, above the limit of 11 bytes for note`);
    const sparse = path.join(dir, 'sparse.bin');
    fs.writeFileSync(sparse, '');
    fs.truncateSync(sparse, 5 * 2 ** 30); // 5 GB that take no disk: refused from the size, unread
    expect(() => readFileNamed(sparse, 'annotation', 2 ** 24)).to.throw('the file is 5,368,709,120 bytes, above the limit of 16,777,216 bytes');
    fs.rmSync(sparse);
    expect(() => readFileNamed('/dev/zero', 'annotation', 1000)).to.throw('/dev/zero: cannot read annotation: not a plain file (a device, a FIFO or a socket)');
    expect(() => readFileNamed(dir, 'annotation', 1000)).to.throw(`${dir}: cannot read annotation: is a directory`);
    const loop = path.join(dir, 'loop.xml');
    fs.symlinkSync('loop.xml', loop);
    expect(() => readFileNamed(loop, 'annotation', 1000)).to.throw(`${loop}: cannot read annotation: a loop of symbolic links`);
    expect(() => readFileNamed(path.join(dir, 'none.xml'), 'annotation', 1000)).to.throw('cannot read annotation: no such file');
    const fifo = path.join(dir, 'fifo');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      // opening a FIFO for reading waits for a writer: it must be refused, not wait for ever
      expect(() => readFileNamed(fifo, 'annotation', 1000)).to.throw(`${fifo}: cannot read annotation: not a plain file`);
      fs.rmSync(fifo);
    }
    fs.rmSync(loop);
  });

  it('writeFileAtomic removes the temporaries a killed writer left of the same file, and nothing else', () => {
    const target = path.join(dir, 'w', 'model.safetensors');
    fs.mkdirSync(path.dirname(target));
    const dead = deadPid();
    const stale = [`${target}.tmp-${dead}-0123456789ab`, `${target}.tmp-${dead}-ffffffffffff`];
    const kept = [
      `${target}.tmp-${process.pid}-0123456789ab`, // a live process: a write in progress
      `${target}.tmp-${process.ppid}-0123456789ab`,
      path.join(dir, 'w', `other.safetensors.tmp-${dead}-0123456789ab`), // another file's
      `${target}.tmp-${dead}-notmine`, // not our pattern
      `${target}.tmp-0-0123456789ab`, // pid 0 names a process group, never a writer
      `${target}.backup`,
    ];
    for (const f of [...stale, ...kept]) fs.writeFileSync(f, 'half');
    writeFileAtomic(target, 'whole', 'weights');
    expect(fs.readFileSync(target, 'utf8')).to.equal('whole');
    for (const f of stale) expect(fs.existsSync(f), f).to.equal(false);
    for (const f of kept) expect(fs.existsSync(f), f).to.equal(true);
    fs.rmSync(path.dirname(target), { recursive: true });
  });

  it('checkCanWrite fails for a name too long once the temporary suffix is added, and leaves nothing', () => {
    const long = path.join(dir, 'n'.repeat(240));
    expect(() => checkCanWrite(long, 'the checkpoint')).to.throw(`${long}: cannot write the checkpoint there (the name is too long)`);
    expect(() => checkCanWrite(path.join(dir, 'no-such-dir', 'x'), 'the checkpoint')).to.throw('(no such file)');
    expect(() => checkCanWrite(dir, 'the checkpoint')).to.throw('(is a directory)');
    checkCanWrite(path.join(dir, 'fine.bin'), 'the checkpoint');
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
  });

  it('writeFileAtomic and checkCanWrite never replace a device, a FIFO or a socket (--out /dev/null, as root, made /dev/null a plain file)', () => {
    // a link to /dev/null stands for it: if the check failed, the rename would replace the link, not the device
    const devNull = path.join(dir, 'null-link');
    fs.symlinkSync('/dev/null', devNull);
    expect(() => checkCanWrite(devNull, 'the checkpoint')).to.throw(`${devNull}: cannot write the checkpoint there (is a device, not a file)`);
    expect(() => writeFileAtomic(devNull, 'x', 'the checkpoint')).to.throw(`${devNull}: cannot write the checkpoint: is a device, not a file`);
    expect(fs.lstatSync(devNull).isSymbolicLink()).to.equal(true);
    expect(fs.statSync('/dev/null').isCharacterDevice()).to.equal(true);
    fs.rmSync(devNull);
    const fifo = path.join(dir, 'out-fifo');
    if (spawnSync('mkfifo', [fifo]).status === 0) {
      expect(() => checkCanWrite(fifo, 'the picture')).to.throw('(is a FIFO, not a file)');
      expect(() => writeFileAtomic(fifo, 'x', 'the picture')).to.throw('is a FIFO, not a file');
      expect(fs.statSync(fifo).isFIFO()).to.equal(true);
      fs.rmSync(fifo);
    }
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp-'))).to.deep.equal([]);
  });

  it('lockOutput: one holder at a time; a lock of a dead process, or an old unreadable one, is taken over', () => {
    const out = path.join(dir, 'locked.safetensors');
    const lock = `${out}.lock`;
    const release = lockOutput(out, 'the checkpoint');
    expect(fs.existsSync(lock)).to.equal(true);
    expect(() => lockOutput(out, 'the checkpoint')).to.throw(`${out}: the checkpoint is being written by another run (process ${process.pid})`);
    release();
    expect(fs.existsSync(lock)).to.equal(false);
    // a lock left by a killed run
    const stale: string[] = [];
    fs.writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: os.hostname(), started: null }));
    lockOutput(out, 'the checkpoint', (m) => stale.push(m))();
    expect(stale).to.have.length(1);
    expect(stale[0]).to.match(/removed a stale lock \(process \d+ no longer runs\)/);
    // a process id reused by another process: its start time differs, so the lock is stale
    if (fs.existsSync('/proc/self/stat')) {
      fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), started: '1' }));
      lockOutput(out, 'the checkpoint', (m) => stale.push(m))();
      expect(stale).to.have.length(2);
    }
    // a lock of another machine cannot be judged: it holds
    fs.writeFileSync(lock, JSON.stringify({ pid: 1, host: 'elsewhere.example', started: null }));
    expect(() => lockOutput(out, 'the checkpoint')).to.throw('(process 1 on elsewhere.example)');
    // an unreadable lock: held while it is young, stale once old
    fs.writeFileSync(lock, 'garbage');
    expect(() => lockOutput(out, 'the checkpoint')).to.throw('is being written by another run');
    const old = (Date.now() - 120000) / 1000;
    fs.utimesSync(lock, old, old);
    lockOutput(out, 'the checkpoint', (m) => stale.push(m))();
    expect(stale[stale.length - 1]).to.contain('removed a stale lock (unreadable)');
    expect(fs.existsSync(lock)).to.equal(false);
  });
});
