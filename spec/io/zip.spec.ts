import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ZipEntry, crc32, writeZip } from '../../io/zip';

// Python's zipfile reads the archives back (the system's, which has it): it checks the headers,
// the central directory and every CRC-32 (-t), and extracts (-e); Info-ZIP's unzip too, where it
// is installed.
const PYTHON = '/usr/bin/python3';

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function filesUnder(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? filesUnder(path.join(dir, d.name), `${prefix}${d.name}/`) : [`${prefix}${d.name}`]);
}

describe('io/zip', () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-zip-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('crc32 gives the standard check value and that of an empty input', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).to.equal(0xcbf43926);
    expect(crc32(new Uint8Array(0))).to.equal(0);
  });

  it('writes an archive that Python\'s zipfile (and unzip) read back byte for byte: nested folders, an empty file, binary data, a UTF-8 name', () => {
    const binary = new Uint8Array(100_000);
    let seed = 7;
    for (let i = 0; i < binary.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      binary[i] = seed >>> 24;
    }
    const entries: ZipEntry[] = [
      { name: 'ImageSets/Main/trainval.txt', data: new TextEncoder().encode('000001\n000002\n') },
      { name: 'JPEGImages/000001.png', data: binary },
      { name: 'Annotations/000001.xml', data: new TextEncoder().encode('<annotation></annotation>\n') },
      { name: 'empty.txt', data: new Uint8Array(0) },
      { name: 'Ünïcode/ß.txt', data: new TextEncoder().encode('straße') },
    ];
    const zipPath = path.join(dir, 'set.zip');
    fs.writeFileSync(zipPath, writeZip(entries, new Date(2024, 4, 17, 13, 45, 30)));

    expect(run(PYTHON, ['-m', 'zipfile', '-t', zipPath])).to.contain('Done testing'); // every CRC
    const listing = JSON.parse(run(PYTHON, ['-c', [
      'import json, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'print(json.dumps([[i.filename, i.compress_type, i.file_size, i.CRC, list(i.date_time)] for i in z.infolist()]))',
    ].join('\n'), zipPath])) as [string, number, number, number, number[]][];
    expect(listing.map((l) => l[0])).to.deep.equal(entries.map((e) => e.name));
    listing.forEach(([, method, size, crc, when], i) => {
      expect(method, 'stored').to.equal(0);
      expect(size).to.equal(entries[i].data.length);
      expect(crc).to.equal(crc32(entries[i].data));
      expect(when).to.deep.equal([2024, 5, 17, 13, 45, 30]);
    });

    const out = path.join(dir, 'python');
    run(PYTHON, ['-m', 'zipfile', '-e', zipPath, out]);
    expect(filesUnder(out).sort()).to.deep.equal(entries.map((e) => e.name).sort());
    for (const e of entries) expect(Buffer.compare(fs.readFileSync(path.join(out, e.name)), Buffer.from(e.data)), e.name).to.equal(0);

    if (spawnSync('unzip', ['-v']).status === 0) {
      const byUnzip = path.join(dir, 'unzip');
      run('unzip', ['-q', zipPath, '-d', byUnzip]);
      for (const e of entries) expect(Buffer.compare(fs.readFileSync(path.join(byUnzip, e.name)), Buffer.from(e.data)), e.name).to.equal(0);
    }
  });

  it('refuses names that would lead outside the archive\'s folder, and a name twice', () => {
    const data = new Uint8Array(1);
    for (const name of ['', '/abs.txt', '../up.txt', 'a/../b.txt', 'a//b.txt', 'a\\b.txt', 'dir/', 'a\nb']) {
      expect(() => writeZip([{ name, data }]), JSON.stringify(name)).to.throw('is not a relative file path');
    }
    expect(() => writeZip([{ name: 'a.txt', data }, { name: 'a.txt', data }])).to.throw('"a.txt" is named twice');
  });

  it('an empty archive is one end record that zipfile reads', () => {
    const zipPath = path.join(dir, 'empty.zip');
    const bytes = writeZip([]);
    expect(bytes.length).to.equal(22);
    fs.writeFileSync(zipPath, bytes);
    expect(run(PYTHON, ['-c', 'import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))', zipPath]).trim()).to.equal('0');
  });
});
