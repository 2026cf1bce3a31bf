// The page's elements by id: one lookup for every panel (main.ts, controls.ts, label_panel.ts,
// train_panel.ts), failing with the id when index.html has no such element.

/** The element with this id, as the type the caller expects of it. */
export function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page: no element #${id}`);
  return el as T;
}

export const input = (id: string): HTMLInputElement => element<HTMLInputElement>(id);
export const select = (id: string): HTMLSelectElement => element<HTMLSelectElement>(id);
export const canvas = (id: string): HTMLCanvasElement => element<HTMLCanvasElement>(id);
