// The kernels a command runs on: --backend, --threads and --conv-algorithm (their values are
// checked by the option table in options.ts before this is called).

import { Kernels } from '../kernels/kernels';
import { createKernels, defaultBackendName } from '../kernels/select';
import { ConvAlgorithm } from '../kernels/wasm';
import { ParsedOptions } from './options';

/** The backend the options name (the default one otherwise), said on stderr. */
export async function kernelsOf(o: ParsedOptions): Promise<Kernels> {
  const name = o.text('backend') ?? defaultBackendName();
  const convAlgorithm = o.given('conv-algorithm') ? (o.text('conv-algorithm') as ConvAlgorithm) : undefined;
  const kernels = await createKernels(name, { threads: o.number('threads'), convAlgorithm });
  console.error(`backend: ${kernels.name}${o.given('backend') ? '' : ' (default; choose with --backend)'}`);
  return kernels;
}
