#!/usr/bin/env node
// Serve dist/site/ (built by scripts/build-web.js) on http://127.0.0.1:PORT/ (PORT from the
// environment, default 8300; 0 picks a free port). Prints the address; used by `npm run web`
// and by the browser test. Only files inside dist/site/ are served.

const http = require('http');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', 'dist', 'site');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.safetensors': 'application/octet-stream',
};

function serve(port = Number(process.env.PORT ?? 8300)) {
  if (!fs.existsSync(path.join(root, 'index.html'))) throw new Error('serve-web: dist/site/ is not built; run `npm run build:web`');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const file = path.join(root, decodeURIComponent(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

module.exports = { serve };

if (require.main === module) {
  serve().then((server) => console.log(`serving dist/site/ on http://127.0.0.1:${server.address().port}/  (Ctrl-C to stop)`));
}
