// A zip archive writer, store-only (no compression): what the page needs to hand a labelled data
// set over as one download (web/label_panel.ts), and `unzip`, Python's zipfile and every file
// manager read. PNG and JPEG files are compressed already, so deflate would gain little.
//
// The layout (APPNOTE.TXT, PKWARE): for each file a local header and its bytes, then the central
// directory (one entry per file, pointing at its local header), then the end-of-central-directory
// record. No Zip64: at most 65,535 files and 4 GiB in all, else an error. File names are UTF-8
// (general purpose flag bit 11). No Node-only module here: it runs in the page as it does in Node.

export interface ZipEntry {
  /** The path inside the archive, '/'-separated (e.g. "Annotations/000001.xml"). */
  name: string;
  data: Uint8Array;
}

/** The largest size or offset a zip without Zip64 holds. */
const MAX_32 = 0xffffffff;
const MAX_ENTRIES = 0xffff;

let crcTable: Uint32Array | null = null;

/** CRC-32 (the zip and PNG one: polynomial 0xEDB88320, reflected, initial and final xor 0xFFFFFFFF). */
export function crc32(data: Uint8Array): number {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const table = crcTable;
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** MS-DOS time and date (local time, 2-second resolution, years 1980-2107) as zip stores them. */
function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.min(Math.max(date.getFullYear(), 1980), 2107);
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | (date.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/** A name the archive may hold: relative, '/'-separated, no '..' or empty part, no control character. */
function checkName(name: string): void {
  const parts = name.split('/');
  if (name === '' || name.startsWith('/') || /[\u0000-\u001f\\]/.test(name) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`zip: ${JSON.stringify(name)} is not a relative file path ('/'-separated, no empty, '.' or '..' parts, no '\\' or control characters)`);
  }
}

/**
 * The bytes of a zip archive holding `entries`, stored (method 0), in this order. `modified` is
 * every file's time (default: now). Errors: a bad or repeated name, more than 65,535 files, or
 * more than 4 GiB.
 */
export function writeZip(entries: readonly ZipEntry[], modified: Date = new Date()): Uint8Array {
  if (entries.length > MAX_ENTRIES) throw new Error(`zip: ${entries.length} files, more than the ${MAX_ENTRIES} a zip without Zip64 holds`);
  const seen = new Set<string>();
  const encoder = new TextEncoder();
  const { time, date } = dosDateTime(modified);
  const names = entries.map((e) => {
    checkName(e.name);
    if (seen.has(e.name)) throw new Error(`zip: ${JSON.stringify(e.name)} is named twice`);
    seen.add(e.name);
    return encoder.encode(e.name);
  });
  const localSize = entries.reduce((sum, e, i) => sum + 30 + names[i].length + e.data.length, 0);
  const centralSize = names.reduce((sum, n) => sum + 46 + n.length, 0);
  const total = localSize + centralSize + 22;
  if (localSize > MAX_32 || centralSize > MAX_32 || total > MAX_32) throw new Error(`zip: ${total} bytes, more than the 4 GiB a zip without Zip64 holds`);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  const u16 = (v: number): void => {
    view.setUint16(at, v, true);
    at += 2;
  };
  const u32 = (v: number): void => {
    view.setUint32(at, v >>> 0, true);
    at += 4;
  };
  const UTF8 = 0x0800; // general purpose bit 11: the name is UTF-8
  const VERSION = 20; // 2.0: what a stored file needs

  const offsets: number[] = [];
  const crcs = entries.map((e) => crc32(e.data));
  entries.forEach((e, i) => {
    offsets.push(at);
    u32(0x04034b50); // local file header
    u16(VERSION);
    u16(UTF8);
    u16(0); // stored
    u16(time);
    u16(date);
    u32(crcs[i]);
    u32(e.data.length); // compressed size
    u32(e.data.length); // uncompressed size
    u16(names[i].length);
    u16(0); // extra field length
    out.set(names[i], at);
    at += names[i].length;
    out.set(e.data, at);
    at += e.data.length;
  });
  const centralStart = at;
  entries.forEach((e, i) => {
    u32(0x02014b50); // central directory header
    u16((3 << 8) | VERSION); // made by: Unix (Info-ZIP's unzip takes the names of a 'FAT' archive for code page 437, UTF-8 flag or not)
    u16(VERSION); // needed to extract
    u16(UTF8);
    u16(0);
    u16(time);
    u16(date);
    u32(crcs[i]);
    u32(e.data.length);
    u32(e.data.length);
    u16(names[i].length);
    u16(0); // extra
    u16(0); // comment
    u16(0); // disk number start
    u16(0); // internal attributes
    u32((0o100644 << 16) >>> 0); // external attributes: a regular file, rw-r--r--
    u32(offsets[i]);
    out.set(names[i], at);
    at += names[i].length;
  });
  u32(0x06054b50); // end of central directory
  u16(0); // this disk
  u16(0); // the disk with the central directory
  u16(entries.length);
  u16(entries.length);
  u32(at - 12 - centralStart); // the central directory's size (at has moved 12 bytes into this record)
  u32(centralStart);
  u16(0); // comment length
  if (at !== total) throw new Error(`zip: wrote ${at} bytes, planned ${total}`); // a bug here, not in the input
  return out;
}
