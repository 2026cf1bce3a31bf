// The class names of a model: what a weights file says (its 'classes' metadata, a JSON list with
// 'background' first, written by `ssd train`), else VOC's for 21 classes, else 'class 1',
// 'class 2', ... One function, used by the CLI (cli/model_files.ts) and the page (web/model.ts),
// so a file names its classes the same way everywhere. No Node-only module here: the page bundles it.

/** Background, then the 20 VOC classes in the standard order: label k is VOC_CLASSES[k]. */
export const VOC_CLASSES: readonly string[] = [
  'background',
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
];

/** A weights file's 'classes' metadata: a JSON list of strings, or an error naming the file. */
export function parseClassNames(text: string, file: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: metadata 'classes' is not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(parsed) || !parsed.every((c) => typeof c === 'string')) {
    throw new Error(`${file}: metadata 'classes' must be a JSON list of strings, got '${text.slice(0, 60)}'`);
  }
  return parsed as string[];
}

/**
 * The class names of a model of `nClasses` classes (the background included) read from `file`:
 * its metadata's list, else VOC's for 21 classes, else 'class 1', 'class 2', ...; a list of another
 * length than the weights' is an error, not a silent misnaming.
 */
export function classNamesOfWeights(metadata: Readonly<Record<string, string>>, nClasses: number, file: string): string[] {
  let classes: string[];
  if (metadata.classes !== undefined) {
    classes = parseClassNames(metadata.classes, file);
  } else if (nClasses === VOC_CLASSES.length) {
    classes = [...VOC_CLASSES];
  } else {
    classes = ['background', ...Array.from({ length: nClasses - 1 }, (_, i) => `class ${i + 1}`)];
  }
  if (classes.length !== nClasses) throw new Error(`${file}: metadata names ${classes.length} classes but the weights have ${nClasses}`);
  return classes;
}
