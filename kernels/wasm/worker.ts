// A worker thread of the 'wasm' backend: instantiate the modules on the shared memory once, then
// for each job take tasks from the shared counter until there are none left, and say so.
// Compiled to dist/kernels/wasm/worker.js, which threads.ts starts.

import { parentPort, workerData } from 'worker_threads';
import { instantiate } from './runtime';
import { JobMessage, WorkerReply, WorkerSetup, runJobTasks } from './threads';

if (parentPort === null) throw new Error('kernels/wasm/worker.js must be started as a worker thread');
const port = parentPort;
const setup = workerData as WorkerSetup;
const wasm = instantiate(setup.modules, setup.memory);

port.on('message', (message: JobMessage) => {
  let reply: WorkerReply;
  try {
    runJobTasks(message.job, wasm, setup.thread, new Int32Array(message.counter));
    reply = { ok: true };
  } catch (error) {
    // Report instead of crashing: the call fails, the threads stay usable.
    reply = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  port.postMessage(reply);
});
