// What the `ssd` commands write, under hostile choices of --out: no output may replace an input
// (by any name: ./, .., a symbolic link, a hard link) or land inside the data set; one run writes
// one --out at a time (a lock, a stale one taken over); a name too long fails before the work;
// a killed run leaves nothing running and its leftovers are cleaned by the next. Each case runs
// the CLI as a child process and checks the exit code, the message, and every file byte for byte.

import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SSD300 } from '../../ssd/ssd300';
import { makeSyntheticDataset, SYNTHETIC_CLASSES } from '../../data/synthetic';
import { writeVocDataset } from '../../data/voc';
import { encodePng } from '../../data/image_files';
import { deadPid, isRunning, processesNaming, snapshot, sleep, ssdMeasured, ssdStarted } from './measured';

describe('cli: outputs never replace inputs, one run per --out', () => {
  let dir = '';
  let data = '';
  let weights = '';
  const images = makeSyntheticDataset(4, 21, { size: 96 });
  const ssd = (...args: string[]): ReturnType<typeof ssdMeasured> => ssdMeasured(args, 120000, dir);
  const train = ['train', '--classes', 'synthetic', '--width-divisor', '32', '--batch', '2', '--no-augment'];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-outputs-'));
    data = path.join(dir, 'data');
    writeVocDataset(data, 'trainval', images, SYNTHETIC_CLASSES);
    weights = path.join(dir, 'w.safetensors');
    new SSD300({ nClasses: SYNTHETIC_CLASSES.length, widthDivisor: 32, seed: 1 }).saveWeights(weights, { classes: JSON.stringify(SYNTHETIC_CLASSES) });
    fs.mkdirSync(path.join(dir, 'img'));
    for (const name of ['a.png', 'a.detections.png', 'b.png', 'c.png']) fs.writeFileSync(path.join(dir, 'img', name), encodePng(images[name.charCodeAt(0) % 4].image));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('detect refuses a picture that would replace an input image or the weights, by any name, changing nothing', function () {
    this.timeout(120000);
    const before = snapshot(dir);
    fs.mkdirSync(path.join(dir, 'outd'));
    fs.symlinkSync('img', path.join(dir, 'alias'));
    fs.linkSync(path.join(dir, 'img', 'c.png'), path.join(dir, 'outd', 'b.detections.png')); // a hard link: one file, two names
    fs.copyFileSync(weights, path.join(dir, 'outd', 'a.detections.png'));
    const cases: Array<[string[], string]> = [
      // the case: a.png's picture is a.detections.png, which is also an input
      [['--out', 'img', 'img/a.png', 'img/a.detections.png'], 'img/a.detections.png: the picture of img/a.png would overwrite the input image img/a.detections.png'],
      [['--out', './img', 'img/a.png', 'img/a.detections.png'], 'the picture of img/a.png would overwrite the input image img/a.detections.png'],
      [['--out', 'outd/../img', 'img/a.png', path.join(dir, 'img', 'a.detections.png')], `img/a.detections.png: the picture of img/a.png would overwrite the input image ${path.join(dir, 'img', 'a.detections.png')}`],
      [['--out', 'alias', 'img/a.png', 'img/a.detections.png'], 'would overwrite the input image img/a.detections.png (the same file by another name)'],
      [['--out', 'outd', 'img/b.png', 'img/c.png'], 'outd/b.detections.png: the picture of img/b.png would overwrite the input image img/c.png (the same file by another name)'],
    ];
    for (const [args, message] of cases) {
      const r = ssd('detect', '--weights', weights, ...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
      expect(r.stderr, args.join(' ')).to.contain(message);
    }
    const r = ssd('detect', '--weights', 'outd/a.detections.png', '--out', 'outd', 'img/a.png');
    expect(r.status).to.equal(1);
    expect(r.stderr).to.contain('outd/a.detections.png: the picture of img/a.png would overwrite the --weights file outd/a.detections.png');
    // nothing that was there changed, and nothing was written beside it
    const after = snapshot(dir);
    for (const [file, bytes] of before) expect(after.get(file)?.equals(bytes), file).to.equal(true);
    expect(fs.readdirSync(path.join(dir, 'img')).sort()).to.deep.equal(['a.detections.png', 'a.png', 'b.png', 'c.png']);
    expect(fs.readdirSync(path.join(dir, 'outd')).sort()).to.deep.equal(['a.detections.png', 'b.detections.png']);
    // an output folder that holds old pictures (not inputs) is fine
    const ok = ssd('detect', '--weights', weights, '--out', 'outd', 'img/a.png');
    expect(ok.status, ok.stderr).to.equal(0);
    fs.rmSync(path.join(dir, 'outd'), { recursive: true });
    fs.rmSync(path.join(dir, 'alias'));
  });

  it('train, augment-preview and explain refuse an --out inside the data set or on an input, changing nothing', function () {
    this.timeout(120000);
    // an image of the data set that is a link to a photo elsewhere
    fs.mkdirSync(path.join(dir, 'photos'));
    const photo = path.join(dir, 'photos', 'photo.png');
    fs.renameSync(path.join(data, 'JPEGImages', 'trainval_000002.png'), photo);
    fs.symlinkSync(photo, path.join(data, 'JPEGImages', 'trainval_000002.png'));
    fs.symlinkSync('data', path.join(dir, 'dlink'));
    fs.copyFileSync(weights, path.join(dir, 'photos', 'm.curves.png')); // a checkpoint, oddly named
    const before = snapshot(dir);
    const image1 = path.join('data', 'JPEGImages', 'trainval_000001.png');
    const cases: Array<[string[], string]> = [
      [[...train, '--data', 'data', '--out', image1], `${image1}: the checkpoint (--out) would be written inside the data set data`],
      [[...train, '--data', 'data', '--out', 'data/model.safetensors'], 'data/model.safetensors: the checkpoint (--out) would be written inside the data set data'],
      [[...train, '--data', 'data', '--out', 'img/../data/JPEGImages/x.png'], 'would be written inside the data set data'],
      [[...train, '--data', 'data', '--out', 'dlink/model.safetensors'], 'dlink/model.safetensors: the checkpoint (--out) would be written inside the data set data'],
      [[...train, '--data', 'dlink', '--out', 'data/Annotations/trainval_000001.xml'], 'would be written inside the data set dlink'],
      [[...train, '--data', 'data', '--out', photo], `${photo}: the checkpoint (--out) would overwrite the data set's image data/JPEGImages/trainval_000002.png (the same file by another name)`],
      [[...train, '--data', 'data', '--out', 'photos/m.safetensors', '--resume', 'photos/m.curves.png'], 'photos/m.curves.png: the training curves would overwrite the --resume checkpoint photos/m.curves.png'],
      [['augment-preview', '--data', 'data', '--out', image1], `${image1}: the preview (--out) would be written inside the data set data`],
      [['augment-preview', '--data', 'data', '--out', photo], "the preview (--out) would overwrite the data set's image"],
      [['explain', 'priors', 'img/a.png', '--out', 'img/a.png'], 'img/a.png: the picture (--out) would overwrite the image img/a.png'],
      [['explain', 'priors', 'img/a.png', '--out', './img/../img/a.png'], './img/../img/a.png: the picture (--out) would overwrite the image img/a.png'],
      [['explain', 'matching', '--annotation', 'data/Annotations/trainval_000001.xml', '--out', 'dlink/Annotations/trainval_000001.xml'], 'would overwrite the --annotation file data/Annotations/trainval_000001.xml (the same file by another name)'],
      [['explain', 'detection', '--weights', 'w.safetensors', '--out', 'w.safetensors'], 'w.safetensors: the picture (--out) would overwrite the --weights file w.safetensors'],
    ];
    for (const [args, message] of cases) {
      const r = ssd(...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.equal(1);
      expect(r.stderr, args.join(' ')).to.contain(message);
    }
    const after = snapshot(dir);
    expect([...after.keys()].sort()).to.deep.equal([...before.keys()].sort());
    for (const [file, bytes] of before) expect(after.get(file)?.equals(bytes), file).to.equal(true);
    fs.rmSync(path.join(dir, 'dlink'));
  });

  it('an --out name too long for the file system fails before any work, writing nothing', function () {
    this.timeout(60000);
    const before = snapshot(dir);
    // 240 characters is a valid name, but the temporary written beside it (name.tmp-PID-RANDOM) is not: that once failed only after training
    for (const out of ['o'.repeat(240) + '.st', 'x'.repeat(100000)]) {
      const r = ssd(...train, '--data', 'data', '--max-steps', '1', '--out', out);
      expect(r.status, r.stderr.slice(0, 300)).to.equal(1);
      expect(r.stderr).to.match(/cannot write the checkpoint \(--out\) there \(the name is too long\)/);
      expect(r.stdout).to.not.contain('training on');
    }
    // an --out that is a device (/dev/null, here through a link: if the check failed, only the link would go)
    fs.symlinkSync('/dev/null', path.join(dir, 'null.st'));
    const d = ssd(...train, '--data', 'data', '--max-steps', '1', '--out', 'null.st');
    expect(d.status, d.stderr.slice(0, 300)).to.equal(1);
    expect(d.stderr).to.contain('--out null.st: cannot write the checkpoint (--out) there (is a device, not a file)');
    expect(fs.lstatSync(path.join(dir, 'null.st')).isSymbolicLink()).to.equal(true);
    fs.rmSync(path.join(dir, 'null.st'));
    const p = ssd('augment-preview', '--data', 'data', '--out', 'p'.repeat(250) + '.png');
    expect(p.status).to.equal(1);
    expect(p.stderr).to.contain('the name is too long');
    const after = snapshot(dir);
    expect([...after.keys()].sort()).to.deep.equal([...before.keys()].sort());
  });

  it('a second run on the same --out fails at once, naming the first; the first finishes untouched', async function () {
    this.timeout(120000);
    const out = path.join(dir, 'shared.safetensors');
    const first = ssdStarted([...train, '--data', data, '--max-steps', '2', '--out', out]);
    const lock = `${out}.lock`;
    for (let i = 0; i < 200 && !fs.existsSync(lock); i++) await sleep(50);
    expect(fs.existsSync(lock), first.output()).to.equal(true);
    const second = ssd(...train, '--data', data, '--max-steps', '1', '--out', out);
    const third = ssd('augment-preview', '--data', data, '--out', `${dir}/img/../shared.safetensors`); // another command, the same file by another name
    const firstRun = await first.done;
    expect(firstRun.status, firstRun.stderr).to.equal(0);
    for (const r of [second, third]) {
      expect(r.status, r.stdout + r.stderr).to.equal(1);
      expect(r.stderr).to.contain('shared.safetensors: ');
      expect(r.stderr).to.contain(`is being written by another run (process ${first.pid})`);
      expect(r.stderr).to.match(/its lock is .*shared\.safetensors\.lock/);
    }
    expect(second.seconds).to.be.below(10);
    expect(firstRun.stdout).to.contain('stopped after step 2');
    expect(fs.existsSync(lock)).to.equal(false); // released at the end
  });

  it('kill -9 of train leaves no process and a stale lock, which the next run takes over; dead writers\' temporaries are removed', async function () {
    this.timeout(180000);
    const out = path.join(dir, 'killed.safetensors');
    const run = ssdStarted([...train, '--data', data, '--max-steps', '200', '--checkpoint-every', '1', '--out', out]);
    for (let i = 0; i < 600 && !fs.existsSync(out); i++) await sleep(50);
    expect(fs.existsSync(out), run.output()).to.equal(true);
    run.kill('SIGKILL');
    const killed = await run.done;
    expect(killed.status).to.equal(null);
    await sleep(200);
    expect(isRunning(run.pid), `process ${run.pid} still runs`).to.equal(false);
    expect(processesNaming(out), 'a process still names the killed run\'s --out').to.deep.equal([]); // no child of it either
    const lock = `${out}.lock`;
    expect(fs.existsSync(lock)).to.equal(true); // kill -9 gives no chance to remove it
    // the temporaries a killed write leaves: one of a dead process (stale), one of a live one (this test: a write in progress)
    const stale = `${out}.tmp-${deadPid()}-0123456789ab`;
    const live = `${out}.tmp-${process.pid}-ba9876543210`;
    const otherTarget = path.join(dir, `other.safetensors.tmp-${deadPid()}-0123456789ab`);
    for (const f of [stale, live, otherTarget]) fs.writeFileSync(f, 'half a checkpoint');
    const resumed = ssd(...train, '--data', data, '--max-steps', '1', '--resume', out, '--out', out);
    expect(resumed.status, resumed.stderr).to.equal(0);
    expect(resumed.stderr).to.contain(`${lock}: removed a stale lock (process ${run.pid} no longer runs)`);
    expect(fs.existsSync(stale)).to.equal(false);
    expect(fs.existsSync(live)).to.equal(true);
    expect(fs.existsSync(otherTarget)).to.equal(true); // another file's: not this write's to judge
    expect(fs.existsSync(lock)).to.equal(false);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('killed.safetensors.tmp-'))).to.deep.equal([path.basename(live)]);
    for (const f of [live, otherTarget]) fs.rmSync(f);
  });
});
