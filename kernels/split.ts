// Cutting a range of work into tasks for threads: shared by the cpu backend's and the wasm
// backend's task lists (and bundled into the page with the wasm kernels: no Node-only module here).

/** n rounded up to a multiple of m. */
function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * Boundaries cutting [0, total) into near-equal chunks that are multiples of `align` (except the
 * last): at most `maxChunk` long, and, when `wanted` chunks are asked for, as many as that allows
 * without going below `minChunk`.
 */
export function splitRange(total: number, maxChunk: number, minChunk: number, wanted: number, align: number): number[] {
  let count = Math.ceil(total / maxChunk);
  if (count < wanted) count = Math.max(count, Math.min(wanted, Math.floor(total / minChunk)));
  const chunk = roundUp(Math.ceil(total / Math.max(count, 1)), align);
  const bounds = [0];
  for (let start = chunk; start < total; start += chunk) bounds.push(start);
  bounds.push(total);
  return bounds;
}
