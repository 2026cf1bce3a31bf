// The page server (scripts/serve-web.js) under hostile requests, over HTTP: it runs as a child
// process, as `npm run web` runs it, so a request that kills it shows as a dead process, and after
// every request the page must still be served.

import { expect } from 'chai';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

const SERVER = path.join(__dirname, '../../../scripts/serve-web.js'); // dist/spec/cli -> scripts/

/** Send `request` as raw bytes (so nothing on our side cleans it up) and return the status line. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(10000, () => socket.destroy(new Error(`no answer to ${JSON.stringify(request.slice(0, 60))}`)));
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(answer.split('\r\n', 1)[0]));
    // write, not end: a client that half-closes its side may find the server closing too before the answer
    socket.write(request);
  });
}

function get(port: number, target: string, method = 'GET'): Promise<string> {
  return rawRequest(port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
}

describe('scripts/serve-web.js under hostile requests', () => {
  let dir = '';
  let site = '';
  let server: ChildProcess | null = null;
  let port = 0;
  let stderr = '';

  before(async function () {
    this.timeout(30000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-serve-'));
    site = path.join(dir, 'site');
    fs.mkdirSync(path.join(site, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(site, 'index.html'), '<p>the page</p>');
    fs.writeFileSync(path.join(site, 'sub', 'a b.json'), '{}');
    fs.writeFileSync(path.join(dir, 'secret.txt'), 'outside the site');
    fs.symlinkSync(path.join(dir, 'secret.txt'), path.join(site, 'link-out.txt')); // a link that leads out of the site
    fs.writeFileSync(path.join(site, 'unreadable.js'), 'x');
    fs.chmodSync(path.join(site, 'unreadable.js'), 0);
    const code = `require(${JSON.stringify(SERVER)}).serve(0, ${JSON.stringify(site)}).then((s) => console.log('port ' + s.address().port))`;
    server = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      server!.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /port (\d+)/.exec(out);
        if (m !== null) resolve(Number(m[1]));
      });
      server!.on('exit', (code) => reject(new Error(`the server exited (${code}) before it listened: ${stderr}`)));
    });
  });

  after(() => {
    if (server !== null && server.exitCode === null) server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers every malformed or hostile request with an error status, and keeps serving the page', async function () {
    this.timeout(60000);
    const cases: Array<[string, RegExp, string?]> = [
      ['/%ff', /^HTTP\/1\.1 400/], // not UTF-8 once decoded: decodeURIComponent threw and killed the server
      ['/%', /^HTTP\/1\.1 400/],
      ['/%zz', /^HTTP\/1\.1 400/],
      ['/%e2%82', /^HTTP\/1\.1 400/], // a UTF-8 sequence cut short
      ['/%c0%af', /^HTTP\/1\.1 400/], // an overlong encoding of '/'
      ['/index.html%00.png', /^HTTP\/1\.1 (400|404)/], // a NUL byte
      ['/%2e%2e/secret.txt', /^HTTP\/1\.1 404/],
      ['/..%2fsecret.txt', /^HTTP\/1\.1 404/],
      ['/sub/%2e%2e/%2e%2e/secret.txt', /^HTTP\/1\.1 404/],
      ['/link-out.txt', /^HTTP\/1\.1 404/], // inside the site by name, outside by the link
      ['/sub', /^HTTP\/1\.1 404/], // a directory
      ['http://[::1/', /^HTTP\/1\.1 400/], // an absolute URL that does not parse
      ['*', /^HTTP\/1\.1 (400|404)/],
      ['/index.html', /^HTTP\/1\.1 405/, 'DELETE'],
      ['/index.html', /^HTTP\/1\.1 200/, 'HEAD'],
      ['/' + 'a'.repeat(20000), /^HTTP\/1\.1 (404|414|431)/],
      ['/sub/a%20b.json', /^HTTP\/1\.1 200/], // an escape that is fine
      ['/index.html?%ff', /^HTTP\/1\.1 200/], // the query is not a path
    ];
    // (root reads every file whatever its mode: the unreadable file is a case only for other users)
    if (process.getuid?.() !== 0) cases.push(['/unreadable.js', /^HTTP\/1\.1 403/]);
    for (const [target, status, method] of cases) {
      const line = await get(port, target, method);
      expect(line, `${method ?? 'GET'} ${target.slice(0, 40)}`).to.match(status);
      expect(server!.exitCode, `the server died on ${target.slice(0, 40)}: ${stderr}`).to.equal(null);
      expect(await get(port, '/'), `after ${target.slice(0, 40)}`).to.match(/^HTTP\/1\.1 200/);
    }
    // bytes that are not HTTP at all, and a connection dropped in the middle of a request
    expect(await rawRequest(port, 'GARBAGE\r\n\r\n')).to.match(/^HTTP\/1\.1 400/);
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write('GET /index.html HTTP/1.1\r\nHost: x\r\n');
        socket.destroy();
        resolve();
      });
    });
    expect(await get(port, '/')).to.match(/^HTTP\/1\.1 200/);
    expect(server!.exitCode).to.equal(null);
    expect(await get(port, '/link-out.txt')).to.not.contain('200');
  });
});
