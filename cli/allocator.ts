// Big tensors and the C allocator: why `ssd`, the demo and the benchmarks restart themselves once.
//
// Every layer returns a fresh output, and the big ones (conv1_x at 300x300: 23 MB per image)
// come from the C library's malloc, not from V8's heap. glibc hands such blocks out with mmap and
// gives them back with munmap when V8 frees them, so the next forward pass touches new pages and
// pays a page fault for each 4 KiB: on this project's 2-core VM about 60 ms for one 23 MB tensor,
// longer than the ReLU that fills it. Two of glibc's tunables remove most of that cost:
//   glibc.malloc.hugetlb=1                 blocks from mmap are backed by 2 MiB transparent huge
//                                          pages (one fault for 512 small ones)
//   glibc.malloc.mmap_threshold=32 MiB     blocks up to 32 MiB (glibc's largest) come from the heap,
//   glibc.malloc.trim_threshold=16 GiB     and the heap keeps the memory freed, to reuse it
// Measured side by side (full SSD300, batch 1, wasm backend, median of 5 forwards after 2 warm-up
// ones): about 1.05 s without them, 0.95 s with them.
//
// Tunables are read once, when the process starts, from the environment variable GLIBC_TUNABLES,
// so a running process cannot set them for itself: relaunchWithTunedAllocator starts the same
// command again with them and passes its exit code on. It does nothing where GLIBC_TUNABLES is
// already set (set it yourself, even to an empty string, to choose other values or none) and on
// other systems than Linux. Other C libraries ignore the variable.

import { spawn } from 'child_process';
import * as os from 'os';

export const TUNED_ALLOCATOR = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184';

/** What the allocator runs with, for the benchmarks' headers. */
export function allocatorSettings(): string {
  const tunables = process.env.GLIBC_TUNABLES;
  if (tunables === undefined) return 'allocator: glibc defaults (GLIBC_TUNABLES not set)';
  return tunables === TUNED_ALLOCATOR ? `allocator: GLIBC_TUNABLES=${tunables} (set by this program)` : `allocator: GLIBC_TUNABLES='${tunables}' (set by you)`;
}

/**
 * Starts this same command again (same Node, flags, script and arguments) with GLIBC_TUNABLES set
 * to TUNED_ALLOCATOR, and returns true: the caller must then do nothing more, this process exits
 * with the other one's exit code. Returns false, having done nothing, where the variable is
 * already set or the system is not Linux: the caller runs normally.
 *
 * The new process gets a process group of its own, so that Ctrl-C at the terminal reaches this
 * process only, which passes it on exactly once (`ssd train` stops cleanly on the first Ctrl-C
 * and at once on a second: the same signal delivered twice would look like two).
 */
export function relaunchWithTunedAllocator(): boolean {
  if (process.platform !== 'linux' || process.env.GLIBC_TUNABLES !== undefined) return false;
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: TUNED_ALLOCATOR },
    detached: true,
  });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const signal of signals) process.on(signal, forward);
  child.on('error', (error) => {
    console.error(`could not start ${process.execPath} again with GLIBC_TUNABLES set: ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    // a child killed by a signal: exit as a shell reports it, 128 + the signal's number
    process.exit(code ?? 128 + (signal === null ? 0 : os.constants.signals[signal]));
  });
  return true;
}
