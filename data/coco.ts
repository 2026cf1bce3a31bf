// The COCO "instances" layout, read and written:
//
//   <root>/annotations/instances_<split>.json   one JSON file per split: images, categories, objects
//   <root>/<split>/<file_name>                  the images (or images/<file_name> beside the JSON,
//                                               or <file_name> beside it, or any folder: --images)
//
// The JSON holds three lists:
//   images       [{id, file_name, width, height}]
//   annotations  [{id, image_id, category_id, bbox: [x, y, w, h], area, iscrowd}]   (one per object)
//   categories   [{id, name}]
//
// A COCO box is [x, y, w, h] in pixels of the continuous image plane: (x, y) is its top-left
// corner, floats, and it spans [x, x + w] x [y, y + h]. There is no 1-based pixel index as in VOC,
// so in fractions of the W x H image
//
//   x1 = x / W,  y1 = y / H,  x2 = (x + w) / W,  y2 = (y + h) / H.
//
// Category ids are arbitrary numbers with gaps (COCO's 80 classes have ids 1..90): the class
// index of a category is its place among the categories sorted by id (after the background at
// 0), and categoryIds[i] maps class i back to its COCO id, for result files COCO's tools read.
//
// iscrowd = 1 marks a box around a crowd (a stand full of people, a shelf of bottles): it is never
// a training target, and evaluation treats it as a region where detections count for nothing.
// `area` is the segmentation's area in pixels, which COCO's small / medium / large ranges use.

import * as fs from 'fs';
import * as path from 'path';
import { LabeledImage, ObjectAnnotation, Sample, trainingObjects, validateObjects } from './annotations';
import { DecodeOptions, encodeJpeg, encodePng, readImageHeader } from './image_files';
import { checkClassName } from './voc';
import { readFileNamed, writeFileAtomic } from '../io/files';

/**
 * The largest COCO JSON file read: 500 MiB. COCO's instances_train2017.json is 448 MB; the file
 * becomes one JavaScript string, and V8's strings end at 2^29 - 24 characters (512 MiB).
 */
export const MAX_COCO_JSON_BYTES = 500 * 2 ** 20;

/** No COCO category: the background's entry in categoryIds, and a given class the file lacks. */
export const NO_CATEGORY = -1;

/** A JSON value as JSON.parse returns it. */
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as it appears in the file, cut short: what an error says it found. */
function shown(value: Json | undefined): string {
  if (value === undefined) return 'nothing (the key is missing)';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Parse JSON text; a syntax error names the file, the line and the column. (V8 says the position
 * of some errors only, "Unexpected token" ones not, and quotes the text around it; so the place
 * is found here by jsonErrorOffset, and V8's quote left out: the file may hold anything.)
 */
export function parseJsonText(text: string, source: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    const message = (e as Error).message.replace(/, (".*"|\.\.\..*) is not valid JSON$/s, '').replace(/ in JSON at position \d+$/, '');
    const offset = jsonErrorOffset(text);
    let where = '';
    if (offset !== null) {
      const before = text.slice(0, offset);
      where = ` (line ${before.split('\n').length}, column ${offset - before.lastIndexOf('\n')})`;
    }
    throw new Error(`${source}: not valid JSON${where}: ${message}`);
  }
}

/**
 * Where the first syntax error of JSON text is (an offset), or null if there is none: a small
 * JSON reader that checks the syntax only, with an explicit stack (a file of deeply nested
 * brackets cannot overflow the call stack).
 */
export function jsonErrorOffset(text: string): number | null {
  const n = text.length;
  const stack: string[] = [];
  let i = 0;
  let state: 'value' | 'key' | 'firstKey' | 'colon' | 'after' = 'value';
  const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  /** The offset after the string starting at i, or minus one minus the offset of its error. */
  const string = (start: number): number => {
    let j = start + 1;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 0x22) return j + 1;
      if (c < 0x20) return -1 - j;
      if (c === 0x5c) {
        const e = text[j + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6))) return -1 - j;
          j += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          j += 2;
        } else {
          return -1 - j;
        }
        continue;
      }
      j++;
    }
    return -1 - n;
  };
  while (true) {
    while (i < n && ' \t\n\r'.includes(text[i])) i++;
    if (i >= n) return state === 'after' && stack.length === 0 ? null : n;
    const c = text[i];
    if (state === 'value') {
      if (c === '{') {
        stack.push('}');
        state = 'firstKey';
        i++;
      } else if (c === '[') {
        stack.push(']');
        i++;
        while (i < n && ' \t\n\r'.includes(text[i])) i++;
        if (text[i] === ']') {
          stack.pop();
          i++;
          state = 'after';
        }
      } else if (c === '"') {
        const end = string(i);
        if (end < 0) return -1 - end;
        i = end;
        state = 'after';
      } else {
        NUMBER.lastIndex = i;
        const m = NUMBER.exec(text);
        const literal = ['true', 'false', 'null'].find((w) => text.startsWith(w, i));
        if (m !== null && m[0].length > 0) i += m[0].length;
        else if (literal !== undefined) i += literal.length;
        else return i;
        state = 'after';
      }
    } else if (state === 'key' || state === 'firstKey') {
      if (state === 'firstKey' && c === '}') {
        stack.pop();
        i++;
        state = 'after';
      } else if (c === '"') {
        const end = string(i);
        if (end < 0) return -1 - end;
        i = end;
        state = 'colon';
      } else {
        return i;
      }
    } else if (state === 'colon') {
      if (c !== ':') return i;
      i++;
      state = 'value';
    } else {
      const close = stack[stack.length - 1];
      if (close === undefined) return i; // text after the value
      if (c === ',') {
        i++;
        state = close === '}' ? 'key' : 'value';
      } else if (c === close) {
        stack.pop();
        i++;
      } else {
        return i;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The JSON's content
// ---------------------------------------------------------------------------------------------

/** One entry of `images`, checked. */
export interface CocoImage {
  id: number;
  fileName: string;
  width: number;
  height: number;
}

export interface CocoInstances {
  /** The images in the file's order, those with a bad entry left out (see `bad`). */
  images: CocoImage[];
  /** 'background', then the categories sorted by id; or the class list given. */
  classes: string[];
  /** The COCO id of each class; NO_CATEGORY for the background and for given classes the file lacks. */
  categoryIds: number[];
  /** The objects of each image, by image id, in the file's order. */
  objects: Map<number, ObjectAnnotation[]>;
  /** With skipBad: the images (by id) whose entry or annotations are wrong, and why (the first error). */
  bad: Map<number, string>;
  /** Boxes left out: zero or negative width or height, or nothing left once clamped to the image. */
  droppedBoxes: number;
  /** Boxes that reached past their image and were clamped to it, and in how many images. */
  clampedBoxes: number;
  clampedImages: number;
}

/** A file name that stays inside the image folder: relative, no '..', no '\\', no control characters. */
function badFileName(name: string): string | null {
  if (name === '') return 'an empty file name';
  if (/[\u0000-\u001f\\]/.test(name)) return 'a control character or a \'\\\' in it';
  if (name.startsWith('/')) return 'an absolute path (file names are relative to the image folder)';
  if (name.split('/').some((part) => part === '..' || part === '.' || part === '')) return 'a \'..\', \'.\' or empty path component (it would lead outside the image folder)';
  return null;
}

/**
 * Check and convert the content of an instances file (already parsed JSON); `source` (the file)
 * starts every error, followed by the JSON path of the value: `annotations[17].bbox: expected 4
 * finite numbers, got [1,2,"x",4]`. Boxes become fractions by the formula at the top of this file.
 *
 * Always errors: a top level that is not an object; `images`, `annotations` or `categories` not an
 * array; a category without an integer id or a usable name, two with one id or one name; an image
 * entry that is not an object or has no integer id, two images with one id; an annotation that is
 * not an object, or whose image_id is not the id of an image. With a class list given, categories
 * whose name is not in it (all named in one error).
 *
 * Errors of one image (its file_name, width, height; an annotation's bbox, category_id, iscrowd,
 * area): with skipBad that image goes into `bad` and the rest is read; without it they are errors.
 *
 * Not errors: boxes with w or h <= 0 are left out, boxes past the image are clamped to it; both are
 * counted for the reader's warning (COCO has a few of each).
 */
export function parseCocoInstances(
  json: Json,
  source: string,
  options: { classes?: readonly string[]; skipBad?: boolean } = {},
): CocoInstances {
  if (!isObject(json)) throw new Error(`${source}: expected a JSON object with images, annotations and categories, got ${shown(json)}`);
  const list = (key: string): Json[] => {
    const value = json[key];
    if (!Array.isArray(value)) {
      const hint = key === 'annotations' && value === undefined ? ' (an image_info file, which lists images without their objects?)' : '';
      throw new Error(`${source}: ${key}: expected an array, got ${shown(value)}${hint}`);
    }
    return value;
  };
  const imageList = list('images');
  const annotationList = list('annotations');
  const categoryList = list('categories');
  const integer = (value: Json | undefined, where: string, min: number): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new Error(`${source}: ${where}: expected an integer >= ${min}, got ${shown(value)}`);
    }
    return value;
  };

  // Categories: sorted by id, each named once.
  const categories: { id: number; name: string }[] = [];
  const categoryAt = new Map<number, number>(); // id -> index in categoryList
  const nameAt = new Map<string, number>();
  categoryList.forEach((entry, k) => {
    const where = `categories[${k}]`;
    if (!isObject(entry)) throw new Error(`${source}: ${where}: expected an object {id, name}, got ${shown(entry)}`);
    const id = integer(entry.id, `${where}.id`, 0);
    const name = entry.name;
    if (typeof name !== 'string') throw new Error(`${source}: ${where}.name: expected a string, got ${shown(name)}`);
    checkClassName(name, `${source}: ${where}.name`);
    if (name === 'background') throw new Error(`${source}: ${where}.name: 'background' is reserved for class 0 and cannot name a category`);
    const sameId = categoryAt.get(id);
    if (sameId !== undefined) throw new Error(`${source}: ${where}.id: ${id} is also the id of categories[${sameId}]`);
    const sameName = nameAt.get(name);
    if (sameName !== undefined) throw new Error(`${source}: ${where}.name: "${name}" is also the name of categories[${sameName}]`);
    categoryAt.set(id, k);
    nameAt.set(name, k);
    categories.push({ id, name });
  });
  if (categories.length === 0) throw new Error(`${source}: categories: the list is empty (no class to detect)`);
  categories.sort((a, b) => a.id - b.id);

  let classes: string[];
  if (options.classes === undefined) {
    classes = ['background', ...categories.map((c) => c.name)];
  } else {
    classes = [...options.classes];
    const missing = categories.filter((c) => classes.indexOf(c.name) < 1).map((c) => c.name);
    if (missing.length > 0) {
      throw new Error(`${source}: categories not in the class list: ${missing.join(', ')} (the class list has ${classes.slice(1).join(', ')})`);
    }
  }
  const labelOf = new Map(categories.map((c) => [c.id, classes.indexOf(c.name)]));
  const categoryIds = classes.map((name) => categories.find((c) => c.name === name)?.id ?? NO_CATEGORY);

  // Errors of one image: recorded (skipBad) or thrown.
  const bad = new Map<number, string>();
  const fail = (imageId: number, message: string): void => {
    if (options.skipBad !== true) throw new Error(message);
    if (!bad.has(imageId)) bad.set(imageId, message);
  };

  // Images: ids first (unusable ids are always errors: annotations name images by them).
  const images = new Map<number, CocoImage>();
  const imageAt = new Map<number, number>(); // id -> index in imageList
  const order: number[] = [];
  imageList.forEach((entry, i) => {
    const where = `images[${i}]`;
    if (!isObject(entry)) throw new Error(`${source}: ${where}: expected an object {id, file_name, width, height}, got ${shown(entry)}`);
    const id = integer(entry.id, `${where}.id`, 0);
    const same = imageAt.get(id);
    if (same !== undefined) throw new Error(`${source}: ${where}.id: ${id} is also the id of images[${same}]`);
    imageAt.set(id, i);
    order.push(id);
    try {
      const fileName = entry.file_name;
      if (typeof fileName !== 'string') throw new Error(`${source}: ${where}.file_name: expected a string, got ${shown(fileName)}`);
      const why = badFileName(fileName);
      if (why !== null) throw new Error(`${source}: ${where}.file_name: ${JSON.stringify(fileName.slice(0, 80))} is not usable: ${why}`);
      const width = integer(entry.width, `${where}.width`, 1);
      const height = integer(entry.height, `${where}.height`, 1);
      images.set(id, { id, fileName, width, height });
    } catch (e) {
      fail(id, (e as Error).message);
    }
  });

  // Annotations: one object each.
  const objects = new Map<number, ObjectAnnotation[]>(order.map((id) => [id, []]));
  let droppedBoxes = 0;
  let clampedBoxes = 0;
  const clampedIn = new Set<number>();
  annotationList.forEach((entry, j) => {
    const where = `annotations[${j}]`;
    if (!isObject(entry)) throw new Error(`${source}: ${where}: expected an object {id, image_id, category_id, bbox, area, iscrowd}, got ${shown(entry)}`);
    const imageId = entry.image_id;
    if (typeof imageId !== 'number' || !Number.isSafeInteger(imageId)) throw new Error(`${source}: ${where}.image_id: expected an integer, got ${shown(imageId)}`);
    if (!imageAt.has(imageId)) throw new Error(`${source}: ${where}.image_id: ${imageId} is not the id of any image`);
    try {
      if (entry.id !== undefined && (typeof entry.id !== 'number' || !Number.isSafeInteger(entry.id))) {
        throw new Error(`${source}: ${where}.id: expected an integer, got ${shown(entry.id)}`);
      }
      const categoryId = entry.category_id;
      if (typeof categoryId !== 'number' || !Number.isSafeInteger(categoryId)) throw new Error(`${source}: ${where}.category_id: expected an integer, got ${shown(categoryId)}`);
      const label = labelOf.get(categoryId);
      if (label === undefined) {
        throw new Error(`${source}: ${where}.category_id: ${categoryId} is not the id of any category (ids: ${categories.map((c) => c.id).join(', ')})`);
      }
      const bbox = entry.bbox;
      if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new Error(`${source}: ${where}.bbox: expected 4 finite numbers [x, y, width, height], got ${shown(bbox)}`);
      }
      const crowdFlag = entry.iscrowd ?? 0;
      if (crowdFlag !== 0 && crowdFlag !== 1) throw new Error(`${source}: ${where}.iscrowd: expected 0 or 1, got ${shown(entry.iscrowd)}`);
      const area = entry.area;
      if (area !== undefined && !(typeof area === 'number' && Number.isFinite(area) && area >= 0)) {
        throw new Error(`${source}: ${where}.area: expected a finite number >= 0 (pixels), got ${shown(area)}`);
      }
      const image = images.get(imageId);
      if (image === undefined) return; // its entry is bad, already recorded
      const [x, y, w, h] = bbox as number[];
      if (!(w > 0 && h > 0)) {
        droppedBoxes++;
        return;
      }
      const { width: W, height: H } = image;
      const corners = [x, y, x + w, y + h];
      const clamped = [Math.min(Math.max(corners[0], 0), W), Math.min(Math.max(corners[1], 0), H), Math.min(Math.max(corners[2], 0), W), Math.min(Math.max(corners[3], 0), H)];
      if (!(clamped[2] > clamped[0] && clamped[3] > clamped[1])) {
        droppedBoxes++; // wholly outside the image
        return;
      }
      if (clamped.some((v, k) => v !== corners[k])) {
        clampedBoxes++;
        clampedIn.add(imageId);
      }
      const obj: ObjectAnnotation = {
        boxXy: [clamped[0] / W, clamped[1] / H, clamped[2] / W, clamped[3] / H],
        label,
        difficult: false,
        ...(crowdFlag === 1 ? { crowd: true } : {}),
        ...(typeof area === 'number' ? { area } : {}),
      };
      validateObjects([obj], `${source}: ${where}`, classes.length); // the final guard
      (objects.get(imageId) as ObjectAnnotation[]).push(obj);
    } catch (e) {
      fail(imageId, (e as Error).message);
    }
  });

  return {
    images: order.filter((id) => images.has(id) && !bad.has(id)).map((id) => images.get(id) as CocoImage),
    classes,
    categoryIds,
    objects,
    bad,
    droppedBoxes,
    clampedBoxes,
    clampedImages: clampedIn.size,
  };
}

/** Read and parse a COCO JSON file, within MAX_COCO_JSON_BYTES. */
function readCocoJson(jsonPath: string): Json {
  return parseJsonText(readFileNamed(jsonPath, 'COCO annotation file', MAX_COCO_JSON_BYTES).toString('utf8'), jsonPath);
}

// ---------------------------------------------------------------------------------------------
// Data sets
// ---------------------------------------------------------------------------------------------

/** The split named by an instances file's name: instances_val2017.json -> val2017; null for other names. */
function splitOfJson(jsonPath: string): string | null {
  const m = /^instances_(.+)\.json$/.exec(path.basename(jsonPath));
  return m === null ? null : m[1];
}

function isDirectory(p: string): boolean {
  return fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() === true;
}

/**
 * The instances file that `--data` names: the JSON file itself, or a folder holding
 * annotations/instances_<split>.json. The project's split names map to COCO's as YOLO's do:
 * 'trainval' is the one instances_train*.json when there is no instances_trainval.json, and
 * 'test' is the one instances_test*.json, else the one instances_val*.json (COCO's test images
 * come without their objects, so its val set is the one to evaluate on).
 */
export function cocoDataRoot(dataPath: string, split: string): string {
  if (!isDirectory(dataPath)) return dataPath; // the JSON file (reading it says whether it is there)
  const dir = path.join(dataPath, 'annotations');
  const exact = path.join(dir, `instances_${split}.json`);
  if (fs.existsSync(exact)) return exact;
  const files = isDirectory(dir) ? fs.readdirSync(dir).filter((f) => /^instances_.+\.json$/.test(f)).sort() : [];
  const only = (prefix: string): string | null => {
    const found = files.filter((f) => f.startsWith(`instances_${prefix}`));
    return found.length === 1 ? path.join(dir, found[0]) : null;
  };
  const mapped = split === 'trainval' ? only('train') : split === 'test' ? only('test') ?? only('val') : null;
  if (mapped !== null) return mapped;
  const present = files.length === 0 ? 'none there' : `there: ${files.join(', ')}`;
  throw new Error(`${dataPath}: no COCO instances file for split "${split}": looked for ${exact} (${present})`);
}

/** The folders an instances file's images may be in, in the order they are tried. */
function imageFolderCandidates(jsonPath: string): string[] {
  const dir = path.dirname(jsonPath);
  const candidates = [path.join(dir, 'images'), dir];
  const split = splitOfJson(jsonPath);
  if (split !== null && path.basename(dir) === 'annotations') {
    const root = path.dirname(dir);
    candidates.push(path.join(root, split), path.join(root, 'images', split)); // COCO's own layout; Ultralytics' copy of it
  }
  return candidates;
}

/**
 * The folder the images are in: the first candidate (see readCocoDataset) that holds the first
 * image, else the first that holds any. Decided once for the data set, so that images are never
 * taken from two folders.
 */
function findImageFolder(jsonPath: string, images: readonly CocoImage[]): string {
  const candidates = imageFolderCandidates(jsonPath).filter(isDirectory);
  for (const some of [images.slice(0, 1), images]) {
    for (const dir of candidates) {
      if (some.some((im) => fs.existsSync(path.join(dir, im.fileName)))) return dir;
    }
  }
  const first = images.length > 0 ? images[0].fileName : '(no images)';
  throw new Error(`${jsonPath}: found none of its images (the first is ${first}) in ${imageFolderCandidates(jsonPath).join(', ')}; give the image folder with --images`);
}

export interface CocoReadOptions {
  /** The folder of the images (the CLI's --images). Default: found, see readCocoDataset. */
  images?: string;
  /** The class list (background first) to map categories to, by name; default the file's categories. */
  classes?: readonly string[];
  /**
   * Keep images without objects (or with only crowd regions). Evaluation wants them (detections
   * there are false positives). Training leaves them out with one warning that counts them:
   * COCO's train set has about a thousand, so they are no sign of a mistake as in VOC.
   */
  allowEmpty?: boolean;
  /** Skip images whose entry, annotations or file is bad, listing them at the end (as readVocDataset). */
  skipBad?: boolean;
  /** Where warnings go (dropped and clamped boxes, images left out, skipped). Default console.warn. */
  warn?: (message: string) => void;
  /** Images above decode.maxPixels are refused from their header here already. */
  decode?: DecodeOptions;
}

export interface CocoDataset {
  /** The split, from the file name (instances_<split>.json), else the file name without .json. */
  split: string;
  classes: string[];
  categoryIds: number[];
  samples: Sample[];
  /** The folder the images were found in. */
  imagesDir: string;
}

/**
 * Every image of a COCO instances file with its objects (see parseCocoInstances), its file found
 * and its header read (format and size must fit the JSON's width and height). The images are in
 * options.images when given, else the first of these folders that holds them:
 *   <dir of json>/images/, <dir of json>/, and, for <root>/annotations/instances_<split>.json,
 *   <root>/<split>/ (COCO's layout) and <root>/images/<split>/.
 * Images are not decoded here; loadSampleImage reads one.
 */
export function readCocoDataset(jsonPath: string, options: CocoReadOptions = {}): CocoDataset {
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const split = splitOfJson(jsonPath) ?? path.basename(jsonPath).replace(/\.json$/i, '');
  const parsed = parseCocoInstances(readCocoJson(jsonPath), jsonPath, { classes: options.classes, skipBad: options.skipBad });
  const skipped = [...parsed.bad.values()];
  const total = parsed.images.length + parsed.bad.size;
  let imagesDir: string;
  if (options.images !== undefined) {
    if (!isDirectory(options.images)) throw new Error(`--images ${options.images}: not a folder`);
    imagesDir = options.images;
  } else {
    imagesDir = parsed.images.length === 0 ? path.dirname(jsonPath) : findImageFolder(jsonPath, parsed.images); // none: "no usable image" below
  }

  const samples: Sample[] = [];
  let empty = 0;
  for (const image of parsed.images) {
    const objects = parsed.objects.get(image.id) ?? [];
    if (options.allowEmpty !== true && trainingObjects({ objects }).length === 0) {
      empty++;
      continue;
    }
    const imagePath = path.join(imagesDir, image.fileName);
    try {
      const header = readImageHeader(imagePath, options.decode);
      if (header.width !== image.width || header.height !== image.height) {
        const turned = header.orientation !== null && header.orientation >= 5 && header.width === image.height && header.height === image.width;
        throw new Error(
          `${imagePath}: image is ${header.width}x${header.height} but ${jsonPath} says ${image.width}x${image.height} (image id ${image.id})` +
            (turned ? ` (its EXIF orientation ${header.orientation} turns it by 90 degrees, which is not applied: annotations must measure the stored pixels)` : ''),
        );
      }
      samples.push({ imagePath, annotationPath: jsonPath, width: image.width, height: image.height, objects, imageId: image.id });
    } catch (e) {
      if (options.skipBad !== true) throw e;
      skipped.push((e as Error).message);
    }
  }
  if (parsed.droppedBoxes > 0) {
    warn(`${jsonPath}: ${parsed.droppedBoxes} box(es) with a zero or negative width or height (or wholly outside their image) were left out`);
  }
  if (parsed.clampedBoxes > 0) {
    warn(`${jsonPath}: ${parsed.clampedBoxes} box(es) in ${parsed.clampedImages} image(s) reached past their image and were clamped to it`);
  }
  if (empty > 0) {
    warn(`${jsonPath}: left out ${empty} of ${total} images without objects (or with only crowd regions) from training (--allow-empty keeps them)`);
  }
  if (skipped.length > 0) {
    warn(`${jsonPath}: skipped ${skipped.length} of ${total} images:\n${skipped.map((m) => `  ${m}`).join('\n')}`);
  }
  if (samples.length === 0) {
    throw new Error(`${jsonPath}: no usable image (${total} in the file, ${skipped.length} skipped, ${empty} without objects)`);
  }
  return { split, classes: parsed.classes, categoryIds: parsed.categoryIds, samples, imagesDir };
}

/**
 * The class list of an instances file: 'background', then its categories sorted by id. The whole
 * file is checked (a file that is wrong elsewhere is better said now than later), except, with
 * skipBad, the errors of single images, which readCocoDataset then lists.
 */
export function readCocoClassNames(jsonPath: string, options: { skipBad?: boolean } = {}): string[] {
  return parseCocoInstances(readCocoJson(jsonPath), jsonPath, { skipBad: options.skipBad }).classes;
}

export interface CocoWriteOptions {
  /** 'png' (default, lossless) or 'jpeg', as writeVocDataset. */
  imageFormat?: 'png' | 'jpeg';
  /** JPEG quality 1..100, default 95. */
  jpegQuality?: number;
  /** Where the images go; default <dir of json>/images (found there by readCocoDataset). */
  imagesDir?: string;
  /**
   * The COCO id of each class, as CocoDataset.categoryIds (index 0, the background, is not
   * written). Default 1, 2, ..., K.
   */
  categoryIds?: readonly number[];
}

/** An image to write; imageId defaults to its place (1, 2, ...), fileName to the 12-digit id as COCO's. */
export type CocoWriteItem = LabeledImage & { imageId?: number; fileName?: string };

/**
 * A pixel coordinate computed from a fraction: within a millionth of a pixel of a whole number,
 * that whole number. Fractions made from whole pixels (k / W) come back as k * W / W, which
 * floating point may leave an ulp away from k; written as k, they read back exactly as they were.
 */
function snapPixel(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - r) < 1e-6 ? r : v;
}

/**
 * Write images and their objects as a COCO instances file, so that readCocoDataset reads them
 * back: the images first (into options.imagesDir, default <dir of json>/images), the JSON last,
 * each file written atomically. area is the object's own where set, else its box's in pixels;
 * iscrowd its crowd flag. COCO has no 'difficult': a difficult object is an error here, not
 * silently made an ordinary one. No segmentation is written (box evaluation needs none).
 * Returns the samples as readCocoDataset will see them.
 */
export function writeCocoDataset(jsonPath: string, items: readonly CocoWriteItem[], classes: readonly string[], options: CocoWriteOptions = {}): Sample[] {
  const format = options.imageFormat ?? 'png';
  const quality = options.jpegQuality ?? 95;
  const imagesDir = options.imagesDir ?? path.join(path.dirname(jsonPath), 'images');
  const categoryIds = options.categoryIds ?? classes.map((_, k) => (k === 0 ? NO_CATEGORY : k));
  if (categoryIds.length !== classes.length) throw new Error(`writeCocoDataset: ${categoryIds.length} category ids for ${classes.length} classes`);
  const categories = classes.slice(1).map((name, k) => ({ id: categoryIds[k + 1], name }));
  const images: JsonObject[] = [];
  const annotations: JsonObject[] = [];
  items.forEach((item, k) => {
    const imageId = item.imageId ?? k + 1;
    const ext = format === 'png' ? 'png' : 'jpg';
    const fileName = item.fileName ?? `${String(imageId).padStart(12, '0')}.${ext}`;
    const { image, objects } = item;
    const source = `writeCocoDataset: image ${fileName}`;
    validateObjects(objects, source, classes.length);
    objects.forEach((o, i) => {
      if (o.difficult) throw new Error(`${source}: object ${i} is 'difficult', which COCO cannot say`);
      const [x1, y1, x2, y2] = o.boxXy.map((v, c) => snapPixel(v * (c % 2 === 0 ? image.width : image.height)));
      annotations.push({
        id: annotations.length + 1,
        image_id: imageId,
        category_id: categoryIds[o.label],
        bbox: [x1, y1, x2 - x1, y2 - y1],
        area: o.area ?? (x2 - x1) * (y2 - y1),
        iscrowd: o.crowd === true ? 1 : 0,
      });
    });
    const bytes = format === 'png' ? encodePng(image) : encodeJpeg(image, quality);
    writeFileAtomic(path.join(imagesDir, fileName), bytes, 'image', { createDirectory: true });
    images.push({ id: imageId, file_name: fileName, width: image.width, height: image.height });
  });
  const json: JsonObject = { info: { description: 'written by ssd300-ts' }, licenses: [], images, annotations, categories };
  // Check it as the reader will (duplicate ids, bad names) before it is written: read back as is.
  const parsed = parseCocoInstances(json, jsonPath, { classes });
  // One entry a line: a file a person can read and diff.
  const lines = (key: string, list: readonly Json[]): string => `"${key}": [\n${list.map((e) => `  ${JSON.stringify(e)}`).join(',\n')}\n]`;
  const text = `{\n"info": ${JSON.stringify(json.info)},\n"licenses": [],\n${lines('images', images)},\n${lines('annotations', annotations)},\n${lines('categories', categories)}\n}\n`;
  writeFileAtomic(jsonPath, text, 'COCO annotation file', { createDirectory: true });
  return parsed.images.map((im) => ({
    imagePath: path.join(imagesDir, im.fileName),
    annotationPath: jsonPath,
    width: im.width,
    height: im.height,
    objects: parsed.objects.get(im.id) ?? [],
    imageId: im.id,
  }));
}
