// Running the `ssd` command as a child process and measuring it: its exit code and outputs, its
// peak memory (the child's own maximum resident set size, reported by a preloaded module when it
// exits) and its time.

import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const CLI = path.join(__dirname, '../../cli/ssd.js'); // dist/spec/cli -> dist/cli/ssd.js

let reporter = '';
/** The preloaded module: writes the peak memory to stderr as the process exits. */
function rssReporter(): string {
  if (reporter === '') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssd-rss-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    reporter = path.join(dir, 'report-rss.js');
    fs.writeFileSync(reporter, "process.on('exit', () => require('fs').writeSync(2, `\\nmax-rss-kb ${process.resourceUsage().maxRSS}\\n`));\n");
  }
  return reporter;
}

export interface MeasuredRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the command's process, in MB (NaN if it did not report: killed). */
  maxRssMb: number;
  seconds: number;
}

const ENV = { ...process.env };

function split(stderr: string): { stderr: string; maxRssMb: number } {
  const m = /\nmax-rss-kb (\d+)\n$/.exec(stderr);
  return m === null ? { stderr, maxRssMb: NaN } : { stderr: stderr.slice(0, m.index), maxRssMb: Number(m[1]) / 1024 };
}

/** Run `ssd args...` and wait for it (killed after timeoutMs: status null). */
export function ssdMeasured(args: readonly string[], timeoutMs = 120000, cwd?: string): MeasuredRun {
  const start = Date.now();
  const r = spawnSync(process.execPath, ['-r', rssReporter(), CLI, ...args], { encoding: 'utf8', timeout: timeoutMs, env: ENV, cwd });
  return { status: r.status, stdout: r.stdout, ...split(r.stderr), seconds: (Date.now() - start) / 1000 };
}

/** Start `ssd args...` without waiting: the child (its pid is the command's) and a promise of its run. */
export function ssdStarted(args: readonly string[]): { pid: number; output: () => string; done: Promise<MeasuredRun>; kill: (signal: NodeJS.Signals) => void } {
  const start = Date.now();
  const child = spawn(process.execPath, ['-r', rssReporter(), CLI, ...args], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<MeasuredRun>((resolve) => {
    child.on('close', (code) => resolve({ status: code, stdout, ...split(stderr), seconds: (Date.now() - start) / 1000 }));
  });
  return { pid: child.pid!, output: () => stdout + stderr, done, kill: (signal) => child.kill(signal) };
}

/** Whether a process with this id still runs. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * The ids of the running processes whose command line contains `text` (read from /proc): a
 * trainer that a killed command left behind, under any parent, still names its --out.
 */
export function processesNaming(text: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (cmdline.includes(text)) found.push(Number(entry));
  }
  return found;
}

/** The id of a process that has run and exited, so that no process has it now (a "dead writer"). */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  if (isRunning(pid)) throw new Error(`process ${pid} was reused at once`);
  return pid;
}

/** Every file under `dir` with its bytes, to compare before and after a command. */
export function snapshot(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) files.set(p, fs.readFileSync(p));
      else if (entry.isSymbolicLink()) files.set(p, Buffer.from(`-> ${fs.readlinkSync(p)}`));
    }
  };
  walk(dir);
  return files;
}

/** Sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
