// The restart with the tuned C allocator (cli/allocator.ts): the new process gets the tunables,
// the exit code comes back, the user's own setting wins, and a signal is passed on exactly once.

import { expect } from 'chai';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TUNED_ALLOCATOR } from '../../cli/allocator';

const ALLOCATOR = path.join(__dirname, '../../cli/allocator.js'); // dist/spec/cli -> dist/cli/allocator.js

/** A program that restarts itself, then in the restarted process runs `body` (JavaScript). */
function writeProgram(dir: string, body: string): string {
  const file = path.join(dir, 'program.js');
  fs.writeFileSync(file, `const { relaunchWithTunedAllocator } = require(${JSON.stringify(ALLOCATOR)});\nif (!relaunchWithTunedAllocator()) {\n${body}\n}\n`);
  return file;
}

interface Run {
  code: number | null;
  stdout: string;
}

function run(file: string, env: NodeJS.ProcessEnv, onStart?: (pid: number, stdout: () => string) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      onStart?.(child.pid!, () => stdout);
    });
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

function envWithout(name: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[name];
  return env;
}

(process.platform === 'linux' ? describe : describe.skip)('cli/allocator: restarting with GLIBC_TUNABLES', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-allocator-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the restarted process has the tunables, and its exit code is this one\'s', async () => {
    const file = writeProgram(dir, 'console.log(process.env.GLIBC_TUNABLES); process.exit(3);');
    const r = await run(file, envWithout('GLIBC_TUNABLES'));
    expect(r.stdout.trim()).to.equal(TUNED_ALLOCATOR);
    expect(r.code).to.equal(3);
  });

  it('does not restart where GLIBC_TUNABLES is already set, even to nothing', async () => {
    const file = writeProgram(dir, 'console.log(JSON.stringify(process.env.GLIBC_TUNABLES));');
    expect((await run(file, { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' })).stdout.trim()).to.equal('"glibc.malloc.hugetlb=0"');
    expect((await run(file, { ...process.env, GLIBC_TUNABLES: '' })).stdout.trim()).to.equal('""');
  });

  it('passes SIGINT on to the restarted process exactly once', async function () {
    this.timeout(20000);
    // the restarted process counts the SIGINTs it gets for half a second after the first
    const file = writeProgram(dir, [
      'let count = 0;',
      "process.on('SIGINT', () => { if (count++ === 0) setTimeout(() => process.exit(40 + count), 500); });",
      "console.log('ready');",
      'setInterval(() => {}, 1000);',
    ].join('\n'));
    let signalled = false;
    const r = await run(file, envWithout('GLIBC_TUNABLES'), (pid, stdout) => {
      if (!signalled && stdout().includes('ready')) {
        signalled = true;
        process.kill(pid, 'SIGINT'); // to the first process, as Ctrl-C at a terminal would
      }
    });
    expect(r.code).to.equal(41);
  });

  it('exits with 128 + the signal number when the restarted process is killed', async () => {
    const file = writeProgram(dir, "process.kill(process.pid, 'SIGKILL');");
    const r = await run(file, envWithout('GLIBC_TUNABLES'));
    expect(r.code).to.equal(128 + os.constants.signals.SIGKILL);
  });
});
