// Running the `ssd` command as a user does: a child process, its exit code and both outputs.

import { spawnSync } from 'child_process';
import * as path from 'path';

const CLI = path.join(__dirname, '../../cli/ssd.js'); // dist/spec/helpers -> dist/cli/ssd.js

export function runSsd(args: readonly string[], timeoutMs = 120000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
