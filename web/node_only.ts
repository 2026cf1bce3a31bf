// Stand-in, in the browser bundle only, for the modules that need Node: io/files.ts (fs) and
// pngjs (Node streams). The page never calls them (it reads weights and images from bytes); if
// something does, it says so instead of failing somewhere deep inside a polyfill.
// See scripts/build-web.js.

function nodeOnly(what: string): never {
  throw new Error(`${what} needs Node (files); in the browser, pass the bytes instead`);
}

export function readFileNamed(filePath: string): never {
  return nodeOnly(`reading ${filePath}`);
}

export function writeFileAtomic(filePath: string): never {
  return nodeOnly(`writing ${filePath}`);
}

/** pngjs's PNG class: encoding and decoding PNG files is done by the browser on the page. */
export const PNG = {
  sync: {
    read: (): never => nodeOnly('pngjs (PNG decoding)'),
    write: (): never => nodeOnly('pngjs (PNG encoding)'),
  },
};

export function readFilePrefix(filePath: string): never {
  return nodeOnly(`reading ${filePath}`);
}
