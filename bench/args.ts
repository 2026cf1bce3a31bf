// The benchmarks' command-line options: `--name value`, read straight from process.argv.

/** The value after `--name`, or `fallback` (undefined without one) when the option is not given. */
export function arg(name: string): string | undefined;
export function arg(name: string, fallback: string): string;
export function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
