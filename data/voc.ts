// The Pascal VOC data set layout, read and written:
//
//   root/ImageSets/Main/<split>.txt   one image id per line (e.g. 000005)
//   root/Annotations/<id>.xml         image size and the objects: class name, difficult, bndbox
//   root/JPEGImages/<id>.jpg          the image (.png accepted too, for data sets we write)
//
// VOC box coordinates are 1-based pixel indices, inclusive at both ends: a box with xmin = 1,
// xmax = width covers every column of the image. Pixel column p (1-based) spans [p - 1, p) in
// the continuous image plane, so the box's boundary coordinates are [xmin - 1, xmax] and in
// fractions of the image
//
//   x1 = (xmin - 1) / width,  y1 = (ymin - 1) / height,  x2 = xmax / width,  y2 = ymax / height.
//
// Deviation: the PyTorch tutorial subtracts 1 from all four (x2 = (xmax - 1) / width), which
// makes every box one pixel narrower and shorter than it is, and a one-pixel-wide box empty.

import * as fs from 'fs';
import * as path from 'path';
import { LabeledImage, ObjectAnnotation, Sample, validateObjects } from './annotations';
import { DecodeOptions, encodeJpeg, encodePng, readImageHeader } from './image_files';
import { XmlElement, childNamed, parseXml } from './xml';
import { readFileNamed, writeFileAtomic } from '../io/files';
import { VOC_CLASSES } from './class_names';

/** The largest annotation read: 16 MiB (a VOC annotation is about 1 kB; 10,000 objects take 3 MB). */
export const MAX_ANNOTATION_BYTES = 16 * 2 ** 20;
/** The largest image list read: 64 MiB (VOC's trainval lists 11,540 ids in 81 kB). */
export const MAX_IMAGE_LIST_BYTES = 64 * 2 ** 20;

/**
 * Numbers as VOC's own tools read them (Python's int() for sizes, float() for coordinates):
 * decimal digits, a sign, a point and an exponent. JavaScript's Number() would also take
 * "0x20" (32), "0b11", "" (0) and "Infinity".
 */
const INTEGER = /^[0-9]+$/;
export const DECIMAL = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** Why a number JavaScript would read ("0x20", "Infinity") is refused anyway: said after the value. */
function decimalOnly(text: string): string {
  return text.trim() !== '' && Number.isFinite(Number(text)) && Number(text) > 0 ? ' (decimal digits only, as VOC\'s tools read them)' : '';
}

/** A class name as it may appear in an annotation or in --classes: no control characters, not empty. */
export function checkClassName(name: string, where: string): void {
  if (name === '' || /[\u0000-\u001f\u007f-\u009f]/.test(name)) {
    throw new Error(`${where}: ${JSON.stringify(name)} is not a usable class name (empty, or a control character in it)`);
  }
}

/** Background, then the 20 VOC classes in the standard order (defined with the class names of weights files). */
export { VOC_CLASSES };

export interface VocAnnotation {
  width: number;
  height: number;
  objects: ObjectAnnotation[];
  /**
   * Boxes that reached up to one pixel past the image (xmin = 0, or xmax = width + 1: the 0-based
   * pixels many labelling tools write) and were clamped to it. Counted so the reader can warn.
   */
  clampedBoxes: number;
}

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

/**
 * Parse one VOC annotation file's text. `source` names the file in every error; `classes` is
 * the class list (index 0 background), an object's label is the index of its <name>.
 *
 * Reads annotation/size/{width,height} and, for each annotation/object: name, difficult
 * (optional, 0 when absent: some VOC2012 objects lack it), bndbox/{xmin,ymin,xmax,ymax}. Only
 * direct children count, so the <bndbox> of a person's <part> (head, hand) is not taken for
 * the person's. Boxes become fractions by the 1-based convention at the top of this file.
 *
 * An annotation without any <object> is an image of background only: valid here (evaluation
 * counts detections on it as false positives); readVocDataset decides whether training takes it.
 *
 * Errors: malformed XML, a missing field, a size that is not a positive integer, an unknown class name, a coordinate that is not a number, an inverted box (xmax < xmin), a
 * box outside the image (xmin < 1 or xmax > width).
 */
export function parseVocAnnotation(xml: string, source: string, classes: readonly string[] = VOC_CLASSES): VocAnnotation {
  const root = parseXml(xml, source);
  if (root.name !== 'annotation') throw new Error(`${source}: root element is <${root.name}>, expected <annotation>`);

  const field = (parent: XmlElement, name: string, where: string): string => {
    const el = childNamed(parent, name);
    if (el === undefined) throw new Error(`${source}: ${where}: missing <${name}>`);
    return el.text.trim();
  };
  const sizeEl = childNamed(root, 'size');
  if (sizeEl === undefined) throw new Error(`${source}: missing <size>`);
  const sizeOf = (name: string): number => {
    const text = field(sizeEl, name, '<size>');
    const value = Number(text);
    if (!INTEGER.test(text) || !Number.isSafeInteger(value) || value <= 0) {
      throw new Error(`${source}: <size><${name}> must be a positive integer, got ${JSON.stringify(text.slice(0, 40))}${decimalOnly(text)}`);
    }
    return value;
  };
  const width = sizeOf('width');
  const height = sizeOf('height');

  const objectEls = root.children.filter((c) => c.name === 'object');
  let clampedBoxes = 0;
  const objects = objectEls.map((el, i): ObjectAnnotation => {
    let where = `object ${i}`;
    const name = field(el, 'name', where);
    checkClassName(name, `${source}: ${where} <name>`);
    where = `object ${i} (${name})`;
    const label = classes.indexOf(name);
    if (label < 1) {
      throw new Error(`${source}: ${where}: unknown class name "${name}", expected one of ${classes.slice(1).join(', ')}`);
    }
    const difficultEl = childNamed(el, 'difficult');
    const difficultText = difficultEl === undefined ? '0' : difficultEl.text.trim();
    if (difficultText !== '0' && difficultText !== '1') {
      throw new Error(`${source}: ${where}: <difficult> must be 0 or 1, got "${difficultText}"`);
    }
    const boxEl = childNamed(el, 'bndbox');
    if (boxEl === undefined) throw new Error(`${source}: ${where}: missing <bndbox>`);
    const coord = (name: string): number => {
      const text = field(boxEl, name, `${where} <bndbox>`);
      const value = Number(text);
      if (!DECIMAL.test(text) || !Number.isFinite(value)) {
        throw new Error(`${source}: ${where}: <${name}> must be a number, got ${JSON.stringify(text.slice(0, 40))}${decimalOnly(text)}`);
      }
      return value;
    };
    let [xmin, ymin, xmax, ymax] = [coord('xmin'), coord('ymin'), coord('xmax'), coord('ymax')];
    const pixels = `xmin=${xmin} ymin=${ymin} xmax=${xmax} ymax=${ymax}`;
    if (xmax < xmin || ymax < ymin) throw new Error(`${source}: ${where}: inverted box (${pixels})`);
    // Many tools write 0-based pixels: a box touching the left edge has xmin = 0, one touching the
    // right edge may have xmax = width. Up to one pixel past the image is that, not an error:
    // clamp it and count it. Farther out, the annotation is wrong.
    const outside = xmin < 0 || ymin < 0 || xmax > width + 1 || ymax > height + 1;
    if (outside) {
      throw new Error(`${source}: ${where}: box (${pixels}) is outside the ${width}x${height} image (VOC pixels are 1..${width}, 1..${height})`);
    }
    if (xmin < 1 || ymin < 1 || xmax > width || ymax > height) {
      clampedBoxes++;
      [xmin, ymin] = [Math.max(xmin, 1), Math.max(ymin, 1)];
      [xmax, ymax] = [Math.min(xmax, width), Math.min(ymax, height)];
      if (xmax < xmin || ymax < ymin) throw new Error(`${source}: ${where}: box (${pixels}) is empty once clamped to the ${width}x${height} image`);
    }
    return {
      // 1-based inclusive pixels -> boundary fractions (see the top of this file).
      boxXy: [(xmin - 1) / width, (ymin - 1) / height, xmax / width, ymax / height],
      label,
      difficult: difficultText === '1',
    };
  });
  validateObjects(objects, source, classes.length); // the final guard: finite, non-empty, inside
  return { width, height, objects, clampedBoxes };
}

/** The VOC annotation XML of an image: the inverse of parseVocAnnotation (boxes rounded to pixels). */
export function formatVocAnnotation(
  filename: string,
  width: number,
  height: number,
  objects: readonly ObjectAnnotation[],
  classes: readonly string[],
  source = filename,
): string {
  validateObjects(objects, source, classes.length);
  const lines = [
    '<annotation>',
    `  <filename>${escapeXml(filename)}</filename>`,
    `  <size><width>${width}</width><height>${height}</height><depth>3</depth></size>`,
  ];
  objects.forEach((obj, i) => {
    const [x1, y1, x2, y2] = obj.boxXy;
    // Boundary fractions -> 1-based inclusive pixels, the inverse of the formula at the top.
    const xmin = Math.round(x1 * width) + 1;
    const ymin = Math.round(y1 * height) + 1;
    const xmax = Math.round(x2 * width);
    const ymax = Math.round(y2 * height);
    if (xmax < xmin || ymax < ymin) {
      throw new Error(`${source}: object ${i}: box [${obj.boxXy.join(', ')}] is thinner than one pixel of a ${width}x${height} image`);
    }
    lines.push(
      '  <object>',
      `    <name>${escapeXml(classes[obj.label])}</name>`,
      '    <pose>Unspecified</pose>',
      '    <truncated>0</truncated>',
      `    <difficult>${obj.difficult ? 1 : 0}</difficult>`,
      `    <bndbox><xmin>${xmin}</xmin><ymin>${ymin}</ymin><xmax>${xmax}</xmax><ymax>${ymax}</ymax></bndbox>`,
      '  </object>',
    );
  });
  lines.push('</annotation>', '');
  return lines.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// ---------------------------------------------------------------------------------------------
// Data sets
// ---------------------------------------------------------------------------------------------

/**
 * The image ids listed in root/ImageSets/Main/<split>.txt: one per non-empty line, or an id and a
 * flag -1, 0 or 1 (VOC's per-class lists, <class>_<split>.txt). An id names the files
 * Annotations/<id>.xml and JPEGImages/<id>.jpg, so it is a plain file name: a '/', a '\\', '.'
 * or '..' would lead elsewhere, outside the data set even, and is an error naming the line, as is
 * a line of several words (an id with a space in it).
 */
export function readVocSplit(root: string, split: string): string[] {
  if (split === '' || /[/\\\u0000]/.test(split) || split === '.' || split === '..') throw new Error(`split "${split}": expected a plain name (trainval, test, ...)`);
  const listPath = path.join(root, 'ImageSets', 'Main', `${split}.txt`);
  const lines = readFileNamed(listPath, `VOC image list of split "${split}"`, MAX_IMAGE_LIST_BYTES).toString('utf8').split(/\r?\n/);
  const ids: string[] = [];
  lines.forEach((line, i) => {
    const words = line.trim().split(/\s+/);
    if (words[0] === '') return;
    const where = `${listPath}: line ${i + 1}`;
    if (words.length > 2 || (words.length === 2 && !/^(-1|0|1)$/.test(words[1]))) {
      throw new Error(`${where}: ${JSON.stringify(line.trim().slice(0, 80))} is not one image id (an id cannot contain spaces; a second word may only be a flag -1, 0 or 1)`);
    }
    const id = words[0];
    if (/[/\\\u0000-\u001f]/.test(id) || id === '.' || id === '..') {
      throw new Error(`${where}: image id ${JSON.stringify(id.slice(0, 80))} is not a plain file name (no '/', '\\', '..' or control characters: ids name files inside the data set)`);
    }
    ids.push(id);
  });
  if (ids.length === 0) throw new Error(`${listPath}: no image ids in the list`);
  return ids;
}

/**
 * The file an image id names in JPEGImages/: <id>.jpg, else <id>.png. A link that leads nowhere
 * or into a loop is said to be one, not reported as a missing image.
 */
function findImage(root: string, id: string): string {
  const jpgPath = path.join(root, 'JPEGImages', `${id}.jpg`);
  const pngPath = path.join(root, 'JPEGImages', `${id}.png`);
  for (const candidate of [jpgPath, pngPath]) {
    if (fs.existsSync(candidate)) return candidate;
    if (fs.lstatSync(candidate, { throwIfNoEntry: false })?.isSymbolicLink()) {
      let reason = 'leads to no file';
      try {
        fs.statSync(candidate);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ELOOP') reason = 'is a loop of symbolic links';
      }
      throw new Error(`${candidate}: the image of id "${id}" is a symbolic link that ${reason}`);
    }
  }
  throw new Error(`${jpgPath}: no image for id "${id}" (looked for .jpg and .png)`);
}

export interface VocReadOptions {
  /**
   * Keep images whose annotation has no object (background only). Evaluation wants them: they make
   * false positives count. Training takes them only when asked (the CLI's --allow-empty): a data
   * set of empty annotations is more often a mistake than a choice. Default false: an error.
   */
  allowEmpty?: boolean;
  /**
   * Skip an image whose annotation cannot be read or is wrong, or whose image file is missing,
   * not PNG/JPEG, or of another size than the annotation says,
   * instead of stopping at the first one; the skipped files are listed at the end with a count,
   * through `warn`. Default false: the first bad one is an error.
   */
  skipBad?: boolean;
  /** Where warnings go (clamped boxes, skipped files). Default console.warn. */
  warn?: (message: string) => void;
  /** Images above decode.maxPixels are refused from their header here already (default DEFAULT_MAX_PIXELS). */
  decode?: DecodeOptions;
}

/**
 * Every sample of a split: annotation parsed (see parseVocAnnotation), image path found
 * (JPEGImages/<id>.jpg, else .png) and its header read (format and size must fit the annotation).
 * Images are not decoded here; loadSampleImage reads one.
 */
export function readVocDataset(
  root: string,
  split: 'trainval' | 'test' | string,
  classes: readonly string[] = VOC_CLASSES,
  options: VocReadOptions = {},
): Sample[] {
  const warn = options.warn ?? ((message: string) => console.warn(message));
  let clamped = 0;
  let clampedFiles = 0;
  const samples: Sample[] = [];
  const skipped: string[] = []; // one message per skipped image
  const ids = readVocSplit(root, split);
  for (const id of ids) {
    try {
      const annotationPath = path.join(root, 'Annotations', `${id}.xml`);
      const xml = readFileNamed(annotationPath, 'VOC annotation', MAX_ANNOTATION_BYTES).toString('utf8');
      const { width, height, objects, clampedBoxes } = parseVocAnnotation(xml, annotationPath, classes);
      if (objects.length === 0 && options.allowEmpty !== true) {
        throw new Error(`${annotationPath}: no <object> in the annotation (to train on images of background only, allow them: --allow-empty)`);
      }
      const imagePath = findImage(root, id);
      // the image's header now, so that a wrong or unreadable image stops the run before training, not an hour into it
      const header = readImageHeader(imagePath, options.decode);
      if (header.width !== width || header.height !== height) {
        const turned = header.orientation !== null && header.orientation >= 5 && header.width === height && header.height === width;
        throw new Error(
          `${imagePath}: image is ${header.width}x${header.height} but its annotation says ${width}x${height}` +
            (turned ? ` (its EXIF orientation ${header.orientation} turns it by 90 degrees, which is not applied: annotations must measure the stored pixels)` : ''),
        );
      }
      clamped += clampedBoxes;
      if (clampedBoxes > 0) clampedFiles++;
      samples.push({ imagePath, annotationPath, width, height, objects });
    } catch (e) {
      if (options.skipBad !== true) throw e;
      skipped.push((e as Error).message);
    }
  }
  if (clamped > 0) {
    warn(`${root} (${split}): ${clamped} box(es) in ${clampedFiles} annotation(s) reached one pixel past the image (0-based pixels?) and were clamped to it`);
  }
  if (skipped.length > 0) {
    warn(`${root} (${split}): skipped ${skipped.length} of ${ids.length} images:\n${skipped.map((m) => `  ${m}`).join('\n')}`);
  }
  if (samples.length === 0) throw new Error(`${root} (${split}): no usable image (all ${ids.length} were skipped)`);
  return samples;
}

/**
 * The class names used in a split's annotations, sorted, with 'background' first: the class list
 * of a data set whose classes were not given. Reads only the <object><name> of each annotation;
 * with skipBad, files that are not XML are passed over (readVocDataset then lists them).
 */
export function readVocClassNames(root: string, split: string, options: Pick<VocReadOptions, 'skipBad'> = {}): string[] {
  const names = new Set<string>();
  for (const id of readVocSplit(root, split)) {
    const annotationPath = path.join(root, 'Annotations', `${id}.xml`);
    try {
      const annotation = parseXml(readFileNamed(annotationPath, 'VOC annotation', MAX_ANNOTATION_BYTES).toString('utf8'), annotationPath);
      const namesHere: string[] = [];
      for (const [i, object] of annotation.children.filter((c) => c.name === 'object').entries()) {
        const name = childNamed(object, 'name')?.text.trim();
        if (name === undefined || name === '') throw new Error(`${annotationPath}: object ${i}: an <object> without a <name>`);
        checkClassName(name, `${annotationPath}: object ${i} <name>`);
        if (name === 'background') throw new Error(`${annotationPath}: object ${i}: 'background' is reserved for class 0 and cannot name an object`);
        namesHere.push(name);
      }
      namesHere.forEach((name) => names.add(name));
    } catch (e) {
      if (options.skipBad !== true) throw e;
      // readVocDataset skips this file too, and lists it
    }
  }
  if (names.size === 0) throw new Error(`${root} (${split}): no objects in any annotation`);
  return ['background', ...[...names].sort()];
}

export interface VocWriteOptions {
  /**
   * 'png' (default): lossless, written as JPEGImages/<id>.png, so pixels and tight boxes survive
   * exactly. 'jpeg': JPEGImages/<id>.jpg like real VOC, lossy (colours shift by a few levels,
   * edges ring slightly).
   */
  imageFormat?: 'png' | 'jpeg';
  /** JPEG quality 1..100, default 95. */
  jpegQuality?: number;
}

/** An image to write with its objects; id defaults to "<split>_000001", "<split>_000002", ... */
export type VocWriteItem = LabeledImage & { id?: string };

/**
 * Write images and their objects in the VOC layout, so that readVocDataset reads them back:
 * images and annotations first, the split's id list last (so an interrupted write never lists a
 * missing file), each file written atomically. Boxes are rounded to whole pixels (synthetic
 * boxes already are). Returns the samples as readVocDataset will see them.
 */
export function writeVocDataset(
  root: string,
  split: string,
  items: readonly VocWriteItem[],
  classes: readonly string[] = VOC_CLASSES,
  options: VocWriteOptions = {},
): Sample[] {
  const format = options.imageFormat ?? 'png';
  const quality = options.jpegQuality ?? 95;
  const ids = items.map((item, k) => item.id ?? `${split}_${String(k + 1).padStart(6, '0')}`);
  if (new Set(ids).size !== ids.length) throw new Error(`writeVocDataset: split "${split}" has duplicate image ids`);
  const samples = items.map((item, k): Sample => {
    const id = ids[k];
    if (!/^[\w.-]+$/.test(id)) throw new Error(`writeVocDataset: image id "${id}" must be letters, digits, _ . -`);
    const { image, objects } = item;
    const ext = format === 'png' ? 'png' : 'jpg';
    const imagePath = path.join(root, 'JPEGImages', `${id}.${ext}`);
    const otherPath = path.join(root, 'JPEGImages', `${id}.${ext === 'png' ? 'jpg' : 'png'}`);
    const annotationPath = path.join(root, 'Annotations', `${id}.xml`);
    const xml = formatVocAnnotation(`${id}.${ext}`, image.width, image.height, objects, classes, annotationPath);
    const bytes = format === 'png' ? encodePng(image) : encodeJpeg(image, quality);
    writeFileAtomic(imagePath, bytes, 'image', { createDirectory: true });
    fs.rmSync(otherPath, { force: true }); // a stale image in the other format would shadow this one
    writeFileAtomic(annotationPath, xml, 'VOC annotation', { createDirectory: true });
    return { imagePath, annotationPath, width: image.width, height: image.height, objects: parseVocAnnotation(xml, annotationPath, classes).objects };
  });
  writeFileAtomic(path.join(root, 'ImageSets', 'Main', `${split}.txt`), ids.join('\n') + '\n', 'VOC image list', { createDirectory: true });
  return samples;
}
