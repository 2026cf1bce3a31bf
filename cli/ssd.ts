#!/usr/bin/env node
// The `ssd` command. It first restarts itself once with the C allocator tuned for big tensors
// (cli/allocator.ts says why); the commands themselves are in cli/commands.ts.

import { relaunchWithTunedAllocator } from './allocator';

if (!relaunchWithTunedAllocator()) void import('./commands');
