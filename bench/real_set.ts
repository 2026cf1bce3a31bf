// A detection data set of REAL object photographs, made here from what Debian packages ship, in
// the Pascal VOC layout that `ssd train --data DIR` reads:
//
//   npm run real-set -- --out real-set                     (installs the packages first, as root)
//   node dist/bench/real_set.js --out DIR [--train 400] [--test 100] [--seed 1] [--quality 92]
//                               [--stamps /usr/share/tuxpaint/stamps] [--preview FILE.png]
//                               [--min-scale 0.06 --max-scale 0.7] [--max-objects 4] [--max-distractors 3]
//                               [--stamps-per-class N]
//
// --min-scale and --max-scale bound an object's longer side as a share of the image's shorter side;
// larger objects and fewer of them make an easier set (docs/training.md's 15-minute runs use both sets).
// --stamps-per-class N keeps N of each class's photographs (spread evenly over its sorted list): a
// class is then a few kinds of bird or fruit rather than dozens, which a detector trained from
// random weights for 15 minutes learns far better (docs/training.md calibrates a set with it).
//
// Objects: the photographs of Tux Paint's stamps (package tuxpaint-stamps-default), each a real
// object cut out with an alpha channel. Five classes, from these folders (recursive; every
// `cartoon` folder is skipped: drawings):
//   bird       animals/birds          35 stamps
//   mammal     animals/mammals        62 (not the toy teddy bear in bears/toys, the hedgehog,
//                                        which is a drawing, or the echidna, a black silhouette)
//   fruit      food/fruit             26
//   vegetable  food/vegetables        18
//   flower     plants/flowers         25
// Distractors (pasted as unlabeled clutter): the stamps of DISTRACTOR_FOLDERS, photographs of
// insects, fish, shellfish, frogs, nuts, household things, tools, instruments, sports balls,
// vehicles, trees, post boxes; not the drawings among them (EXCLUDED), nor anything that is one
// of the five classes by another name (the rubber duck, the rambutan, mushrooms, which are
// among the vegetables, the eggplant and lettuce in plants/).
//
// Backgrounds: the photographs among Debian's desktop wallpapers (BACKGROUNDS below), from
// plasma-workspace-wallpapers, mate-backgrounds and lomiri-wallpapers-16.04. Left out: abstract
// and rendered art (most of the three packages, all of ukui-wallpapers and lomiri-wallpapers-20.04
// but one, gnome-backgrounds, which is also WebP, a format the project does not read), and the
// photographs that show an object of one of the five classes, unlabeled, which would teach the
// detector that such an object is background: a dog (friends), a bird (Kleiber), a toy bird
// (free), a fig (Picture_0B), flowers (FreshFlower, Garden, YellowFlower, TwoWings, LadyBird,
// seeding's dandelions). The test split uses 7 backgrounds that no training image uses; the
// object stamps are shared (a new photo of the same apple, not a new apple).
//
// What one image is: data/composite.ts (composeScene). Written as JPEG (quality 92) with the VOC
// annotations; splits trainval (the CLI's default) and train (the same list, for
// scripts/torch_train.py) and test; and real-set.json, a record of what went in. The same seed
// and package versions give the same bytes. Image k of a split does not depend on how many
// images the split has. docs/real-set.png is `--preview docs/real-set.png` of the default set (the
// first 8 training images with their boxes; colours rounded to 64 levels to keep the PNG small).
// Made here (2 cores) in about 80 s, 30 of them loading the backgrounds; 24 MB.

import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../io/files';
import { LabeledImage } from '../data/annotations';
import { RgbImage } from '../data/image';
import { encodePng, readImage } from '../data/image_files';
import { readVocDataset } from '../data/voc';
import { drawBoxes } from '../draw/boxes';
import { LABEL_COLORS } from '../draw/colors';
import { Stamp, decodeRgbaPng, resizeRgb, trimToAlpha, writeSceneDataset } from '../data/composite';
import { blankCanvas, drawLabel, paste } from '../draw/canvas';
import { arg } from './args';

/** The classes, sorted as readVocClassNames sorts them (label k is CLASSES[k]). */
export const CLASSES = ['background', 'bird', 'flower', 'fruit', 'mammal', 'vegetable'] as const;

const CLASS_FOLDERS: Record<string, string[]> = {
  bird: ['animals/birds'],
  flower: ['plants/flowers'],
  fruit: ['food/fruit'],
  mammal: ['animals/mammals'],
  vegetable: ['food/vegetables'],
};

/** Photographs of other things, recursive (their `cartoon` folders skipped). */
const DISTRACTOR_FOLDERS = [
  'animals/insects', 'animals/fish', 'animals/amphibians', 'animals/lizards', 'animals/shellfish',
  'food/nuts', 'household', 'hobbies', 'medical', 'sports', 'vehicles', 'plants/trees', 'town/uk_post_box.png', 'town/usps_mailbox.png',
];

/** Folders never searched: drawings, toys. */
const SKIPPED_FOLDERS = new Set(['cartoon', 'toys']);

/** Stamps left out by name: drawings, silhouettes, or one of the classes under another folder. */
const EXCLUDED = new Set([
  'hedgehog.png', // a drawing, in animals/mammals
  'echidna.png', // a black silhouette
  'bee.png', // a drawing
  'tooth.png', // a drawing
  'pizza.png', // a drawing
  '7spoke256.png', // a drawn wheel
  'sedan_police.png', 'sedan_police_mirror.png', // a car cut to a sliver
  'holly_leaves.png', // a drawing
  'rubberduck.png', // a bird, for a detector
  'rambutan.png', // a fruit, in plants/trees
]);

/** Background photographs, by package; TEST ones are held out for the test split. */
const BACKGROUNDS: { file: string; package: string; test?: true }[] = [
  ...['BytheWater', 'ColdRipple', 'DarkestHour', 'FallenLeaf', 'Grey', 'Kite', 'OneStandsOut', 'summer_1am'].map((name) => ({
    file: `/usr/share/wallpapers/${name}/contents/images/1920x1200.jpg`,
    package: 'plasma-workspace-wallpapers',
  })),
  { file: '/usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg', package: 'plasma-workspace-wallpapers' },
  { file: '/usr/share/wallpapers/Path/contents/images/1920x1200.jpg', package: 'plasma-workspace-wallpapers', test: true },
  { file: '/usr/share/wallpapers/EveningGlow/contents/images/1920x1200.jpg', package: 'plasma-workspace-wallpapers', test: true },
  ...['Aqua', 'Blinds', 'Dune', 'GreenMeadow', 'Wood'].map((name) => ({ file: `/usr/share/backgrounds/mate/nature/${name}.jpg`, package: 'mate-backgrounds' })),
  { file: '/usr/share/backgrounds/mate/nature/Storm.jpg', package: 'mate-backgrounds', test: true },
  { file: '/usr/share/backgrounds/mate/nature/RainDrops.jpg', package: 'mate-backgrounds', test: true },
  ...[
    'Bridge_by_Sander_Klootwijk', 'Dragonfly_by_Bolly', 'Wine_by_Jakkub_Mede', 'aitzgorri_by_Aitzol_Berasategi',
    'greentock_by_Peter_Nerlich', 'sunset_by_Aitzol_Berasategi',
  ].map((name) => ({ file: `/usr/share/backgrounds/${name}.jpg`, package: 'lomiri-wallpapers-16.04' })),
  { file: '/usr/share/backgrounds/life_by_Aitzol_Berasategi.jpg', package: 'lomiri-wallpapers-16.04', test: true },
  { file: '/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg', package: 'lomiri-wallpapers-16.04', test: true },
  { file: '/usr/share/backgrounds/Picture_1A_by_freespace.jpg', package: 'lomiri-wallpapers-16.04', test: true },
];

/** The Debian packages the set is made from (scripts/setup-real-set.js installs them). */
export const REAL_SET_PACKAGES = ['tuxpaint-stamps-default', ...new Set(BACKGROUNDS.map((b) => b.package))];

/** Backgrounds are shrunk to this long side once loaded (crops of them are then 35-100% of it). */
const BACKGROUND_LONG_SIDE = 1600;

/** The PNG files under `dir` (a file itself when it names one), sorted, skipping SKIPPED_FOLDERS and EXCLUDED. */
function stampFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) throw new Error(`${dir}: not found (is tuxpaint-stamps-default installed? npm run real-set installs it)`);
  if (fs.statSync(dir).isFile()) return [dir];
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIPPED_FOLDERS.has(entry.name)) out.push(...stampFiles(full));
    } else if (entry.name.endsWith('.png') && !EXCLUDED.has(entry.name)) {
      out.push(full);
    }
  }
  return out;
}

/** `count` of the items, spread evenly from the first (all of them when there are no more than `count`). */
export function evenlySpread<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  const out: T[] = [];
  for (let i = 0; i < count; i++) out.push(items[Math.floor((i * items.length) / count)]);
  return out;
}

function loadStamp(file: string, label: number, root: string): Stamp | null {
  const image = trimToAlpha(decodeRgbaPng(fs.readFileSync(file), file));
  return image === null ? null : { image, label, name: path.relative(root, file) };
}

function loadBackground(file: string): RgbImage {
  const img = readImage(file);
  const long = Math.max(img.width, img.height);
  if (long <= BACKGROUND_LONG_SIDE) return img;
  const f = BACKGROUND_LONG_SIDE / long;
  return resizeRgb(img, Math.round(img.width * f), Math.round(img.height * f));
}

/**
 * A grid of images with their boxes and class names: long side `cell` pixels each. `levels` < 256
 * rounds each channel to that many levels, which makes the PNG of photographs much smaller.
 */
export function previewGrid(items: readonly LabeledImage[], classes: readonly string[], columns = 4, cell = 240, levels = 256): RgbImage {
  const gap = 6;
  const rows = Math.ceil(items.length / columns);
  const canvas = blankCanvas(gap + columns * (cell + gap), gap + rows * (cell + gap));
  items.forEach((item, k) => {
    const f = cell / Math.max(item.image.width, item.image.height);
    const small = resizeRgb(item.image, Math.round(item.image.width * f), Math.round(item.image.height * f));
    const picture = drawBoxes(small, item.objects.map((o) => o.boxXy), item.objects.map((o) => o.label));
    const x = gap + (k % columns) * (cell + gap) + Math.floor((cell - small.width) / 2);
    const y = gap + Math.floor(k / columns) * (cell + gap) + Math.floor((cell - small.height) / 2);
    paste(canvas, picture, x, y);
    for (const o of item.objects) {
      // the name just above the box (below it at the top edge), so that it hides no small object
      const top = y + Math.round(o.boxXy[1] * small.height);
      const labelY = top - LABEL_HEIGHT >= y ? top - LABEL_HEIGHT : y + Math.round(o.boxXy[3] * small.height);
      drawLabel(canvas, x + Math.round(o.boxXy[0] * small.width), labelY, classes[o.label], LABEL_COLORS[o.label % LABEL_COLORS.length]);
    }
  });
  if (levels < 256) {
    const step = 256 / levels;
    for (let i = 0; i < canvas.data.length; i++) canvas.data[i] = Math.min(255, Math.floor(canvas.data[i] / step) * step + step / 2);
  }
  return canvas;
}

/** drawLabel's height: the font's 7 pixels and 2 of padding above and below. */
const LABEL_HEIGHT = 11;

function positiveInt(name: string, fallback: number, min = 1): number {
  const text = arg(name);
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name}: expected an integer >= ${min}, got '${text}'`);
  return v;
}

/** An optional share (--min-scale, --max-scale): a number in (0, 2], or undefined for the compositor's default. */
function share(name: string): number | undefined {
  const text = arg(name);
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!(v > 0 && v <= 2)) throw new Error(`--${name}: expected a share in (0, 2], got '${text}'`);
  return v;
}

function main(): void {
  if (process.argv.includes('--help')) {
    console.log(
      'node dist/bench/real_set.js --out DIR [--train 400] [--test 100] [--seed 1] [--quality 92] [--stamps DIR] [--preview FILE.png]\n' +
        '  [--min-scale 0.06 --max-scale 0.7: an object\'s longer side, a share of the image\'s shorter side] [--max-objects 4] [--max-distractors 3]\n' +
        '  [--stamps-per-class N: N photographs of each class, spread over its list]',
    );
    return;
  }
  const out = arg('out', 'real-set');
  const nTrain = positiveInt('train', 400);
  const nTest = positiveInt('test', 100);
  const seed = positiveInt('seed', 1, 0);
  const quality = positiveInt('quality', 92);
  const stampsRoot = arg('stamps', '/usr/share/tuxpaint/stamps');
  const previewPath = arg('preview');
  const started = Date.now();

  const perClass = arg('stamps-per-class') === undefined ? Infinity : positiveInt('stamps-per-class', 1);
  const classStamps: Stamp[][] = CLASSES.slice(1).map((name, k) =>
    evenlySpread(CLASS_FOLDERS[name].flatMap((dir) => stampFiles(path.join(stampsRoot, dir))), perClass).flatMap((file) => loadStamp(file, k + 1, stampsRoot) ?? []),
  );
  const distractors = DISTRACTOR_FOLDERS.flatMap((dir) => stampFiles(path.join(stampsRoot, dir))).flatMap((file) => loadStamp(file, 0, stampsRoot) ?? []);
  const missing = BACKGROUNDS.filter((b) => !fs.existsSync(b.file));
  if (missing.length > 0) {
    throw new Error(`missing background photographs (install ${[...new Set(missing.map((b) => b.package))].join(' ')}; npm run real-set does): ${missing.map((b) => b.file).join(', ')}`);
  }
  const backgrounds = { train: BACKGROUNDS.filter((b) => !b.test), test: BACKGROUNDS.filter((b) => b.test) };
  const loaded = { train: backgrounds.train.map((b) => loadBackground(b.file)), test: backgrounds.test.map((b) => loadBackground(b.file)) };
  console.log(
    `stamps: ${CLASSES.slice(1).map((c, k) => `${c} ${classStamps[k].length}`).join(', ')}, distractors ${distractors.length}; ` +
      `backgrounds: ${loaded.train.length} train, ${loaded.test.length} test (${((Date.now() - started) / 1000).toFixed(1)} s to load)`,
  );

  const previewItems: LabeledImage[] = [];
  const counts: Record<string, number[]> = {};
  const written = writeSceneDataset(
    out,
    [
      { name: 'train', lists: ['trainval', 'train'], count: nTrain, backgrounds: loaded.train },
      { name: 'test', count: nTest, backgrounds: loaded.test },
    ],
    classStamps,
    distractors,
    CLASSES,
    seed,
    {
      jpegQuality: quality,
      minScale: share('min-scale'),
      maxScale: share('max-scale'),
      maxObjects: arg('max-objects') === undefined ? undefined : positiveInt('max-objects', 4),
      maxDistractors: arg('max-distractors') === undefined ? undefined : positiveInt('max-distractors', 3, 0),
      onImage: (split, k, scene) => {
        if (split === 'train' && previewItems.length < 8) previewItems.push(scene);
        if ((k + 1) % 100 === 0) console.log(`${split}: ${k + 1} images (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      },
    },
  );
  for (const [split, images] of Object.entries(written)) {
    counts[split] = new Array<number>(CLASSES.length).fill(0);
    for (const objects of images) for (const o of objects) counts[split][o.label]++;
  }

  const record = {
    about: 'made by bench/real_set.ts (npm run real-set): Tux Paint stamp photographs pasted on wallpaper photographs, see that file',
    seed,
    classes: CLASSES,
    images: { train: nTrain, test: nTest },
    objects: Object.fromEntries(Object.entries(counts).map(([split, c]) => [split, Object.fromEntries(CLASSES.slice(1).map((name, k) => [name, c[k + 1]]))])),
    stamps: Object.fromEntries(CLASSES.slice(1).map((name, k) => [name, classStamps[k].map((s) => s.name)])),
    distractors: distractors.map((s) => s.name),
    backgrounds: { train: backgrounds.train.map((b) => b.file), test: backgrounds.test.map((b) => b.file) },
  };
  writeFileAtomic(path.join(out, 'real-set.json'), JSON.stringify(record, null, 2) + '\n', 'data set record');

  // read it back as `ssd train` will: every annotation and image header
  for (const split of ['trainval', 'test']) readVocDataset(out, split, CLASSES);
  for (const [split, c] of Object.entries(counts)) {
    console.log(`${split}: ${c.reduce((a, b) => a + b, 0)} objects (${CLASSES.slice(1).map((name, k) => `${name} ${c[k + 1]}`).join(', ')})`);
  }
  if (previewPath !== undefined) {
    writeFileAtomic(previewPath, encodePng(previewGrid(previewItems, CLASSES, 4, 256, 64)), 'preview', { createDirectory: true });
    console.log(`wrote ${previewPath}`);
  }
  console.log(`wrote ${out}: splits trainval (= train), test; ${((Date.now() - started) / 1000).toFixed(1)} s. Train with: ssd train --data ${out} --batch-norm`);
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`real_set: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
