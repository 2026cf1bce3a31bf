// Reading the CLI's options: numbers with their option's name in every error, and class lists.

import * as os from 'os';
import { VOC_CLASSES, checkClassName } from '../data/voc';
import { SYNTHETIC_CLASSES } from '../data/synthetic';

/** Parsed option values: strings, or booleans for flags. */
export type OptionValues = Record<string, string | boolean | undefined>;

/** A numeric option: its default when absent, an error naming it when not a number. */
export function num(values: OptionValues, name: string, fallback: number, integer = false): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new Error(`--${name}: expected ${integer ? 'an integer' : 'a number'}, got '${raw}'`);
  }
  return v;
}

/** A numeric option that must be above zero (a batch of at least 1, a learning rate), or absent. */
export function positive(values: OptionValues, name: string, integer: boolean): number | undefined {
  if (values[name] === undefined) return undefined;
  const v = num(values, name, 0, integer);
  if (!(v > 0)) throw new Error(`--${name}: expected a positive ${integer ? 'integer' : 'number'}, got '${values[name]}'`);
  return v;
}

/**
 * --threads: 1 to the number of cores. More threads than cores only slow the kernels down, and
 * each thread is a worker with memory of its own: `--threads 100000` failed on every image.
 */
export function threadCount(values: OptionValues): number | undefined {
  const threads = positive(values, 'threads', true);
  const cores = Math.max(1, os.availableParallelism());
  if (threads !== undefined && threads > cores) {
    throw new Error(`--threads: expected 1 to ${cores} (the cores of this machine), got '${values.threads}'`);
  }
  return threads;
}

/** A number in [0, 1] (a score, an overlap, a fraction of the image), or its default. */
export function fraction(values: OptionValues, name: string, fallback: number): number {
  const v = num(values, name, fallback);
  if (!(v >= 0 && v <= 1)) throw new Error(`--${name}: expected a number from 0 to 1, got '${values[name]}'`);
  return v;
}

/**
 * `--batch -4` as `--batch=-4`: util.parseArgs takes a value that starts with '-' for an option
 * and refuses it, so a negative number would get a message about option syntax rather than the
 * option's own check ("--batch: expected a positive integer, got '-4'").
 */
export function valuesGlued(args: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : '';
    const next = args[i + 1];
    if (options[name]?.type === 'string' && next !== undefined && /^-[0-9.]/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
}

/** A string option that must be given. */
export function required(values: OptionValues, name: string, command: string): string {
  const v = values[name];
  if (typeof v !== 'string' || v === '') throw new Error(`${command}: --${name} is required (see \`ssd ${command} --help\`)`);
  return v;
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
