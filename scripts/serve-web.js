#!/usr/bin/env node
// Serve dist/site/ (built by scripts/build-web.js) on http://127.0.0.1:PORT/ (PORT from the
// environment, default 8300; 0 picks a free port). Prints the address; used by `npm run web`
// and by the browser test. Only files inside dist/site/ are served.
//
// No request may stop the server: a request that cannot be answered gets an error status (400 for
// a path that does not decode, 404 for anything that is not a plain file inside the site, 405 for a
// method other than GET and HEAD, 500 for a file that cannot be read), and everything the handler
// does is inside one try/catch, since a throw there would end the process.
//
// Every answer makes the page cross-origin isolated (Cross-Origin-Opener-Policy: same-origin,
// Cross-Origin-Embedder-Policy: require-corp): only then may the page post the wasm backend's
// shared WebAssembly.Memory to its Web Workers and run the kernels on every core. Static hosting
// of dist/site/ elsewhere needs the same two headers (else the page runs the kernels on one
// thread, and says so). `serve(port, root, { isolated: false })` leaves them out (the browser
// test checks that page too).

const http = require('http');
const fs = require('fs');
const path = require('path');

const defaultRoot = path.join(__dirname, '..', 'dist', 'site');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.safetensors': 'application/octet-stream',
  '.wasm': 'application/wasm',
};

/** The headers that make the page cross-origin isolated (see above). */
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

function answer(res, status, text) {
  if (res.headersSent) {
    res.destroy(); // too late for a status: cut the response short rather than send a wrong one
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * The file a request names, or the status to answer instead. The path is percent-decoded (a
 * malformed escape such as /%ff is a 400, not an exception) and then must lead, links followed, to
 * a plain file inside the site: `..`, encoded `..` and links out of the site are all 404s.
 */
function resolveRequest(root, req) {
  let pathname;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  } catch {
    return { status: 400, text: 'bad request: the path is not a valid URL' };
  }
  if (pathname.includes('\0')) return { status: 400, text: 'bad request: NUL in the path' };
  const file = path.join(root, pathname === '/' ? 'index.html' : pathname);
  if (!file.startsWith(root + path.sep)) return { status: 404, text: 'not found' };
  let real;
  try {
    real = fs.realpathSync(file);
  } catch {
    return { status: 404, text: 'not found' };
  }
  if (!real.startsWith(root + path.sep)) return { status: 404, text: 'not found' }; // a link out of the site
  if (!fs.statSync(real).isFile()) return { status: 404, text: 'not found' };
  return { file: real };
}

function serve(port = Number(process.env.PORT ?? 8300), siteRoot = defaultRoot, { isolated = true } = {}) {
  if (!fs.existsSync(path.join(siteRoot, 'index.html'))) throw new Error(`serve-web: ${siteRoot} is not built; run \`npm run build:web\``);
  const root = fs.realpathSync(siteRoot); // so that the links inside the site compare with it
  const server = http.createServer((req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        answer(res, 405, 'method not allowed');
        return;
      }
      const found = resolveRequest(root, req);
      if (found.file === undefined) {
        answer(res, found.status, found.text);
        return;
      }
      const stream = fs.createReadStream(found.file);
      // a file that cannot be opened or read (permissions, removed meanwhile): an error status, not an unhandled 'error' event
      stream.on('error', (e) => answer(res, e.code === 'EACCES' ? 403 : 500, e.code === 'EACCES' ? 'forbidden' : 'cannot read the file'));
      stream.on('open', () => {
        res.writeHead(200, { 'content-type': TYPES[path.extname(found.file)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...(isolated ? ISOLATION : {}) });
        if (req.method === 'HEAD') {
          stream.destroy();
          res.end();
        } else {
          stream.pipe(res);
        }
      });
      res.on('close', () => stream.destroy()); // the client went away: close the file
    } catch (e) {
      answer(res, 500, 'internal error');
      console.error(`serve-web: ${req.method} ${String(req.url).slice(0, 200)}: ${e.message}`);
    }
  });
  // a connection that breaks or sends bytes that are not HTTP (or headers over Node's 16 kB):
  // answer where the socket still can, and never throw
  server.on('clientError', (err, socket) => {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    if (socket.writable && !socket.destroyed) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    else socket.destroy();
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

module.exports = { serve };

if (require.main === module) {
  serve().then((server) => console.log(`serving dist/site/ on http://127.0.0.1:${server.address().port}/  (Ctrl-C to stop)`));
}
