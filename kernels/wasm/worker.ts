// A worker thread of the 'wasm' backend: instantiate the modules on the shared memory once, then
// for each job take tasks from the shared counter until there are none left, and say so.
// Compiled to dist/kernels/wasm/worker.js, which threads.ts starts.

import { workerData } from 'worker_threads';
import { serveJobs } from '../task_threads';
import { instantiate } from './runtime';
import { JobMessage, WorkerSetup, runJobTasks } from './threads';

const setup = workerData as WorkerSetup;
const wasm = instantiate(setup.modules, setup.memory);

serveJobs('kernels/wasm/worker.js', (message: JobMessage) => runJobTasks(message.job, wasm, setup.thread, new Int32Array(message.counter)));
