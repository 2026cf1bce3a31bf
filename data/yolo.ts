// The Ultralytics YOLO data set layout, read and written:
//
//   data.yaml                  where the splits are and the class names:
//                                path: .              (the root, relative to this file's folder)
//                                train: images/train  (a folder of images, or a .txt list of them)
//                                val: images/val
//                                names: [cat, dog]    (or "- cat" lines, or "0: cat" lines)
//   images/<split>/<name>.jpg  the images
//   labels/<split>/<name>.txt  their objects, one a line: class cx cy w h
//
// A label line gives the class (0-based: our label is class + 1, 0 being the background) and the
// box's centre and size as fractions of the image, so in the boundary fractions used here
//
//   x1 = cx - w / 2,  y1 = cy - h / 2,  x2 = cx + w / 2,  y2 = cy + h / 2.
//
// The label file of an image is found by its path alone: the last /images/ folder of the path
// becomes /labels/ and the extension .txt. A missing or empty label file is an image of
// background only, which YOLO's users add on purpose (about a tenth of a set, they are told).
//
// data.yaml is YAML, a large language; this file reads the part of it that data.yaml files use
// (mappings, lists in both forms, quoted and plain strings, comments) and refuses the rest
// (anchors, tags, values over several lines) naming the line, rather than guess what it meant.

import * as fs from 'fs';
import * as path from 'path';
import { LabeledImage, ObjectAnnotation, Sample, validateObjects } from './annotations';
import { DecodeOptions, encodeJpeg, encodePng, readImageHeader } from './image_files';
import { DECIMAL, MAX_ANNOTATION_BYTES, MAX_IMAGE_LIST_BYTES, checkClassName } from './voc';
import { readFileNamed, writeFileAtomic } from '../io/files';

/** The largest data.yaml read: 4 MiB (COCO's is 3 kB; LVIS's 1,203 names take 40 kB). */
export const MAX_YAML_BYTES = 4 * 2 ** 20;

/** The image file extensions Ultralytics lists (its IMG_FORMATS); only PNG and JPEG can be decoded here, the rest is refused when read. */
const IMAGE_EXTENSIONS = new Set(['.bmp', '.dng', '.jpeg', '.jpg', '.mpo', '.png', '.tif', '.tiff', '.webp', '.pfm', '.heic']);

// ---------------------------------------------------------------------------------------------
// The YAML subset
// ---------------------------------------------------------------------------------------------

/** A YAML value with the (1-based) line it starts on. A scalar is a string, or null (empty, ~, null). */
export type YamlNode =
  | { kind: 'scalar'; value: string | null; line: number }
  | { kind: 'list'; items: YamlNode[]; line: number }
  | { kind: 'map'; entries: YamlEntry[]; line: number };

export interface YamlEntry {
  key: string;
  line: number;
  value: YamlNode;
}

const NULLS = new Set(['', '~', 'null', 'Null', 'NULL']);
/** Characters that start YAML constructs this reader does not take: anchors, aliases, tags, directives, reserved. */
const UNSUPPORTED_START: Record<string, string> = {
  '&': 'an anchor (&)', '*': 'an alias (*)', '!': 'a tag (!)', '%': 'a directive (%)', '@': 'a reserved character (@)', '`': 'a reserved character (`)', '?': 'a complex key (?)',
};

/**
 * Parse the YAML subset data.yaml files are written in; errors name `source` and the line.
 *
 * Taken: one document (an optional leading '---'), block mappings and block lists nested by
 * indentation (spaces), a list at its key's indentation ("names:\n- a"), flow lists and mappings
 * ("[a, 'b c']", "{0: a}") over one or several lines, plain, 'single-quoted' and "double-quoted"
 * strings, '#' comments, and the block scalars '|' and '>' (text over several lines, kept whole).
 *
 * Refused: tabs in indentation, anchors, aliases, tags, directives, complex keys, a mapping inside
 * a list item ("- a: 1"), plain or quoted strings over several lines, duplicate keys, a second
 * document. Every value stays a string: "1", "yes" and "3.0" are not turned into numbers or
 * booleans here; the reader of each key decides.
 */
export function parseYaml(text: string, source: string): YamlNode {
  return new YamlParser(text, source).document();
}

class YamlParser {
  private readonly lines: string[];
  /** The next line to read. */
  private i = 0;

  constructor(text: string, private readonly source: string) {
    this.lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  }

  private error(line: number, message: string): Error {
    return new Error(`${this.source}: line ${line + 1}: ${message}`);
  }

  /** A line with nothing but spaces and maybe a comment. */
  private blank(k: number): boolean {
    return /^[ \t]*(#.*)?$/.test(this.lines[k]);
  }

  /** The first line at or after i that holds something; lines.length when none. */
  private nextContent(): number {
    let k = this.i;
    while (k < this.lines.length && this.blank(k)) k++;
    return k;
  }

  private indentOf(k: number): number {
    const line = this.lines[k];
    const n = line.length - line.trimStart().length;
    if (line.slice(0, n).includes('\t')) throw this.error(k, 'a tab in the indentation (YAML indents with spaces only)');
    return n;
  }

  /** Whether the rest of line k from column c is empty or a comment. */
  private restBlank(k: number, c: number): boolean {
    return /^[ \t]*(#.*)?$/.test(this.lines[k].slice(c));
  }

  private isListLine(k: number, indent: number): boolean {
    return /^-([ \t]|$)/.test(this.lines[k].slice(indent));
  }

  document(): YamlNode {
    let k = this.nextContent();
    if (k < this.lines.length && /^---[ \t]*(#.*)?$/.test(this.lines[k])) {
      this.i = k + 1;
      k = this.nextContent();
    }
    if (k >= this.lines.length) throw new Error(`${this.source}: the file holds no YAML (empty, or only comments)`);
    const node = this.block(k, this.indentOf(k));
    const after = this.nextContent();
    if (after < this.lines.length) {
      const line = this.lines[after].trim();
      if (line === '---' || line === '...') throw this.error(after, `a second YAML document ('${line}'): only one is read`);
      throw this.error(after, `unexpected indentation: ${JSON.stringify(line.slice(0, 60))} does not line up with the keys above`);
    }
    return node;
  }

  /** The block value whose first line is k, indented by `indent`. */
  private block(k: number, indent: number): YamlNode {
    if (this.isListLine(k, indent)) return this.list(indent);
    const c = this.lines[k][indent];
    if (c === '[' || c === '{' || this.keyColon(k, indent) === null) return this.inline(k, indent); // a value alone on its line(s)
    return this.map(indent);
  }

  private map(indent: number): YamlNode {
    const entries: YamlEntry[] = [];
    const line = this.nextContent();
    while (true) {
      const k = this.nextContent();
      if (k >= this.lines.length) break;
      const ind = this.indentOf(k);
      if (ind < indent) break;
      if (ind > indent) throw this.error(k, 'unexpected indentation (a value over several lines, or a key indented more than the ones before it?)');
      if (this.isListLine(k, indent)) {
        if (entries.length === 0) throw this.error(k, 'a list item where a key was expected');
        break; // a list at its key's indentation ended the previous value; what follows is the parent's
      }
      const { key, col } = this.key(k, indent);
      if (entries.some((e) => e.key === key)) throw this.error(k, `the key "${key}" again (it is already set on line ${entries.find((e) => e.key === key)?.line})`);
      this.i = k + 1;
      entries.push({ key, line: k + 1, value: this.valueAfterKey(k, col, indent) });
    }
    return { kind: 'map', entries, line: line + 1 };
  }

  private list(indent: number): YamlNode {
    const items: YamlNode[] = [];
    const line = this.nextContent();
    while (true) {
      const k = this.nextContent();
      if (k >= this.lines.length) break;
      const ind = this.indentOf(k);
      if (ind < indent || (ind === indent && !this.isListLine(k, indent))) break;
      if (ind > indent) throw this.error(k, 'unexpected indentation in a list');
      const text = this.lines[k];
      let col = indent + 1;
      while (text[col] === ' ') col++;
      this.i = k + 1;
      if (this.restBlank(k, col)) {
        const next = this.nextContent();
        items.push(next < this.lines.length && this.indentOf(next) > indent ? this.block(next, this.indentOf(next)) : { kind: 'scalar', value: null, line: k + 1 });
        continue;
      }
      if (/^-([ \t]|$)/.test(text.slice(col))) throw this.error(k, 'a list inside a list item on one line ("- - a") is not supported');
      if (this.keyColon(k, col) !== null && !'[{"\''.includes(text[col])) throw this.error(k, 'a mapping inside a list item ("- key: value") is not supported');
      items.push(this.inline(k, col));
    }
    return { kind: 'list', items, line: line + 1 };
  }

  /** The value after "key:" on line k (from column col), which may go on below. */
  private valueAfterKey(k: number, col: number, indent: number): YamlNode {
    if (this.restBlank(k, col)) {
      const next = this.nextContent();
      if (next < this.lines.length) {
        const ind = this.indentOf(next);
        if (ind > indent) return this.block(next, ind);
        if (ind === indent && this.isListLine(next, indent)) return this.list(indent);
      }
      return { kind: 'scalar', value: null, line: k + 1 };
    }
    let c = col;
    while (this.lines[k][c] === ' ' || this.lines[k][c] === '\t') c++;
    const ch = this.lines[k][c];
    if (ch === '|' || ch === '>') return this.blockScalar(k, c, indent);
    return this.inline(k, c);
  }

  /**
   * A '|' (literal) or '>' (folded) block scalar: the lines below indented more than `indent`.
   * Kept as text (data.yaml has them for `download:` scripts, which are not run here).
   */
  private blockScalar(k: number, c: number, indent: number): YamlNode {
    if (!/^[|>][+-]?[1-9]?[+-]?[ \t]*(#.*)?$/.test(this.lines[k].slice(c))) throw this.error(k, `a block scalar header ${JSON.stringify(this.lines[k].slice(c, c + 20))} that is not understood`);
    const folded = this.lines[k][c] === '>';
    const body: string[] = [];
    let j = k + 1;
    while (j < this.lines.length && (this.lines[j].trim() === '' || this.indentOf(j) > indent)) body.push(this.lines[j++]);
    while (body.length > 0 && body[body.length - 1].trim() === '') body.pop();
    this.i = k + 1 + body.length;
    const cut = Math.min(...body.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
    const lines = body.map((l) => l.slice(Number.isFinite(cut) ? cut : 0));
    return { kind: 'scalar', value: folded ? lines.join(' ') : lines.join('\n'), line: k + 1 };
  }

  /** Where the ':' of "key: value" on line k is (from column c), or null if none: a ':' followed by a space or the end of the line, outside quotes and before a comment. */
  private keyColon(k: number, c: number): number | null {
    const text = this.lines[k];
    let p = c;
    if (text[p] === '"' || text[p] === '\'') p = this.quoted(k, p).end;
    for (; p < text.length; p++) {
      if (text[p] === '#' && (p === c || /[ \t]/.test(text[p - 1]))) return null;
      if (text[p] === ':' && (p + 1 === text.length || /[ \t]/.test(text[p + 1]))) return p;
    }
    return null;
  }

  /** The key of the mapping line k (at column c) and the column after its ':'. */
  private key(k: number, c: number): { key: string; col: number } {
    const text = this.lines[k];
    if (/^(---|\.\.\.)[ \t]*(#.*)?$/.test(text)) throw this.error(k, `a second YAML document ('${text.trim()}'): only one is read`);
    const colon = this.keyColon(k, c);
    if (colon === null) throw this.error(k, `expected "key: value", got ${JSON.stringify(text.trim().slice(0, 60))}`);
    let key: string;
    if (text[c] === '"' || text[c] === '\'') {
      const q = this.quoted(k, c);
      if (text.slice(q.end, colon).trim() !== '') throw this.error(k, 'text between a quoted key and its \':\'');
      key = q.value;
    } else {
      key = text.slice(c, colon).trim();
      const why = UNSUPPORTED_START[key[0]] ?? ('[]{},|>'.includes(key[0]) ? `a '${key[0]}'` : undefined);
      if (why !== undefined) throw this.error(k, `a key that starts with ${why} is not supported`);
    }
    return { key, col: colon + 1 };
  }

  /** A quoted string starting at line k, column c; its value and the column after its closing quote. */
  private quoted(k: number, c: number): { value: string; end: number } {
    return readQuoted(this.lines[k], c, (message) => this.error(k, message));
  }

  /** A value on one line from column c: a flow list or mapping (which may go on below), a quoted or a plain string. Sets i past it. */
  private inline(k: number, c: number): YamlNode {
    const text = this.lines[k];
    const ch = text[c];
    if (ch === '[' || ch === '{') {
      const flow = new FlowReader(this.lines, k, c, (line, message) => this.error(line, message));
      const node = flow.value();
      const end = flow.position();
      if (!this.restBlank(end.line, end.col)) throw this.error(end.line, `unexpected ${JSON.stringify(this.lines[end.line].slice(end.col).trim().slice(0, 30))} after the closing bracket`);
      this.i = end.line + 1;
      return node;
    }
    this.i = k + 1;
    if (ch === '"' || ch === '\'') {
      const q = this.quoted(k, c);
      if (!this.restBlank(k, q.end)) throw this.error(k, `unexpected ${JSON.stringify(text.slice(q.end).trim().slice(0, 30))} after a quoted string`);
      return { kind: 'scalar', value: q.value, line: k + 1 };
    }
    const why = UNSUPPORTED_START[ch];
    if (why !== undefined) throw this.error(k, `${why} is not supported`);
    if (ch === ']' || ch === '}' || ch === ',') throw this.error(k, `unexpected '${ch}'`);
    if (/^-([ \t]|$)/.test(text.slice(c))) throw this.error(k, 'a list item after a key on its line ("key: - a"): put the items on lines of their own');
    const comment = text.slice(c).search(/[ \t]#/);
    const value = (comment < 0 ? text.slice(c) : text.slice(c, c + comment)).trim();
    if (/:([ \t]|$)/.test(value)) throw this.error(k, `a ': ' inside a value (${JSON.stringify(value.slice(0, 40))}): quote it, or put the nested mapping on lines of its own`);
    const next = this.nextContent();
    if (next < this.lines.length && this.indentOf(next) > this.indentOf(k)) {
      throw this.error(next, 'unexpected indentation (a plain string over several lines is not supported: quote it on one line)');
    }
    return { kind: 'scalar', value: NULLS.has(value) ? null : value, line: k + 1 };
  }
}

/**
 * A quoted string of `text` starting at column c (at its quote): its value and the column after
 * its closing quote. Single quotes: '' is a quote. Double quotes: the escapes of JSON and YAML
 * (\\ \" \/ \n \t \r \b \f \0, \xXX, \uXXXX, \UXXXXXXXX); any other is an error (`fail`).
 */
function readQuoted(text: string, c: number, fail: (message: string) => Error): { value: string; end: number } {
  const q = text[c];
  let value = '';
  let p = c + 1;
  while (p < text.length) {
    const ch = text[p];
    if (q === '\'') {
      if (ch !== '\'') {
        value += ch;
        p++;
      } else if (text[p + 1] === '\'') {
        value += '\'';
        p += 2;
      } else {
        return { value, end: p + 1 };
      }
      continue;
    }
    if (ch === '"') return { value, end: p + 1 };
    if (ch !== '\\') {
      value += ch;
      p++;
      continue;
    }
    const e = text[p + 1];
    const simple: Record<string, string> = { '\\': '\\', '"': '"', '/': '/', n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '0': '\0', ' ': ' ' };
    if (e !== undefined && simple[e] !== undefined) {
      value += simple[e];
      p += 2;
      continue;
    }
    const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
    const digits = text.slice(p + 2, p + 2 + hex);
    if (hex === 0 || !new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) {
      throw fail(`an escape ${JSON.stringify(text.slice(p, p + 2 + hex))} in a double-quoted string that is not understood`);
    }
    const code = parseInt(digits, 16);
    if (code > 0x10ffff) throw fail(`the escape \\${e}${digits} is not a character`);
    value += String.fromCodePoint(code);
    p += 2 + hex;
  }
  throw fail(`a ${q === '"' ? 'double' : 'single'}-quoted string that does not end on its line (strings over several lines are not supported)`);
}

/** Reads a flow value ("[a, b]", "{0: a}", nested) that may span lines, from line k, column c. */
class FlowReader {
  private line: number;
  private col: number;

  constructor(private readonly lines: readonly string[], line: number, col: number, private readonly error: (line: number, message: string) => Error) {
    this.line = line;
    this.col = col;
  }

  position(): { line: number; col: number } {
    return { line: this.line, col: this.col };
  }

  private peek(): string | undefined {
    return this.lines[this.line]?.[this.col];
  }

  /** Skip spaces, line ends and comments, to the next character that means something. */
  private skip(): void {
    while (this.line < this.lines.length) {
      const text = this.lines[this.line];
      while (this.col < text.length && (text[this.col] === ' ' || text[this.col] === '\t')) this.col++;
      if (this.col < text.length && !(text[this.col] === '#' && (this.col === 0 || /[ \t]/.test(text[this.col - 1])))) return;
      this.line++;
      this.col = 0;
    }
  }

  value(): YamlNode {
    this.skip();
    const start = this.line;
    const ch = this.peek();
    if (ch === undefined) throw this.error(this.lines.length - 1, 'the file ends inside a [ ] or { } value');
    if (ch === '[') return this.collection(']', start);
    if (ch === '{') return this.collection('}', start);
    return { kind: 'scalar', value: this.scalar(), line: start + 1 };
  }

  private collection(close: ']' | '}', start: number): YamlNode {
    this.col++; // the opening bracket
    const items: YamlNode[] = [];
    const entries: YamlEntry[] = [];
    while (true) {
      this.skip();
      if (this.peek() === undefined) throw this.error(start, `a '${close === ']' ? '[' : '{'}' that is never closed`);
      if (this.peek() === close) {
        this.col++;
        break;
      }
      if (close === ']') {
        items.push(this.value());
      } else {
        const keyLine = this.line;
        const key = this.scalar();
        if (key === null) throw this.error(keyLine, 'an empty key in a { } mapping');
        this.skip();
        if (this.peek() !== ':') throw this.error(this.line, `expected ':' after the key "${key}" in a { } mapping`);
        this.col++;
        if (entries.some((e) => e.key === key)) throw this.error(keyLine, `the key "${key}" twice in one mapping`);
        entries.push({ key, line: keyLine + 1, value: this.value() });
      }
      this.skip();
      const sep = this.peek();
      if (sep === ',') {
        this.col++;
        continue;
      }
      if (sep !== close) {
        const got = sep === undefined ? 'the end of the file' : `'${sep}'`;
        throw this.error(this.line, `expected ',' or '${close}', got ${got} (in the '${close === ']' ? '[' : '{'}' of line ${start + 1})`);
      }
    }
    return close === ']' ? { kind: 'list', items, line: start + 1 } : { kind: 'map', entries, line: start + 1 };
  }

  /** A quoted or plain string inside a flow value; null for an empty plain one, ~ or null. */
  private scalar(): string | null {
    const text = this.lines[this.line];
    const ch = text[this.col];
    if (ch === '"' || ch === '\'') {
      const q = readQuoted(text, this.col, (message) => this.error(this.line, message));
      this.col = q.end;
      return q.value;
    }
    const why = UNSUPPORTED_START[ch];
    if (why !== undefined) throw this.error(this.line, `${why} is not supported`);
    let end = this.col;
    while (end < text.length) {
      const c = text[end];
      if (c === ',' || c === ']' || c === '}' || c === '[' || c === '{') break;
      if (c === ':' && (end + 1 === text.length || /[ \t,\]}]/.test(text[end + 1]))) break;
      if (c === '#' && /[ \t]/.test(text[end - 1])) break;
      end++;
    }
    const value = text.slice(this.col, end).trim();
    if (text[end] === '[' || text[end] === '{') throw this.error(this.line, `unexpected '${text[end]}' inside a value`);
    this.col = end;
    return NULLS.has(value) ? null : value;
  }
}

// ---------------------------------------------------------------------------------------------
// data.yaml
// ---------------------------------------------------------------------------------------------

/** What a data.yaml says, checked. */
export interface YoloConfig {
  yamlPath: string;
  /** The folder image paths are relative to: `path`, relative to the yaml's folder; default that folder. */
  root: string;
  /** The class names, YOLO's class 0 first (no background). */
  names: string[];
  /** The splits the file names (keys other than path, names, nc, download) with their folders or lists, as written, and the line. */
  splits: Map<string, { entries: string[]; line: number }>;
}

/** Keys of data.yaml that are not splits. */
const NOT_SPLITS = new Set(['path', 'names', 'nc', 'download', 'yaml_file', 'channels']);

/** The data.yaml that `--data` names: the file itself (.yaml, .yml), or data.yaml in the folder given. */
export function yoloYamlPath(dataPath: string): string {
  return fs.statSync(dataPath, { throwIfNoEntry: false })?.isDirectory() === true ? path.join(dataPath, 'data.yaml') : dataPath;
}

/** Read and check a data.yaml (or the data.yaml of a folder); errors name the file and the line. */
export function readYoloConfig(dataPath: string): YoloConfig {
  const yamlPath = yoloYamlPath(dataPath);
  const doc = parseYaml(readFileNamed(yamlPath, 'YOLO data.yaml', MAX_YAML_BYTES).toString('utf8'), yamlPath);
  if (doc.kind !== 'map') throw new Error(`${yamlPath}: line ${doc.line}: expected keys (path, train, val, names), got a ${doc.kind}`);
  const at = (line: number): string => `${yamlPath}: line ${line}`;
  const get = (key: string): YamlEntry | undefined => doc.entries.find((e) => e.key === key);
  const text = (entry: YamlEntry, what: string): string => {
    const v = entry.value;
    if (v.kind !== 'scalar' || v.value === null) throw new Error(`${at(v.line)}: ${entry.key}: expected ${what}, got ${v.kind === 'scalar' ? 'nothing' : `a ${v.kind}`}`);
    return v.value;
  };

  // names: a list, or a mapping of 0..n-1
  const namesEntry = get('names');
  if (namesEntry === undefined) throw new Error(`${yamlPath}: no "names" (the class names, e.g. names: [cat, dog])`);
  const namesNode = namesEntry.value;
  const names: string[] = [];
  const nameLine: number[] = [];
  const addName = (node: YamlNode, index: number): void => {
    if (node.kind !== 'scalar' || node.value === null) throw new Error(`${at(node.line)}: names: class ${index}: expected a name, got ${node.kind === 'scalar' ? 'nothing' : `a ${node.kind}`}`);
    checkClassName(node.value, `${at(node.line)}: names: class ${index}`);
    if (node.value === 'background') throw new Error(`${at(node.line)}: names: class ${index}: 'background' is reserved for our class 0 and cannot name a class`);
    const same = names.indexOf(node.value);
    if (same >= 0) throw new Error(`${at(node.line)}: names: class ${index}: "${node.value}" is also the name of class ${same} (line ${nameLine[same]})`);
    names[index] = node.value;
    nameLine[index] = node.line;
  };
  if (namesNode.kind === 'list') {
    namesNode.items.forEach((item, index) => addName(item, index));
  } else if (namesNode.kind === 'map') {
    const n = namesNode.entries.length;
    for (const e of namesNode.entries) {
      if (!/^[0-9]+$/.test(e.key) || Number(e.key) >= n) {
        throw new Error(`${at(e.line)}: names: key "${e.key}": expected a class number 0..${n - 1} (${n} names, numbered from 0)`);
      }
    }
    // each key once (the parser refused duplicates) and all below n: so 0..n-1 all there
    for (const e of [...namesNode.entries].sort((a, b) => Number(a.key) - Number(b.key))) addName(e.value, Number(e.key));
  } else {
    throw new Error(`${at(namesNode.line)}: names: expected a list ([a, b] or "- a" lines) or a mapping ("0: a" lines), got ${namesNode.value === null ? 'nothing' : JSON.stringify(namesNode.value.slice(0, 40))}`);
  }
  if (names.length === 0) throw new Error(`${at(namesNode.line)}: names: the list is empty (no class to detect)`);

  const ncEntry = get('nc');
  if (ncEntry !== undefined) {
    const nc = text(ncEntry, 'the number of classes');
    if (!/^[0-9]+$/.test(nc)) throw new Error(`${at(ncEntry.line)}: nc: expected the number of classes, got ${JSON.stringify(nc.slice(0, 40))}`);
    if (Number(nc) !== names.length) throw new Error(`${at(ncEntry.line)}: nc: ${nc}, but names has ${names.length} class(es)`);
  }

  const pathEntry = get('path');
  const here = path.dirname(yamlPath);
  const rootText = pathEntry === undefined || (pathEntry.value.kind === 'scalar' && pathEntry.value.value === null) ? null : text(pathEntry, 'a folder');
  const root = rootText === null ? here : path.resolve(here, rootText);

  const splits = new Map<string, { entries: string[]; line: number }>();
  for (const e of doc.entries) {
    if (NOT_SPLITS.has(e.key)) continue;
    const v = e.value;
    if (v.kind === 'scalar' && v.value === null) continue; // "test:" with nothing: no such split
    let entries: string[];
    if (v.kind === 'scalar') entries = [v.value as string];
    else if (v.kind === 'list') entries = v.items.map((item) => text({ key: e.key, line: item.line, value: item }, 'a folder or a .txt list of images'));
    else continue; // a mapping (Roboflow's `roboflow:` block, say) is no split
    splits.set(e.key, { entries, line: e.line });
  }
  return { yamlPath, root, names, splits };
}

/**
 * The key of data.yaml that a split names: the split itself where the file has it; else the
 * project's default names mapped to YOLO's: 'trainval' -> 'train', 'test' -> 'val' (YOLO data
 * sets often have no test split, or one without labels).
 */
export function resolveYoloSplit(config: YoloConfig, split: string): string {
  if (config.splits.has(split)) return split;
  if (split === 'trainval' && config.splits.has('train')) return 'train';
  if (split === 'test' && config.splits.has('val')) return 'val';
  const have = [...config.splits.keys()];
  throw new Error(`${config.yamlPath}: no split "${split}" (it has ${have.length === 0 ? 'none' : have.join(', ')})`);
}

// ---------------------------------------------------------------------------------------------
// Images and labels
// ---------------------------------------------------------------------------------------------

/** Image files under a folder and its subfolders. Folders reached by a symbolic link are not entered (a link may loop); linked files count. */
function imagesUnder(dir: string, found: string[]): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) imagesUnder(full, found);
    else if (IMAGE_EXTENSIONS.has(path.extname(entry.name).toLowerCase())) found.push(full);
  }
}

/** The image files of one entry of a split: a folder (searched through), or a .txt list of image paths (relative ones to the list's folder). */
function imagesOfEntry(config: YoloConfig, key: string, entry: string, line: number): string[] {
  let full = path.resolve(config.root, entry);
  // Roboflow's exports say "train: ../train/images" of a data.yaml that sits beside train/;
  // Ultralytics takes the path without the "../" when the one with it is not there, and so do we.
  if (!fs.existsSync(full) && entry.startsWith('../') && fs.existsSync(path.resolve(config.root, entry.slice(3)))) full = path.resolve(config.root, entry.slice(3));
  const stat = fs.statSync(full, { throwIfNoEntry: false });
  const where = `${config.yamlPath}: line ${line}: ${key}`;
  if (stat === undefined) throw new Error(`${where}: ${full} does not exist (relative to ${config.root})`);
  if (stat.isDirectory()) {
    const found: string[] = [];
    imagesUnder(full, found);
    return found;
  }
  if (path.extname(full).toLowerCase() !== '.txt') throw new Error(`${where}: ${full} is neither a folder of images nor a .txt list of them`);
  const lines = readFileNamed(full, `YOLO image list of split "${key}"`, MAX_IMAGE_LIST_BYTES).toString('utf8').split(/\r?\n/);
  const listed: string[] = [];
  lines.forEach((l, i) => {
    const p = l.trim();
    if (p === '' || p.startsWith('#')) return;
    if (/[\u0000-\u001f]/.test(p)) throw new Error(`${full}: line ${i + 1}: a control character in an image path`);
    listed.push(path.resolve(path.dirname(full), p));
  });
  return listed;
}

/** The label file of an image: the last /images/ folder of its path becomes /labels/, the extension .txt (beside the image when there is no /images/). */
export function yoloLabelPath(imagePath: string): string {
  const from = `${path.sep}images${path.sep}`;
  const i = imagePath.lastIndexOf(from);
  const moved = i < 0 ? imagePath : `${imagePath.slice(0, i)}${path.sep}labels${path.sep}${imagePath.slice(i + from.length)}`;
  return moved.slice(0, moved.length - path.extname(moved).length) + '.txt';
}

/** A pixel coordinate within a millionth of a pixel of a whole number is that number (see parseYoloLabels). */
function snapPixel(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) < 1e-6 ? r : v;
}

export interface YoloLabels {
  objects: ObjectAnnotation[];
  /** Boxes that reached past the image and were clamped to it. */
  clampedBoxes: number;
  /** Boxes left out: zero width or height (once clamped). */
  droppedBoxes: number;
}

/**
 * Parse one label file's text for a width x height image. `labelOf[c]` is the label (index into
 * the class list) of YOLO class c; there are labelOf.length classes. Errors name `source` and
 * the line: not 5 values (a segmentation polygon is not read), a class that is not a whole number
 * or >= the number of classes, a value that is not a decimal number, a negative size, a value
 * outside [0, 1] (Ultralytics' own check: pixels written instead of fractions).
 *
 * Boxes are made in pixels, x1 = (cx - w / 2) * width ..., then divided by the size, as VOC's
 * and COCO's: a coordinate within a millionth of a pixel of a whole number is taken as that
 * number, so a box written from whole pixels reads back as the same numbers as in VOC or COCO,
 * not one floating-point step off. Boxes reaching past the image (cx - w / 2 < 0) are clamped
 * and counted; those with nothing left are left out and counted.
 */
export function parseYoloLabels(text: string, source: string, labelOf: readonly number[], width: number, height: number): YoloLabels {
  const objects: ObjectAnnotation[] = [];
  let clampedBoxes = 0;
  let droppedBoxes = 0;
  text.split(/\r?\n/).forEach((line, i) => {
    const fields = line.trim().split(/\s+/);
    if (fields[0] === '') return;
    const where = `${source}: line ${i + 1}`;
    if (fields.length !== 5) {
      const polygon = fields.length > 5 && fields.length % 2 === 1 ? ' (a segmentation polygon? only boxes are read)' : '';
      throw new Error(`${where}: expected 5 values (class cx cy w h), got ${fields.length}${polygon}`);
    }
    const [classText, ...rest] = fields;
    if (!/^[0-9]+$/.test(classText)) throw new Error(`${where}: class ${JSON.stringify(classText.slice(0, 20))} is not a whole number`);
    const cls = Number(classText);
    if (cls >= labelOf.length) throw new Error(`${where}: class ${cls}, but data.yaml names ${labelOf.length} class(es) (0..${labelOf.length - 1})`);
    const names = ['cx', 'cy', 'w', 'h'];
    const [cx, cy, w, h] = rest.map((t, k) => {
      const v = Number(t);
      if (!DECIMAL.test(t) || !Number.isFinite(v)) throw new Error(`${where}: ${names[k]} ${JSON.stringify(t.slice(0, 20))} is not a finite decimal number`);
      return v;
    });
    if (w < 0 || h < 0) throw new Error(`${where}: negative size (w ${w}, h ${h})`);
    const outside = [cx, cy, w, h].findIndex((v) => v > 1 || v < 0);
    if (outside >= 0) throw new Error(`${where}: ${names[outside]} ${rest[outside]} is outside [0, 1] (YOLO labels are fractions of the image; pixels?)`);
    const corners = [snapPixel((cx - w / 2) * width), snapPixel((cy - h / 2) * height), snapPixel((cx + w / 2) * width), snapPixel((cy + h / 2) * height)];
    const limits = [width, height, width, height];
    const clamped = corners.map((v, k) => Math.min(Math.max(v, 0), limits[k]));
    if (!(clamped[2] > clamped[0] && clamped[3] > clamped[1])) {
      droppedBoxes++;
      return;
    }
    if (clamped.some((v, k) => v !== corners[k])) clampedBoxes++;
    objects.push({ boxXy: [clamped[0] / width, clamped[1] / height, clamped[2] / width, clamped[3] / height], label: labelOf[cls], difficult: false });
  });
  validateObjects(objects, source); // the final guard
  return { objects, clampedBoxes, droppedBoxes };
}

export interface YoloReadOptions {
  /** The class list (background first) to map the names to; default ['background', ...names]. */
  classes?: readonly string[];
  /** Keep images without objects (missing or empty label files). Default: left out, with one warning counting them. */
  allowEmpty?: boolean;
  /** Skip images whose file or label file is bad, listing them at the end (as readVocDataset). */
  skipBad?: boolean;
  /** Where warnings go (clamped and dropped boxes, images left out, skipped). Default console.warn. */
  warn?: (message: string) => void;
  /** Images above decode.maxPixels are refused from their header here already. */
  decode?: DecodeOptions;
}

export interface YoloDataset {
  yamlPath: string;
  /** The key of data.yaml read (see resolveYoloSplit). */
  split: string;
  classes: string[];
  samples: Sample[];
}

/**
 * Every image of a split with its labels, sorted by path (a folder lists its files in no fixed
 * order), its header read for its size. The labels refer to the image as stored: an image with
 * an EXIF orientation is refused, since Ultralytics (through OpenCV) turns it before its boxes
 * apply, which this reader does not do. Images are not decoded here; loadSampleImage reads one.
 */
export function readYoloDataset(dataPath: string, split: string, options: YoloReadOptions = {}): YoloDataset {
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const config = readYoloConfig(dataPath);
  const key = resolveYoloSplit(config, split);
  const classes = options.classes === undefined ? ['background', ...config.names] : [...options.classes];
  const missing = config.names.filter((n) => classes.indexOf(n) < 1);
  if (missing.length > 0) throw new Error(`${config.yamlPath}: names not in the class list: ${missing.join(', ')} (the class list has ${classes.slice(1).join(', ')})`);
  const labelOf = config.names.map((n) => classes.indexOf(n));

  const { entries, line } = config.splits.get(key) as { entries: string[]; line: number };
  const images = [...new Set(entries.flatMap((entry) => imagesOfEntry(config, key, entry, line)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (images.length === 0) throw new Error(`${config.yamlPath}: line ${line}: ${key}: no images in ${entries.join(', ')}`);

  const samples: Sample[] = [];
  const skipped: string[] = [];
  let clamped = 0;
  let clampedFiles = 0;
  let dropped = 0;
  let empty = 0;
  for (const imagePath of images) {
    try {
      const header = readImageHeader(imagePath, options.decode);
      if (header.orientation !== null && header.orientation !== 1) {
        throw new Error(
          `${imagePath}: EXIF orientation ${header.orientation}: Ultralytics turns such an image before its labels apply, which is not done here; ` +
            'save it turned, without the orientation tag',
        );
      }
      const labelPath = yoloLabelPath(imagePath);
      const there = fs.lstatSync(labelPath, { throwIfNoEntry: false }) !== undefined;
      const labels = there
        ? parseYoloLabels(readFileNamed(labelPath, 'YOLO label file', MAX_ANNOTATION_BYTES).toString('utf8'), labelPath, labelOf, header.width, header.height)
        : { objects: [], clampedBoxes: 0, droppedBoxes: 0 };
      clamped += labels.clampedBoxes;
      if (labels.clampedBoxes > 0) clampedFiles++;
      dropped += labels.droppedBoxes;
      if (labels.objects.length === 0 && options.allowEmpty !== true) {
        empty++;
        continue;
      }
      samples.push({ imagePath, ...(there ? { annotationPath: labelPath } : {}), width: header.width, height: header.height, objects: labels.objects });
    } catch (e) {
      if (options.skipBad !== true) throw e;
      skipped.push((e as Error).message);
    }
  }
  const name = `${config.yamlPath} (${key})`;
  if (clamped > 0) warn(`${name}: ${clamped} box(es) in ${clampedFiles} label file(s) reached past the image and were clamped to it`);
  if (dropped > 0) warn(`${name}: ${dropped} box(es) of zero width or height (once clamped to the image) were left out`);
  if (empty > 0) warn(`${name}: left out ${empty} of ${images.length} images without objects (no or an empty label file) from training (--allow-empty keeps them)`);
  if (skipped.length > 0) warn(`${name}: skipped ${skipped.length} of ${images.length} images:\n${skipped.map((m) => `  ${m}`).join('\n')}`);
  if (samples.length === 0) throw new Error(`${name}: no usable image (${images.length} found, ${skipped.length} skipped, ${empty} without objects)`);
  return { yamlPath: config.yamlPath, split: key, classes, samples };
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

export interface YoloWriteOptions {
  /** 'png' (default, lossless) or 'jpeg', as writeVocDataset. */
  imageFormat?: 'png' | 'jpeg';
  /** JPEG quality 1..100, default 95. */
  jpegQuality?: number;
}

/** An image to write with its objects; id (the file name without extension) defaults to 000001, 000002, ... in each split. */
export type YoloWriteItem = LabeledImage & { id?: string };

/** A name as YAML reads it back: plain where that is unambiguous, else double-quoted (JSON's escapes are YAML's). */
function yamlString(name: string): string {
  const plain = /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name) && !/^(null|true|false|yes|no|on|off|y|n)$/i.test(name);
  return plain ? name : JSON.stringify(name);
}

/**
 * Write splits in the YOLO layout under root, so that readYoloDataset reads them back: images to
 * images/<split>/<id>.png (or .jpg), labels to labels/<split>/<id>.txt (an empty file for an image
 * without objects), data.yaml last, each file written atomically. Coordinates are written in full
 * (the shortest decimal that reads back as the same number). YOLO cannot say 'difficult' or
 * 'crowd': such objects are errors, not written as ordinary ones. Returns the samples of each split
 * as readYoloDataset will see them (with allowEmpty).
 */
export function writeYoloDataset(
  root: string,
  splits: Readonly<Record<string, readonly YoloWriteItem[]>>,
  classes: readonly string[],
  options: YoloWriteOptions = {},
): Record<string, Sample[]> {
  const format = options.imageFormat ?? 'png';
  const quality = options.jpegQuality ?? 95;
  const ext = format === 'png' ? 'png' : 'jpg';
  const labelOf = classes.slice(1).map((_, k) => k + 1);
  const result: Record<string, Sample[]> = {};
  for (const [split, items] of Object.entries(splits)) {
    if (!/^[A-Za-z][\w-]*$/.test(split) || NOT_SPLITS.has(split)) throw new Error(`writeYoloDataset: "${split}" cannot name a split (letters, digits, _ and -; not ${[...NOT_SPLITS].join(', ')})`);
    const ids = items.map((item, k) => item.id ?? String(k + 1).padStart(6, '0'));
    if (new Set(ids).size !== ids.length) throw new Error(`writeYoloDataset: split "${split}" has duplicate image ids`);
    result[split] = items.map((item, k): Sample => {
      const id = ids[k];
      if (!/^[\w.-]+$/.test(id)) throw new Error(`writeYoloDataset: image id "${id}" must be letters, digits, _ . -`);
      const { image, objects } = item;
      const imagePath = path.join(root, 'images', split, `${id}.${ext}`);
      const labelPath = yoloLabelPath(imagePath);
      validateObjects(objects, labelPath, classes.length);
      const lines = objects.map((o, i) => {
        if (o.difficult || o.crowd === true) throw new Error(`${labelPath}: object ${i} is ${o.difficult ? '\'difficult\'' : 'a crowd'}, which YOLO labels cannot say`);
        const [x1, y1, x2, y2] = o.boxXy;
        return `${o.label - 1} ${(x1 + x2) / 2} ${(y1 + y2) / 2} ${x2 - x1} ${y2 - y1}`;
      });
      const text = lines.map((l) => `${l}\n`).join('');
      const bytes = format === 'png' ? encodePng(image) : encodeJpeg(image, quality);
      writeFileAtomic(imagePath, bytes, 'image', { createDirectory: true });
      fs.rmSync(path.join(root, 'images', split, `${id}.${ext === 'png' ? 'jpg' : 'png'}`), { force: true }); // a stale image in the other format would be read too
      writeFileAtomic(labelPath, text, 'YOLO label file', { createDirectory: true });
      const { objects: read } = parseYoloLabels(text, labelPath, labelOf, image.width, image.height);
      return { imagePath, annotationPath: labelPath, width: image.width, height: image.height, objects: read };
    });
    result[split].sort((a, b) => (a.imagePath < b.imagePath ? -1 : a.imagePath > b.imagePath ? 1 : 0)); // the reader's order
  }
  const yaml = [
    '# The Ultralytics YOLO layout, written by ssd300-ts',
    'path: .',
    ...Object.keys(splits).map((split) => `${split}: images/${split}`),
    `nc: ${classes.length - 1}`,
    'names:',
    ...classes.slice(1).map((name, k) => `  ${k}: ${yamlString(name)}`),
    '',
  ].join('\n');
  writeFileAtomic(path.join(root, 'data.yaml'), yaml, 'YOLO data.yaml', { createDirectory: true });
  return result;
}
