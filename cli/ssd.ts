#!/usr/bin/env node
// The `ssd` command; the commands themselves are in cli/commands.ts. It runs in this one process
// (the input pipeline's and the kernels' workers are its threads), so nothing outlives it.

import './commands';
