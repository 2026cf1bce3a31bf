// The options of every `ssd` command, declared once: name, kind of value, default, check and help
// text. Everything else comes from this table: parsing (parseCommandLine), the checks that run on
// every given value before a command does any work, `ssd help` and `ssd <command> --help`
// (cli/help.ts), and the README's command table (`ssd help --markdown`, held to the README by a test).
//
// An option shared by several commands is one constant below (DATA, SPLIT, WEIGHTS, ...); a command
// that needs another default or help text spreads it and overrides that field.

import * as os from 'os';
import { parseArgs } from 'util';
import { BACKEND_NAMES } from '../kernels/select';
import { CONV_ALGORITHMS } from '../kernels/wasm';
import { WIDTH_DIVISORS } from '../ssd/ssd300';
import { SCHEDULE_KINDS } from '../train/schedule';
import { VOC_CLASSES, checkClassName } from '../data/voc';
import { SYNTHETIC_CLASSES } from '../data/synthetic';
import { DEFAULT_MAX_PIXELS } from '../data/image_files';
import { DATASET_FORMATS } from '../data/dataset';

/**
 * The kinds of value, each with its own check:
 * flag: present or not; text: any non-empty string; count: an integer >= 1; integer: an integer
 * (within min..max when given); positive: a number > 0; number: a finite number (within
 * min..max when given); fraction: a number from 0 to 1; choice: one of `choices`.
 */
export type OptionKind = 'flag' | 'text' | 'count' | 'integer' | 'positive' | 'number' | 'fraction' | 'choice';

export interface OptionSpec {
  kind: OptionKind;
  /** The value's name in the help (FILE, N, S); flags have none. */
  value?: string;
  /** What the option does, one short line. */
  help: string;
  /** The default, used by the command when the option is absent and printed in the help. */
  default?: string | number;
  /** The default in words, where it depends on other options ("8; with --batch-norm 16"). */
  defaultText?: string;
  /** The command fails without it. */
  required?: boolean;
  choices?: readonly string[];
  /** Inclusive bounds for integer and number. */
  min?: number;
  max?: number;
  /** A valid value to show (and test the check with) where the default is not one. */
  example?: string;
  /** A further check of the raw text (throws an Error whose message starts with --name). */
  check?: (raw: string, name: string) => void;
}

export interface CommandSpec {
  /** The command line's shape, e.g. 'detect IMAGE..'. */
  usage: string;
  /** One or two lines: what the command does. */
  summary: string;
  /** Positional arguments: how many it takes. */
  positionals: { min: number; max: number };
  /** The command's own options; the backend options (COMMON) are added unless `passThrough`. */
  options: Record<string, OptionSpec>;
  /** The arguments go as they are to another program (bench): only listed for the help. */
  passThrough?: boolean;
  examples: string[];
}

// ---- options that several commands share ----

const BACKEND: OptionSpec = { kind: 'choice', value: 'B', choices: BACKEND_NAMES, help: 'the kernels', defaultText: '$SSD_BACKEND, else wasm where WebAssembly SIMD works, else cpu' };
const THREADS: OptionSpec = {
  kind: 'count', value: 'N', help: 'threads of the wasm and cpu kernels', defaultText: 'all cores',
  // more threads than cores only slow the kernels down, and each is a worker with memory of its
  // own: `--threads 100000` failed on every image
  check: (raw, name) => {
    const cores = Math.max(1, os.availableParallelism());
    if (Number(raw) > cores) throw new Error(`--${name}: expected 1 to ${cores} (the cores of this machine), got '${raw}'`);
  },
};
const CONV_ALGORITHM: OptionSpec = { kind: 'choice', value: 'A', choices: CONV_ALGORITHMS, defaultText: 'auto on wasm', help: 'wasm: 3x3 stride-1 convolutions by Winograd where it pays (auto), wherever it applies, or never' };

/** What every command but bench takes: which kernels run it. */
export const COMMON: Record<string, OptionSpec> = { backend: BACKEND, threads: THREADS, 'conv-algorithm': CONV_ALGORITHM };

const WEIGHTS: OptionSpec = { kind: 'text', value: 'FILE', required: true, help: 'the model: a .safetensors file of `ssd train` (or PyTorch, same names)' };
const DATA: OptionSpec = {
  kind: 'text', value: 'PATH', required: true,
  help: 'the data set: a Pascal VOC root, a COCO instances JSON (or a folder with annotations/instances_SPLIT.json), or a YOLO data.yaml (or its folder)',
};
const SPLIT: OptionSpec = {
  kind: 'text', value: 'S', default: 'trainval',
  help: "the split: VOC's ImageSets/Main/S.txt, YOLO's data.yaml key, COCO's instances_S.json (trainval: train; test: test, else val)",
};
const FORMAT: OptionSpec = { kind: 'choice', value: 'F', choices: DATASET_FORMATS, defaultText: 'recognised from --data', help: 'the layout of the data set' };
const IMAGES: OptionSpec = { kind: 'text', value: 'DIR', defaultText: "images/ beside the JSON, its folder, or the COCO root's SPLIT/", help: 'COCO: the folder of the images' };
const CLASSES: OptionSpec = {
  kind: 'text', value: 'voc|synthetic|a,b,c', help: 'the object classes', defaultText: 'the names in the annotations, sorted', example: 'cat,dog',
  check: (raw) => void classList(raw),
};
const ALLOW_EMPTY: OptionSpec = { kind: 'flag', help: 'keep images whose annotation has no object (background only)' };
const SKIP_BAD: OptionSpec = { kind: 'flag', help: 'skip images with a bad annotation or no image file, and list them, instead of stopping' };
const MAX_PIXELS: OptionSpec = { kind: 'count', value: 'N', default: DEFAULT_MAX_PIXELS, help: 'larger images are refused before they are decoded' };
const SEED: OptionSpec = { kind: 'integer', value: 'S', default: 0, help: 'the random seed' };
const MIN_SCORE: OptionSpec = { kind: 'fraction', value: 'S', default: 0.5, help: 'keep detections scoring at least this' };
const MAX_OVERLAP: OptionSpec = { kind: 'fraction', value: 'O', default: 0.45, help: 'NMS: a box overlapping a kept one of its class by more (IoU) is dropped' };
const TOP_K: OptionSpec = { kind: 'count', value: 'K', default: 200, help: 'keep at most this many detections per image' };
const WIDTH_DIVISOR: OptionSpec = {
  kind: 'choice', value: 'D', choices: WIDTH_DIVISORS.map(String), default: 1, help: 'every layer with its channels divided by D (a smaller, faster model)',
};

/** --checkpoint-every: a number of steps (500) or minutes (10m). */
function checkEvery(raw: string, name: string): void {
  const minutes = /^([0-9.]+)m$/.exec(raw);
  const value = Number(minutes === null ? raw : minutes[1]);
  if (!(value > 0 && Number.isFinite(value)) || (minutes === null && !Number.isInteger(value))) {
    throw new Error(`--${name}: expected a number of steps (500) or minutes (10m), got '${raw}'`);
  }
}

export const AUGMENT_STEP_NAMES = ['photometric', 'expand', 'crop', 'flip'] as const;

/** --augment: all, or a list of the augmentation steps. */
function checkAugment(raw: string, name: string): void {
  const names = raw === 'all' ? [] : raw.split(',').map((s) => s.trim());
  for (const step of names) {
    if (!(AUGMENT_STEP_NAMES as readonly string[]).includes(step)) throw new Error(`--${name}: expected all or a list of ${AUGMENT_STEP_NAMES.join(', ')}, got '${step}'`);
  }
}

/** --point X,Y and --cell ROW,COL: two numbers. */
export function pair(raw: string, name: string): [number, number] {
  const parts = raw.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
  if (parts.length !== 2 || !parts.every(Number.isFinite)) throw new Error(`--${name}: expected two numbers A,B, got '${raw}'`);
  return [parts[0], parts[1]];
}

// ---- the commands ----

export const COMMANDS = {
  summary: {
    usage: 'summary',
    summary: 'layers, output shapes, parameters and multiply-adds of SSD300',
    positionals: { min: 0, max: 0 },
    options: {
      classes: {
        kind: 'integer', value: 'N', default: 21, help: 'classes, the background included',
        check: (raw, name) => {
          if (Number(raw) < 2) throw new Error(`--${name}: expected the number of classes with the background, at least 2, got '${raw}'`);
        },
      },
      'width-divisor': WIDTH_DIVISOR,
      batch: { kind: 'count', value: 'B', default: 1, help: 'images per batch (for the shapes and MACs)' },
    },
    examples: ['ssd summary', 'ssd summary --classes 4 --width-divisor 16'],
  },
  detect: {
    usage: 'detect IMAGE..',
    summary: 'detect objects in PNG/JPEG images; prints boxes in pixels (clipped to the image), writes annotated PNGs;\n' +
      'a bad image is reported and the others go on (the exit code is 1 if any failed)',
    positionals: { min: 1, max: Infinity },
    options: {
      weights: WEIGHTS,
      'min-score': MIN_SCORE,
      'max-overlap': MAX_OVERLAP,
      'top-k': TOP_K,
      out: { kind: 'text', value: 'DIR', default: 'detections', help: 'where IMAGE.detections.png go (two inputs with one name keep their extensions)' },
      'max-pixels': MAX_PIXELS,
    },
    examples: ['ssd detect photo.jpg --weights ssd300.safetensors', 'ssd detect images/*.png --weights ssd300.safetensors --min-score 0.3 --out found/'],
  },
  train: {
    usage: 'train',
    summary: 'train SSD300 on a data set (VOC, COCO or YOLO layout); checkpoints are weights files, and a run can be resumed exactly',
    positionals: { min: 0, max: 0 },
    options: {
      data: DATA,
      split: SPLIT,
      format: FORMAT,
      images: IMAGES,
      classes: CLASSES,
      out: { kind: 'text', value: 'FILE', default: 'ssd300.safetensors', help: 'the checkpoint (also a weights file); the curves go to FILE.curves.png' },
      resume: { kind: 'text', value: 'FILE', help: 'continue exactly where a checkpoint stopped' },
      'batch-norm': { kind: 'flag', help: 'a batch norm after every base and auxiliary conv: trains from scratch' },
      'width-divisor': WIDTH_DIVISOR,
      epochs: { kind: 'count', value: 'E', defaultText: '1; with --max-minutes alone, as many as fit', help: 'passes over the data set' },
      batch: { kind: 'count', value: 'B', defaultText: '8; with --batch-norm 16', help: 'images per step' },
      'max-minutes': { kind: 'positive', value: 'M', help: 'train this long (the schedule fits the time)' },
      'max-steps': { kind: 'count', value: 'N', help: 'stop after this step (the schedule follows --epochs, or --max-minutes if it ends first)' },
      lr: { kind: 'positive', value: 'LR', defaultText: '1e-3; with --batch-norm 0.01 x batch / 16', help: 'the learning rate after the warm-up' },
      schedule: { kind: 'choice', value: 'S', choices: SCHEDULE_KINDS, default: 'cosine', help: 'the learning rate over the run' },
      warmup: { kind: 'integer', value: 'W', min: 0, defaultText: '100; with --batch-norm, --warmup-share', help: 'warm-up steps (the rate rises linearly from 0)' },
      'warmup-share': { kind: 'fraction', value: 'F', defaultText: 'with --batch-norm 0.05', help: 'the warm-up as a share of the run, instead of --warmup', check: (raw, name) => {
        if (!(Number(raw) < 1)) throw new Error(`--${name}: expected a share of the run below 1, got '${raw}'`);
      } },
      'head-init': { kind: 'choice', value: 'I', choices: ['xavier', 'normal'], defaultText: 'xavier; with --batch-norm normal (std 0.01)', help: 'initial weights of the prediction convs' },
      augment: { kind: 'text', value: 'all|photometric,expand,crop,flip', defaultText: 'all; with --batch-norm crop,flip', help: 'which augmentations', example: 'crop,flip', check: checkAugment },
      'no-augment': { kind: 'flag', help: 'no augmentation at all' },
      'max-grad-norm': { kind: 'positive', value: 'G', default: 10, help: 'clip the gradient to this norm' },
      seed: SEED,
      workers: { kind: 'integer', value: 'N', min: 0, max: 16, default: 2, help: 'threads that decode and augment the next batches (0: none)' },
      'cache-mb': { kind: 'number', value: 'M', min: 0, default: 2048, help: 'megabytes of decoded images kept in memory (0: none)' },
      profile: { kind: 'flag', help: 'per step: waiting for data, forward, loss, backward, optimizer, cores busy' },
      'checkpoint-every': { kind: 'text', value: 'N|Mm', defaultText: 'at the end, on Ctrl-C and every epoch', help: "write the checkpoint every N steps, or M minutes with 'm' (500, 10m)", example: '10m', check: checkEvery },
      'eval-every': { kind: 'count', value: 'E', help: 'evaluate mAP every E epochs (on --eval-split)' },
      'eval-split': { ...SPLIT, default: 'test', help: 'the split evaluated by --eval-every' },
      'eval-data': { kind: 'text', value: 'PATH', defaultText: '--data (a COCO JSON file holds one split: give the test file)', help: 'the data set evaluated by --eval-every, in the same layout' },
      diagnose: { kind: 'count', value: 'N', help: 'print per-layer statistics for the first N steps' },
      'base-init': { kind: 'choice', value: 'I', choices: ['kaiming', 'pytorch'], default: 'kaiming', help: 'initial weights of the VGG base (kaiming trains from scratch)' },
      'allow-empty': ALLOW_EMPTY,
      'skip-bad': SKIP_BAD,
      'max-pixels': MAX_PIXELS,
    },
    examples: [
      'ssd make-synthetic --out shapes && ssd train --data shapes --batch-norm --width-divisor 16 --epochs 6',
      'ssd train --data VOCdevkit/VOC2007 --classes voc --max-minutes 60 --checkpoint-every 10m',
      'ssd train --data real-set --batch-norm --width-divisor 8 --max-minutes 15 --eval-every 5 --profile',
      'ssd train --data shapes --resume ssd300.safetensors --epochs 12',
    ],
  },
  'augment-preview': {
    usage: 'augment-preview',
    summary: 'write a PNG of training images as the augmentations make them, with their boxes',
    positionals: { min: 0, max: 0 },
    options: {
      data: DATA,
      split: SPLIT,
      format: FORMAT,
      images: IMAGES,
      classes: CLASSES,
      count: { kind: 'count', value: 'N', default: 8, help: 'images in the picture' },
      seed: SEED,
      out: { kind: 'text', value: 'FILE', default: 'augmented.png', help: 'the picture' },
      'allow-empty': ALLOW_EMPTY,
      'skip-bad': SKIP_BAD,
      'max-pixels': MAX_PIXELS,
    },
    examples: ['ssd augment-preview --data shapes --count 8 --out augmented.png'],
  },
  eval: {
    usage: 'eval',
    summary: "a model's VOC mAP and COCO AP on a data set (minScore 0.01, NMS 0.45, top 200); images without objects count their false positives",
    positionals: { min: 0, max: 0 },
    options: {
      weights: WEIGHTS,
      data: DATA,
      split: { ...SPLIT, default: 'test' },
      format: FORMAT,
      images: IMAGES,
      metric: { kind: 'choice', value: 'M', choices: ['voc07', 'coco', 'all'], default: 'all', help: "VOC's mAP at IoU 0.5, COCO's 12 box metrics (AP at IoU 0.50:0.95, ...), or both" },
      method: { kind: 'choice', value: 'M', choices: ['11point', 'area'], default: '11point', help: "VOC's AP: VOC2007's 11-point, or the area under the curve (VOC2010 on)" },
      'detections-out': { kind: 'text', value: 'FILE.json', help: "write the detections in COCO's results format (image_id, category_id, bbox [x, y, w, h] in pixels, score)" },
      plot: { kind: 'text', value: 'FILE.png', help: "draw each class's precision-recall curve at IoU 0.5, with its AP" },
      'skip-bad': SKIP_BAD,
      'max-pixels': MAX_PIXELS,
    },
    examples: [
      'ssd eval --weights ssd300.safetensors --data shapes',
      'ssd eval --weights ssd300.safetensors --data VOCdevkit/VOC2007 --split test --metric voc07 --method area',
      'ssd eval --weights ssd300.safetensors --data coco/annotations/instances_val2017.json --metric coco --detections-out results.json --plot pr.png',
    ],
  },
  'make-synthetic': {
    usage: 'make-synthetic',
    summary: 'write a synthetic data set (circles, squares, triangles) in the VOC, COCO or YOLO layout',
    positionals: { min: 0, max: 0 },
    options: {
      out: { kind: 'text', value: 'ROOT', required: true, help: 'the data set\'s folder' },
      format: { kind: 'choice', value: 'F', choices: DATASET_FORMATS, default: 'voc', help: 'the layout: VOC (trainval, test), COCO (annotations/instances_train.json, _test.json) or YOLO (data.yaml: train, test)' },
      train: { kind: 'count', value: 'N', default: 200, help: 'images in the trainval split' },
      test: { kind: 'count', value: 'N', default: 50, help: 'images in the test split' },
      seed: SEED,
      'max-objects': { kind: 'count', value: 'K', default: 3, help: 'objects per image, at most' },
      'min-side': { kind: 'fraction', value: 'F', default: 0.1, help: 'the smallest object side, a fraction of the image' },
      'max-side': { kind: 'fraction', value: 'F', default: 0.6, help: 'the largest object side, a fraction of the image' },
    },
    examples: ['ssd make-synthetic --out shapes', 'ssd make-synthetic --out shapes-coco --format coco', 'ssd make-synthetic --out small-shapes --max-objects 6 --min-side 0.05 --max-side 0.3'],
  },
  bench: {
    usage: 'bench',
    summary: 'benchmarks: the kernels, then the whole network, GFLOP/s and share of this machine\'s peak (the options go to both)',
    positionals: { min: 0, max: 0 },
    passThrough: true,
    options: {
      quick: { kind: 'flag', help: 'a short run, under a minute' },
      json: { kind: 'text', value: 'FILE', help: 'also write the results as JSON' },
      backends: { kind: 'text', value: 'a,b', help: 'the backends of the network benchmark (wasm:gemm, wasm:auto, cpu, ...)' },
      threads: { kind: 'text', value: '1,2', help: 'the thread counts of the kernel benchmark' },
    },
    examples: ['ssd bench --quick', 'ssd bench --json bench.json'],
  },
  explain: {
    usage: 'explain WHAT [IMAGE]',
    summary: 'draw one idea of SSD as a PNG (WHAT: priors, matching, mining or detection), on IMAGE or on a plain background',
    positionals: { min: 1, max: 2 },
    options: {
      out: { kind: 'text', value: 'FILE.png', required: true, help: 'the picture' },
      map: { kind: 'text', value: 'M', default: 'all', help: 'priors: the feature map (conv4_3 .. conv11_2) or all' },
      cell: { kind: 'text', value: 'ROW,COL', help: 'priors: one cell of the map', example: '3,4', check: (raw, name) => void pair(raw, name) },
      point: { kind: 'text', value: 'X,Y', help: 'priors: the cell under this point (fractions of the image)', example: '0.5,0.5', check: (raw, name) => void pair(raw, name) },
      annotation: { kind: 'text', value: 'VOC.xml', help: 'matching, mining, detection: the objects (else an example scene)' },
      data: { ...DATA, required: false, help: 'instead of --annotation: the objects of IMAGE (else of its first image) in a data set of any layout' },
      split: SPLIT,
      format: FORMAT,
      images: IMAGES,
      'skip-bad': SKIP_BAD,
      'max-pixels': MAX_PIXELS,
      classes: { ...CLASSES, defaultText: "the --weights file's, else voc" },
      weights: { ...WEIGHTS, required: false, help: 'mining, detection: the model (else made-up predictions)' },
      'min-score': { ...MIN_SCORE, default: 0.3, help: 'detection: keep detections scoring at least this' },
      'max-overlap': { ...MAX_OVERLAP, help: 'detection: the NMS overlap' },
      'top-k': { ...TOP_K, help: 'detection: at most this many boxes' },
    },
    examples: ['ssd explain priors --map conv9_2 --out priors.png', 'ssd explain matching photo.jpg --annotation photo.xml --out matching.png', 'ssd explain matching --data shapes-coco --split test --out matching.png', 'ssd explain detection photo.jpg --weights ssd300.safetensors --out detection.png'],
  },
} satisfies Record<string, CommandSpec>;

export type CommandName = keyof typeof COMMANDS;

export function isCommandName(name: string): name is CommandName {
  return Object.prototype.hasOwnProperty.call(COMMANDS, name);
}

/** A command's options, the common ones included (bench has none of them: its options go elsewhere). */
export function optionsOf(name: CommandName): Record<string, OptionSpec> {
  const spec: CommandSpec = COMMANDS[name];
  return spec.passThrough === true ? spec.options : { ...spec.options, ...COMMON };
}

// ---- parsing ----

/**
 * A number written in decimal (1, -2.5, 1e-3), else NaN: `Number` alone would also take '0x10',
 * '0b1', ' 7 ' and '' (as 0), which no one means on a command line (Python's argparse refuses them too).
 */
export function decimal(raw: string): number {
  return /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(raw) ? Number(raw) : NaN;
}

/** Throw unless `raw` is a valid value of the option (the table's kind, bounds and check). */
export function checkOption(name: string, spec: OptionSpec, raw: string): void {
  const fail = (expected: string): never => {
    throw new Error(`--${name}: expected ${expected}, got '${raw}'`);
  };
  const n = decimal(raw);
  const bounds = (what: string): string =>
    spec.min !== undefined && spec.max !== undefined ? `${what} from ${spec.min} to ${spec.max}` : spec.min === 0 ? `a non-negative ${what}` : spec.min !== undefined ? `${what === 'an integer' ? 'an integer' : 'a number'} of at least ${spec.min}` : what;
  switch (spec.kind) {
    case 'flag':
      break;
    case 'text':
      if (raw === '') fail('a value');
      break;
    case 'count':
      if (!(Number.isInteger(n) && n >= 1)) fail('a positive integer');
      break;
    case 'integer':
      if (!Number.isInteger(n) || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) fail(bounds(spec.min === 0 && spec.max === undefined ? 'integer' : 'an integer'));
      break;
    case 'positive':
      if (!(Number.isFinite(n) && n > 0)) fail('a positive number');
      break;
    case 'number':
      if (!Number.isFinite(n) || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) fail(bounds(spec.min === 0 && spec.max === undefined ? 'number' : 'a number'));
      break;
    case 'fraction':
      if (!(Number.isFinite(n) && n >= 0 && n <= 1)) fail('a number from 0 to 1');
      break;
    case 'choice':
      if (!(spec.choices ?? []).includes(raw)) fail(`one of ${(spec.choices ?? []).join(', ')}`);
      break;
  }
  spec.check?.(raw, name);
}

/**
 * The options of one command line, checked: every value given was checked against the table when
 * this was made, so reading one cannot fail (but for an option the command does not declare: a
 * bug, said as such).
 */
export class ParsedOptions {
  constructor(
    readonly command: CommandName,
    private readonly specs: Record<string, OptionSpec>,
    private readonly values: Record<string, string | boolean | undefined>,
  ) {}

  private spec(name: string): OptionSpec {
    const spec = this.specs[name];
    if (spec === undefined) throw new Error(`internal: ssd ${this.command} reads --${name}, which its option table does not declare`);
    return spec;
  }

  /** Whether the option was given on the command line. */
  given(name: string): boolean {
    this.spec(name);
    return this.values[name] !== undefined;
  }

  flag(name: string): boolean {
    this.spec(name);
    return this.values[name] === true;
  }

  /** The text given, else the table's default (as text), else undefined. */
  text(name: string): string | undefined {
    const spec = this.spec(name);
    const raw = this.values[name];
    if (typeof raw === 'string') return raw;
    return spec.default === undefined ? undefined : String(spec.default);
  }

  /** An option the command cannot do without (the table says `required`). */
  required(name: string): string {
    const v = this.text(name);
    if (v === undefined) throw new Error(`${this.command}: --${name} is required (see \`ssd ${this.command} --help\`)`);
    return v;
  }

  /** The number given, else the table's default, else undefined. */
  number(name: string): number | undefined {
    const v = this.text(name);
    return v === undefined ? undefined : decimal(v);
  }
}

/**
 * `--batch -4` as `--batch=-4`: util.parseArgs takes a value that starts with '-' for an option
 * and refuses it, so a negative number would get a message about option syntax rather than the
 * option's own check ("--batch: expected a positive integer, got '-4'").
 */
function valuesGlued(args: readonly string[], specs: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : '';
    const next = args[i + 1];
    if (specs[name] !== undefined && specs[name].kind !== 'flag' && next !== undefined && /^-[0-9.]/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/**
 * Parse and check one command's arguments against its table: an option the command does not take
 * is an error that names it (and says which command would), and so is a bad value, a missing
 * required option, or the wrong number of positional arguments. Nothing has run yet.
 */
export function parseCommandLine(command: CommandName, args: readonly string[]): { options: ParsedOptions; positionals: string[] } {
  const specs = optionsOf(command);
  for (const arg of args) {
    const name = /^--([^=]+)/.exec(arg)?.[1];
    if (name !== undefined && specs[name] === undefined && name !== 'help') {
      const others = (Object.keys(COMMANDS) as CommandName[]).filter((c) => optionsOf(c)[name] !== undefined);
      throw new Error(`${command}: unknown option --${name}${others.length > 0 ? ` (${others.map((c) => `ssd ${c}`).join(', ')} take${others.length === 1 ? 's' : ''} it)` : ''} (see \`ssd ${command} --help\`)`);
    }
  }
  const parseOptions: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(specs)) parseOptions[name] = { type: spec.kind === 'flag' ? 'boolean' : 'string' };
  const { values, positionals } = parseArgs({ args: valuesGlued(args, specs), options: parseOptions, allowPositionals: true, strict: true });
  for (const [name, spec] of Object.entries(specs)) {
    const raw = values[name];
    if (typeof raw === 'string') checkOption(name, spec, raw);
  }
  const shape: CommandSpec = COMMANDS[command];
  if (positionals.length > shape.positionals.max) {
    throw new Error(`${command}: unexpected argument '${positionals[shape.positionals.max]}' (see \`ssd ${command} --help\`)`);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required === true && values[name] === undefined) throw new Error(`${command}: --${name} is required (see \`ssd ${command} --help\`)`);
  }
  return { options: new ParsedOptions(command, specs, values), positionals };
}

/**
 * --classes: 'voc', 'synthetic' or a comma-separated list of object class names; 'background'
 * (class 0) is put first. A name given twice would make two classes of one name (the second never
 * learned), and a list of 'background' alone no class to detect: both are errors.
 */
export function classList(spec: string): string[] {
  if (spec === 'voc') return [...VOC_CLASSES];
  if (spec === 'synthetic') return [...SYNTHETIC_CLASSES];
  const names = spec.split(',').map((s) => s.trim());
  if (names.length === 0 || names.some((n) => n === '')) throw new Error(`--classes: expected voc, synthetic or a comma-separated list, got '${spec}'`);
  for (const name of names) checkClassName(name, '--classes');
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw new Error(`--classes: '${twice}' is named twice`);
  const objects = names.filter((n) => n !== 'background');
  if (objects.length === 0) throw new Error(`--classes: name the classes of the objects ('background', class 0, is added by itself), got '${spec}'`);
  return ['background', ...objects];
}
