// The worker thread's side of the pool: wait for a job, take tasks from the shared counter until
// there are none left, say so. The tasks run the same code as on the main thread (conv.ts).
// Compiled to dist/kernels/cpu/fast/worker.js, which worker_pool.ts starts.

import { serveJobs } from '../../task_threads';
import { runConvTasks } from './conv';
import { ConvJobMessage, jobFromMessage } from './worker_pool';

serveJobs('kernels/cpu/fast/worker.js', (message: ConvJobMessage) => {
  const { job, counter } = jobFromMessage(message);
  runConvTasks(job, counter);
});
