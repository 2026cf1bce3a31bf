// Where a training step's time goes: `ssd train --profile` prints, per step, the time spent
// waiting for the input pipeline's batch, in the forward pass, the loss, the backward pass and the
// optimizer (gradient clipping and SGD), and how many cores the process kept busy (its CPU time,
// every thread's, over the wall time); at the end, the means. A step that waits for data says the
// pipeline is too slow; cores well under the machine's say some part runs on one thread.

import { StepTimings } from '../ssd/train_step';

interface Sample {
  data: number;
  forward: number;
  loss: number;
  backward: number;
  optimizer: number;
  wall: number;
  cores: number;
}

export class StepProfile {
  private readonly samples: Sample[] = [];
  private wallStart = 0;
  private cpuStart: NodeJS.CpuUsage = { user: 0, system: 0 };
  private dataMs = 0;

  constructor(private readonly log: (line: string) => void) {}

  /** A step begins (before its batch is awaited). */
  start(): void {
    this.wallStart = performance.now();
    this.cpuStart = process.cpuUsage();
  }

  /** The batch is here: the time since start() was spent waiting for it. */
  dataReady(): void {
    this.dataMs = performance.now() - this.wallStart;
  }

  /** The step is done: print its line. */
  step(step: number, timings: StepTimings): void {
    const wall = performance.now() - this.wallStart;
    const cpu = process.cpuUsage(this.cpuStart);
    const cores = (cpu.user + cpu.system) / 1000 / wall;
    const sample: Sample = { data: this.dataMs, ...timings, wall, cores };
    this.samples.push(sample);
    this.log(`profile step ${step}: ${format(sample)}`);
  }

  /** The means over every step profiled (the first left out when there are more: it compiles and allocates). */
  summary(): void {
    const steps = this.samples.length > 1 ? this.samples.slice(1) : this.samples;
    if (steps.length === 0) return;
    const mean = (f: (s: Sample) => number): number => steps.reduce((sum, s) => sum + f(s), 0) / steps.length;
    const means: Sample = {
      data: mean((s) => s.data), forward: mean((s) => s.forward), loss: mean((s) => s.loss), backward: mean((s) => s.backward),
      optimizer: mean((s) => s.optimizer), wall: mean((s) => s.wall), cores: mean((s) => s.cores),
    };
    this.log(`profile, mean of ${steps.length} step(s)${this.samples.length > 1 ? ' after the first' : ''}: ${format(means)}`);
  }
}

function format(s: Sample): string {
  const ms = (v: number): string => `${v.toFixed(0)} ms`;
  return (
    `${ms(s.wall)} = data ${ms(s.data)}, forward ${ms(s.forward)}, loss ${ms(s.loss)}, backward ${ms(s.backward)}, ` +
    `optimizer ${ms(s.optimizer)} (other ${ms(s.wall - s.data - s.forward - s.loss - s.backward - s.optimizer)}); ${s.cores.toFixed(2)} cores busy`
  );
}
