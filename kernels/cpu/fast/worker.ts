// The worker thread's side of the pool: wait for a job, take tasks from the shared counter until
// there are none left, say so. The tasks run the same code as on the main thread (conv.ts).
// Compiled to dist/kernels/cpu/fast/worker.js, which worker_pool.ts starts.

import { parentPort } from 'worker_threads';
import { runConvTasks } from './conv';
import { ConvJobMessage, WorkerReply, jobFromMessage } from './worker_pool';

if (parentPort === null) throw new Error('kernels/cpu/fast/worker.js must be started as a worker thread');
const port = parentPort;

port.on('message', (message: ConvJobMessage) => {
  let reply: WorkerReply;
  try {
    const { job, counter } = jobFromMessage(message);
    runConvTasks(job, counter);
    reply = { ok: true };
  } catch (error) {
    // Report instead of crashing: the pool then fails this one call and stays usable.
    reply = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  port.postMessage(reply);
});
