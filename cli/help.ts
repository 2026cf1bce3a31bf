// What `ssd help` and `ssd <command> --help` print: one entry per command, with its options and
// examples. The overview lists every command with its options; a command's own help adds what it
// does at more length and examples to copy.

import { BACKEND_NAMES } from '../kernels/select';

export interface CommandHelp {
  /** The command line's shape, e.g. 'detect IMAGE..'. */
  usage: string;
  /** One line: what the command does. */
  summary: string;
  /** Option lines, as printed (aligned by hand). */
  options: string[];
  examples: string[];
}

export const COMMANDS = {
  summary: {
    usage: 'summary',
    summary: 'layers, output shapes, parameters and multiply-adds of SSD300',
    options: ['--classes N (21)  --width-divisor D (1)  --batch B (1)'],
    examples: ['ssd summary', 'ssd summary --classes 4 --width-divisor 16'],
  },
  detect: {
    usage: 'detect IMAGE..',
    summary: 'detect objects in PNG/JPEG images; prints boxes in pixels (clipped to the image), writes annotated PNGs;\n' +
      'a bad image is reported and the others go on (the exit code is 1 if any failed)',
    options: [
      '--weights FILE (required)  --min-score S (0.5)  --max-overlap O (0.45)  --top-k K (200)',
      '--out DIR (detections/: IMAGE.detections.png; two inputs with one name keep their extensions)',
      '--max-pixels N (64000000: larger images are refused before decoding)',
    ],
    examples: ['ssd detect photo.jpg --weights ssd300.safetensors', 'ssd detect images/*.png --weights ssd300.safetensors --min-score 0.3 --out found/'],
  },
  train: {
    usage: 'train',
    summary: 'train on a Pascal VOC layout data set (ROOT/ImageSets/Main/SPLIT.txt, Annotations/, JPEGImages/)',
    options: [
      '--data ROOT (required)  --split S (trainval)',
      '--classes voc|synthetic|a,b,c (default: the names in the annotations, sorted)',
      '--out FILE (ssd300.safetensors: the checkpoint, also a weights file; curves in FILE.curves.png)',
      '--resume FILE (continue exactly where a checkpoint stopped)',
      '--batch-norm (a batch norm after every base and auxiliary conv: trains from scratch)',
      '--width-divisor D (1)  --epochs E (1; with --max-minutes alone, as many as fit)  --batch B (8; with --batch-norm 16)',
      '--max-minutes M (train this long)  --max-steps N (stops the run; the schedule follows --epochs, or --max-minutes if it ends first)',
      '--lr LR (1e-3; with --batch-norm 0.01 x batch / 16)  --schedule cosine|steps|constant (cosine)',
      '--warmup W (steps: 100)  --warmup-share F (a share of the run instead; with --batch-norm 0.05)',
      '--head-init xavier|normal (the prediction convs: xavier; with --batch-norm normal, std 0.01)',
      '--augment all|photometric,expand,crop,flip (all; with --batch-norm crop,flip)  --no-augment',
      '--max-grad-norm G (10)  --seed S (0)',
      '--workers N (2: threads that decode and augment the next batches; 0: none)  --cache-mb M (2048: decoded images kept; 0: none)',
      '--profile (per step: waiting for data, forward, loss, backward, optimizer, cores busy)',
      "--checkpoint-every N|Mm (steps, or minutes with 'm': 500 or 10m)",
      '--eval-every E (epochs)  --eval-split S (test)  --diagnose N (layer statistics, first N steps)',
      '--base-init kaiming|pytorch (kaiming: the base is trained from scratch here)',
      '--allow-empty (train on images whose annotation has no object: background only)',
      '--skip-bad (skip images with a bad annotation or no image file, and list them, instead of stopping)',
      '--max-pixels N (64000000)',
    ],
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
    options: ['--data ROOT (required)  --split S (trainval)  --classes ...  --count N (8)  --seed S (0)', '--out FILE (augmented.png)  --allow-empty  --skip-bad  --max-pixels N'],
    examples: ['ssd augment-preview --data shapes --count 8 --out augmented.png'],
  },
  eval: {
    usage: 'eval',
    summary: 'VOC mAP of a model on a data set (minScore 0.01, NMS 0.45, top 200); images without objects count their false positives',
    options: ['--weights FILE (required)  --data ROOT (required)  --split S (test)  --method 11point|area', '--skip-bad  --max-pixels N'],
    examples: ['ssd eval --weights ssd300.safetensors --data shapes', 'ssd eval --weights ssd300.safetensors --data VOCdevkit/VOC2007 --split test --method area'],
  },
  'make-synthetic': {
    usage: 'make-synthetic',
    summary: 'write a synthetic data set (circles, squares, triangles) in the VOC layout',
    options: ['--out ROOT (required)  --train N (200)  --test N (50)  --seed S (0)', '--max-objects K (3)  --min-side F (0.1)  --max-side F (0.6): object sides as fractions of the image'],
    examples: ['ssd make-synthetic --out shapes', 'ssd make-synthetic --out small-shapes --max-objects 6 --min-side 0.05 --max-side 0.3'],
  },
  bench: {
    usage: 'bench',
    summary: 'benchmarks: the kernels, then the whole network, GFLOP/s and share of this machine\'s peak (extra options go to both)',
    options: ['--quick (a short run, under a minute)  --json FILE  --backends a,b (network)  --threads 1,2 (kernels)'],
    examples: ['ssd bench --quick', 'ssd bench --json bench.json'],
  },
  explain: {
    usage: 'explain WHAT [IMAGE]',
    summary: 'draw one idea of SSD as a PNG, on IMAGE or on a plain background',
    options: [
      'WHAT: priors | matching | mining | detection   --out FILE.png (required)',
      'priors: --map conv4_3..conv11_2|all (all)  --cell ROW,COL (one map)  --point X,Y (fractions)',
      'matching, mining: --annotation VOC.xml (else an example scene)  --classes voc|synthetic|a,b,c',
      'mining, detection: --weights FILE (else made-up predictions)',
      'detection: --min-score S (0.3)  --max-overlap O (0.45)  --top-k K (200)',
    ],
    examples: ['ssd explain priors --map conv9_2 --out priors.png', 'ssd explain matching photo.jpg --annotation photo.xml --out matching.png', 'ssd explain detection photo.jpg --weights ssd300.safetensors --out detection.png'],
  },
} satisfies Record<string, CommandHelp>;

export type CommandName = keyof typeof COMMANDS;

export function isCommandName(name: string): name is CommandName {
  return Object.prototype.hasOwnProperty.call(COMMANDS, name);
}

const EVERY_COMMAND = [
  `--backend ${BACKEND_NAMES.join('|')} (default: $SSD_BACKEND, else wasm where WebAssembly SIMD works, else cpu)`,
  '--threads N (wasm and cpu backends; 1 to the number of cores, default: all of them)',
  '--conv-algorithm auto|winograd|gemm (wasm: 3x3 stride-1 convolutions by Winograd where it pays (auto), everywhere it applies, or never)',
];

const INDENT = ' '.repeat(20);

/** `ssd help`: every command with its options. */
export function overview(): string {
  const lines = ['usage: ssd <command> [options]   (ssd <command> --help: its options and examples)', '', 'commands:'];
  for (const help of Object.values(COMMANDS) as CommandHelp[]) {
    const [first, ...more] = help.summary.split('\n');
    lines.push(`  ${help.usage.padEnd(INDENT.length - 3)} ${first}`, ...more.map((line) => `${INDENT}${line}`));
    for (const option of help.options) lines.push(`${INDENT}${option}`);
  }
  lines.push('', `every command: ${EVERY_COMMAND[0]}`, `               ${EVERY_COMMAND[1]}`);
  return lines.join('\n');
}

/** `ssd <command> --help`: one command's options and examples. */
export function commandHelp(name: CommandName): string {
  const help: CommandHelp = COMMANDS[name];
  return [
    `usage: ssd ${help.usage} [options]`,
    '',
    help.summary,
    '',
    'options:',
    ...help.options.map((o) => `  ${o}`),
    ...EVERY_COMMAND.map((o) => `  ${o}`),
    '',
    'examples:',
    ...help.examples.map((e) => `  ${e}`),
  ].join('\n');
}
