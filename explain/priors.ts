// Picture: the priors (default boxes) that a feature map lays over the image (paper section 2.2,
// "Choosing scales and aspect ratios for default boxes"; figure 1).
//
// Every cell of a feature map is the centre of a few priors: one per aspect ratio, all of the map's
// scale, plus the extra square of side sqrt(s_k * s_k+1). The boxes drawn are rows of the real
// createPriors() tensor (ssd/priors.ts), found by the same order the prediction convs use, so the
// picture shows what the network is trained against, clamping included.

import type { Rgb, RgbImage } from '../data/image';
import { FEATURE_MAPS, FeatureMap, boxesPerPosition, checkFeatureMaps, createPriors, priorCount } from '../ssd/priors';
import { Tensor } from '../tensor/tensor';
import { GREY } from '../draw/colors';
import { drawText, fillRect } from '../draw/canvas';
import { LINE_HEIGHT, textSize } from '../draw/font';
import { Panel, PanelSpec, dot, layoutPanels, paintBackdrop, strokeBox } from './panels';

/** One prior of one cell, as drawn. */
export interface CellPrior {
  /** Its row in the (8732, 4) priors tensor. */
  index: number;
  /** Its aspect ratio (width / height), or 'extra' for the extra square prior. */
  ratio: number | 'extra';
  /** xy fractions of the image (x_min, y_min, x_max, y_max); may reach past [0, 1]. */
  boxXy: [number, number, number, number];
  color: Rgb;
}

/** Colour of each aspect ratio (and of the extra prior), the same on every map. */
export function ratioColor(ratio: number | 'extra'): Rgb {
  switch (ratio) {
    case 'extra': return [213, 40, 40];
    case 1: return [0, 90, 200];
    case 2: return [0, 150, 90];
    case 0.5: return [150, 60, 190];
    case 3: return [0, 160, 175];
    case 0.333: return [190, 120, 0];
    default: return OTHER_RATIO_COLORS[Math.abs(Math.round(Math.log(ratio) * 7)) % OTHER_RATIO_COLORS.length]; // ratios of the page's prior controls
  }
}

/** Colours for the aspect ratios the model does not use (1/3 exactly among them: the model's is 0.333). */
const OTHER_RATIO_COLORS: readonly Rgb[] = [[190, 120, 0], [120, 80, 40], [200, 0, 130], [90, 110, 20], [60, 60, 160]];

export function ratioName(ratio: number | 'extra'): string {
  if (ratio === 'extra') return 'extra';
  if (ratio >= 1) return `${ratio}:1`;
  return `1:${Math.round(1 / ratio)}`;
}

/** The row of the priors tensor where the priors of cell (i, j) of feature map `mapIndex` begin (of `maps`, default the model's). */
export function firstPriorOfCell(mapIndex: number, i: number, j: number, maps: readonly FeatureMap[] = FEATURE_MAPS): number {
  let offset = 0;
  for (let k = 0; k < mapIndex; k++) offset += maps[k].size ** 2 * boxesPerPosition(maps[k]);
  const map = maps[mapIndex];
  return offset + (i * map.size + j) * boxesPerPosition(map);
}

/** Which feature map, and which cell of it, prior `index` belongs to. */
export function cellOfPrior(index: number, maps: readonly FeatureMap[] = FEATURE_MAPS): { mapIndex: number; i: number; j: number } {
  let offset = 0;
  for (let m = 0; m < maps.length; m++) {
    const map = maps[m];
    const count = map.size ** 2 * boxesPerPosition(map);
    if (index < offset + count) {
      const cell = Math.floor((index - offset) / boxesPerPosition(map));
      return { mapIndex: m, i: Math.floor(cell / map.size), j: cell % map.size };
    }
    offset += count;
  }
  throw new Error(`cellOfPrior: prior ${index} is beyond the ${offset} priors`);
}

/** The priors of cell (i, j) of a feature map, in the order createPriors makes them. */
export function priorsOfCell(priorsCxcy: Tensor, mapIndex: number, i: number, j: number, maps: readonly FeatureMap[] = FEATURE_MAPS): CellPrior[] {
  const map = maps[mapIndex];
  if (!(Number.isInteger(i) && Number.isInteger(j) && i >= 0 && j >= 0 && i < map.size && j < map.size)) {
    throw new Error(`priorsOfCell: ${map.name} is ${map.size}x${map.size}; there is no cell (${i}, ${j})`);
  }
  // The order of ssd/priors.ts: each ratio, and the extra square right after ratio 1.
  const ratios: (number | 'extra')[] = [];
  for (const r of map.aspectRatios) {
    ratios.push(r);
    if (r === 1) ratios.push('extra');
  }
  const first = firstPriorOfCell(mapIndex, i, j, maps);
  return ratios.map((ratio, k) => {
    const p = priorsCxcy.data.subarray(4 * (first + k), 4 * (first + k) + 4); // (cx, cy, w, h)
    const boxXy: [number, number, number, number] = [p[0] - p[2] / 2, p[1] - p[3] / 2, p[0] + p[2] / 2, p[1] + p[3] / 2];
    return { index: first + k, ratio, boxXy, color: ratioColor(ratio) };
  });
}

/** The cell of `map` whose area holds the point (fx, fy), fractions of the image. */
export function cellAt(map: FeatureMap, fx: number, fy: number): [number, number] {
  const clampCell = (v: number): number => Math.min(Math.max(Math.floor(v * map.size), 0), map.size - 1);
  return [clampCell(fy), clampCell(fx)];
}

export interface PriorsPictureOptions {
  /** A feature map name (conv4_3 ... conv11_2), or 'all' (default) for the six side by side. */
  map?: string;
  /** The cell (row, column) whose priors are drawn, for one map. Default: the cell under `point`. */
  cell?: [number, number];
  /** A point of the image, fractions; each map draws the priors of the cell holding it. Default the centre. */
  point?: [number, number];
  /** Side of each panel in pixels (default 300, the size SSD sees). */
  size?: number;
  /** The feature maps (default FEATURE_MAPS, the model's); priorsCxcy, when given, must be theirs. */
  maps?: readonly FeatureMap[];
  priorsCxcy?: Tensor;
}

export interface PriorsPicture {
  image: RgbImage;
  panels: Panel[];
  /** For each panel: the feature map, the cell and the priors drawn at it. */
  shown: { map: FeatureMap; cell: [number, number]; priors: CellPrior[] }[];
}

/**
 * Draw the priors over `image` (already resized to the panel size, or null for a plain background).
 * One map: two panels, the priors of one cell alone, then the whole grid with every cell's centre.
 * 'all': the six maps, each with its grid and the priors of the cell under `point`.
 */
export function renderPriors(image: RgbImage | null, options: PriorsPictureOptions = {}): PriorsPicture {
  const size = options.size ?? 300;
  const maps = options.maps ?? FEATURE_MAPS;
  const priorsCxcy = options.priorsCxcy ?? createPriors('float32', maps);
  if (priorsCxcy.shape[0] !== priorCount(maps)) {
    throw new Error(`priors: the maps make ${priorCount(maps)} priors, but priorsCxcy has ${priorsCxcy.shape[0]} rows`);
  }
  const point = options.point ?? [0.5, 0.5];
  const mapName = options.map ?? 'all';
  const mapIndices = mapName === 'all' ? maps.map((_, k) => k) : [maps.findIndex((m) => m.name === mapName)];
  if (mapIndices[0] === -1) {
    throw new Error(`priors: no feature map '${mapName}'; choose one of ${maps.map((m) => m.name).join(', ')} or all`);
  }
  if (options.cell !== undefined && mapName === 'all') throw new Error('priors: --cell needs one --map (with all, give a point)');

  const shown = mapIndices.map((m) => {
    const map = maps[m];
    const cell = options.cell ?? cellAt(map, point[0], point[1]);
    return { map, mapIndex: m, cell, priors: priorsOfCell(priorsCxcy, m, cell[0], cell[1], maps) };
  });

  const describe = (s: (typeof shown)[number]): string[] => {
    const { map } = s;
    const next = maps[maps.indexOf(map) + 1];
    const extra = next === undefined ? 'extra side 1' : `extra side sqrt(${map.scale}*${next.scale})=${Math.sqrt(map.scale * next.scale).toFixed(3)}`;
    return [
      `${map.size}x${map.size} cells x ${boxesPerPosition(map)} = ${map.size ** 2 * boxesPerPosition(map)} priors`,
      `scale ${map.scale}; ${extra}`,
      'ratios:', // followed by the ratio names, each in its colour (drawn below)
    ];
  };

  let specs: PanelSpec[];
  if (mapIndices.length === 1) {
    const s = shown[0];
    specs = [
      { title: `${s.map.name}: the ${s.priors.length} priors of cell (${s.cell[0]}, ${s.cell[1]})`, caption: describe(s) },
      { title: `${s.map.name}: its ${s.map.size}x${s.map.size} grid, one centre per cell`, caption: ['every cell holds the same priors', 'around its own centre', `${priorCount(maps)} priors in all ${maps.length === 6 ? 'six' : maps.length} maps`] },
    ];
  } else {
    specs = shown.map((s) => ({ title: `${s.map.name}: cell (${s.cell[0]}, ${s.cell[1]})`, caption: describe(s) }));
  }
  const heading = mapIndices.length === 1 ? `Priors of ${shown[0].map.name}` : 'Priors: six feature maps, one cell each';
  const { canvas, panels } = layoutPanels(specs, size, heading, mapIndices.length === 1 ? 2 : 3);

  const drawGrid = (panel: Panel, map: FeatureMap, cell: [number, number], centres: boolean): void => {
    // Cell borders, light; the chosen cell shaded.
    for (let k = 1; k < map.size; k++) {
      const t = Math.round((k / map.size) * panel.size);
      fillRect(canvas, panel.x + t, panel.y, panel.x + t + 1, panel.y + panel.size, GREY, 0.35, panel);
      fillRect(canvas, panel.x, panel.y + t, panel.x + panel.size, panel.y + t + 1, GREY, 0.35, panel);
    }
    const [i, j] = cell;
    const x0 = Math.round((j / map.size) * panel.size);
    const x1 = Math.round(((j + 1) / map.size) * panel.size);
    const y0 = Math.round((i / map.size) * panel.size);
    const y1 = Math.round(((i + 1) / map.size) * panel.size);
    fillRect(canvas, panel.x + x0, panel.y + y0, panel.x + x1, panel.y + y1, [255, 210, 0], 0.45, panel);
    if (centres) {
      for (let a = 0; a < map.size; a++) {
        for (let b = 0; b < map.size; b++) dot(canvas, panel, (b + 0.5) / map.size, (a + 0.5) / map.size, [60, 60, 60], map.size > 20 ? 1 : 3);
      }
    }
  };
  const drawCellPriors = (panel: Panel, priors: readonly CellPrior[]): void => {
    // The extra prior last, so that where it shares a border with another its colour shows.
    const order = [...priors.filter((p) => p.ratio !== 'extra'), ...priors.filter((p) => p.ratio === 'extra')];
    for (const p of order) strokeBox(canvas, panel, p.boxXy, p.color, { thickness: 2 });
    const c = priors[0];
    dot(canvas, panel, (c.boxXy[0] + c.boxXy[2]) / 2, (c.boxXy[1] + c.boxXy[3]) / 2, [0, 0, 0], 5);
  };

  // The legend: each ratio's name in the colour its prior is drawn in, after 'ratios:'.
  const drawLegend = (panel: Panel, priors: readonly CellPrior[]): void => {
    let x = panel.x + textSize('ratios: ').width + 1;
    const y = panel.y + panel.size + 8 + 2 * LINE_HEIGHT;
    for (const p of priors) {
      drawText(canvas, x, y, ratioName(p.ratio), p.color);
      x += textSize(`${ratioName(p.ratio)} `).width + 1;
    }
  };
  shown.forEach((s, k) => {
    if (mapIndices.length > 1 || k === 0) drawLegend(panels[k], s.priors);
  });

  if (mapIndices.length === 1) {
    const s = shown[0];
    paintBackdrop(canvas, panels[0], image);
    drawGrid(panels[0], s.map, s.cell, false);
    drawCellPriors(panels[0], s.priors);
    paintBackdrop(canvas, panels[1], image);
    drawGrid(panels[1], s.map, s.cell, true);
    drawCellPriors(panels[1], s.priors);
  } else {
    shown.forEach((s, k) => {
      paintBackdrop(canvas, panels[k], image);
      drawGrid(panels[k], s.map, s.cell, false);
      drawCellPriors(panels[k], s.priors);
    });
  }
  return { image: canvas, panels, shown: shown.map(({ map, cell, priors }) => ({ map, cell, priors })) };
}

// ---------------------------------------------------------------------------------------------
// Other priors: what the page's prior controls change (the pictures only; the model keeps its own)

/**
 * Aspect ratios from text: numbers (2, 0.5) or width:height (1:2, 3:1), separated by commas or
 * spaces. Throws, saying what it could not read, on anything else or on none at all.
 */
export function parseAspectRatios(text: string): number[] {
  const words = text.split(/[\s,;]+/).filter((w) => w !== '');
  if (words.length === 0) throw new Error('aspect ratios: none given (e.g. 1, 2, 0.5 or 1, 2:1, 1:2)');
  return words.map((w) => {
    const m = /^(\d*\.?\d+)(?:[:/](\d*\.?\d+))?$/.exec(w);
    const r = m === null ? NaN : m[2] === undefined ? Number(m[1]) : Number(m[1]) / Number(m[2]);
    if (!(Number.isFinite(r) && r > 0)) throw new Error(`aspect ratios: '${w}' is not a positive number or width:height`);
    return r;
  });
}

/** The maps with map `name`'s scale and/or aspect ratios replaced (checked by checkFeatureMaps, via createPriors' rules). */
export function editFeatureMap(maps: readonly FeatureMap[], name: string, edit: { scale?: number; aspectRatios?: readonly number[] }): FeatureMap[] {
  const k = maps.findIndex((m) => m.name === name);
  if (k === -1) throw new Error(`priors: no feature map '${name}'; choose one of ${maps.map((m) => m.name).join(', ')}`);
  const out = maps.map((m, i) => (i === k ? { ...m, scale: edit.scale ?? m.scale, aspectRatios: [...(edit.aspectRatios ?? m.aspectRatios)] } : m));
  checkFeatureMaps(out);
  return out;
}

/** How many priors feature maps make, per position and in all, and whether the model's prediction convs could take them. */
export interface PriorCounts {
  maps: { name: string; size: number; perPosition: number; count: number; modelPerPosition: number | null }[];
  total: number;
  /** True when every map has the model's boxes per position (the prediction convs' channels are 4 and n_classes times it). */
  fitsModel: boolean;
}

export function priorCounts(maps: readonly FeatureMap[] = FEATURE_MAPS): PriorCounts {
  const rows = maps.map((m) => {
    const model = FEATURE_MAPS.find((d) => d.name === m.name);
    return { name: m.name, size: m.size, perPosition: boxesPerPosition(m), count: m.size ** 2 * boxesPerPosition(m), modelPerPosition: model === undefined ? null : boxesPerPosition(model) };
  });
  return { maps: rows, total: priorCount(maps), fitsModel: maps.length === FEATURE_MAPS.length && rows.every((r) => r.perPosition === r.modelPerPosition) };
}
