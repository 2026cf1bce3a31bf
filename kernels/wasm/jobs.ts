// The jobs the 'wasm' backend's threads run, and how a thread runs its share of one: the part
// of the threads that is the same in Node (./threads.ts, worker_threads) and in the browser
// (web/wasm_threads.ts, Web Workers). No Node-only module here.

import { ConvJob, runConvTasks } from './conv';
import { SweepJob, runSweepTasks } from './sweep';
import { WinogradJob, runWinogradTasks } from './winograd';
import { WasmExports, WasmModules } from './runtime';

/** What the threads run: a convolution pass (GEMM or Winograd) or a memory-bound sweep. */
export type Job = ConvJob | WinogradJob | SweepJob;

/** Runs a job's tasks on this thread until there are none left (counter null: all of them). */
export function runJobTasks(job: Job, wasm: WasmExports, thread: number, counter: Int32Array | null): void {
  if ('pass' in job) runConvTasks(job, wasm, thread, counter);
  else if ('winograd' in job) runWinogradTasks(job, wasm, thread, counter);
  else runSweepTasks(job, wasm, counter);
}

/** What a worker is started with (Node: its workerData; the page: its first message). */
export interface WorkerSetup {
  modules: WasmModules;
  memory: WebAssembly.Memory;
  /** This worker's thread number (the main thread is 0): which scratch block it uses. */
  thread: number;
}

/** What a worker receives per job: the job and the shared task counter. */
export interface JobMessage {
  job: Job;
  counter: SharedArrayBuffer;
}
