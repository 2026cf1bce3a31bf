// Where `ssd detect` writes each input's picture: DIR/<name>.detections.png, one file per input,
// never two inputs to one file.

import * as path from 'path';

/**
 * An output name for each input file: its name without the extension (photo.jpg -> photo); where
 * two inputs share that, their names with the extension (one.png -> one.png, one.jpg -> one.jpg);
 * where they still collide (a/one.png, b/one.png), a number after the second and later (one.png-2).
 */
export function uniqueOutputNames(files: readonly string[]): string[] {
  const count = (names: readonly string[], name: string): number => names.filter((n) => n === name).length;
  const stems = files.map((f) => path.parse(f).name);
  const names = files.map((f, i) => (count(stems, stems[i]) > 1 ? path.basename(f) : stems[i]));
  const seen = new Map<string, number>();
  const taken = new Set(names);
  return names.map((name) => {
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    if (n === 1) return name;
    let k = n;
    while (taken.has(`${name}-${k}`)) k++;
    taken.add(`${name}-${k}`);
    return `${name}-${k}`;
  });
}
