"""The PyTorch yardstick for speed: training throughput of the PyTorch twin of the project's
channels / 8 batch-norm SSD300 (SSD300BN from make_batchnorm_fixtures.py, initialised as
`ssd train --batch-norm`; see torch_common.py) at batch 16, measured two ways:

  step      the step alone: forward, MultiBox loss, backward, SGD (momentum, weight decay, biases
            at twice the rate) on random images and fixed targets already in memory;
  pipeline  the whole training loop: images read from disk, decoded, augmented (the tutorial's
            random crop and flip; --photometric, --zoom-out), resized and normalised in a torch
            DataLoader with --workers processes, then the same step. Timed from one step's end
            to the next, so waiting for data counts.

Each runs --warmup untimed steps, then --steps timed ones; it reports the median step time and
images per second (batch / median), with the minimum and maximum. The default --workers 2 is what
a PyTorch user would pick on this 2-core machine (one worker per core, as the DataLoader docs
suggest); --workers-sweep 0,1,2 measures the pipeline with each count in turn, to check that
choice. Do not time anything while other work runs on the machine.

Run with the Debian PyTorch (not the pyenv python3 on PATH), on a VOC-layout set (`npm run real-set`):
    /usr/bin/python3 scripts/torch_train_speed.py --data real-set --json torch-speed.json
    /usr/bin/python3 scripts/torch_train_speed.py --data real-set --workers-sweep 0,1,2 --steps 10
Writes --json FILE: {"torch", "threads", "batch", "width_divisor", "step": {median_s,
images_per_s, min_s, max_s, times_s}, "pipeline": [{"workers", median_s, images_per_s, ...}]}.
"""

import argparse
import statistics
import sys
import time

import torch

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the working tree
import torch_common as tc  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="VOC-layout root for the pipeline measurement (train split); without it only the step is timed")
    p.add_argument("--split", default="train")
    p.add_argument("--width-divisor", type=int, default=8)
    p.add_argument("--classes", type=int, default=6, help="for the step alone: number of classes with background (the real set: 6)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.01, help="a modest rate, so that random targets do not blow the weights up")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--workers-sweep", help="comma-separated worker counts to time the pipeline with (instead of --workers)")
    p.add_argument("--photometric", action="store_true")
    p.add_argument("--zoom-out", action="store_true")
    p.add_argument("--skip-step", action="store_true", help="time only the pipeline")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json")
    return p.parse_args(argv)


def summary(times, batch):
    median = statistics.median(times)
    return {"median_s": median, "images_per_s": batch / median, "min_s": min(times), "max_s": max(times), "times_s": times}


def train_step(model, optimizer, priors, images, boxes, labels):
    out = tc.loss_of(model, images, boxes, labels, priors)
    optimizer.zero_grad()
    out["loss"].backward()
    optimizer.step()
    return out["loss"].item()


def time_step(args):
    """The step alone, on random images and fixed random targets (1 to 4 boxes per image)."""
    g = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, 3, tc.SIZE, tc.SIZE, generator=g)
    boxes, labels = [], []
    for _ in range(args.batch):
        n = int(torch.randint(1, 5, (1,), generator=g))
        centre = torch.rand(n, 2, generator=g) * 0.6 + 0.2
        size = torch.rand(n, 2, generator=g) * 0.35 + 0.05
        boxes.append(torch.cat([centre - size / 2, centre + size / 2], 1))
        labels.append(torch.randint(1, args.classes, (n,), generator=g))
    model = tc.make_model(args.classes, args.width_divisor)
    model.train()
    optimizer = tc.make_optimizer(model, args.lr)
    tc.set_lr(optimizer, args.lr)
    priors = tc.priors_cxcy()
    times = []
    for k in range(args.warmup + args.steps):
        t = time.perf_counter()
        loss = train_step(model, optimizer, priors, images, boxes, labels)
        dt = time.perf_counter() - t
        if k >= args.warmup:
            times.append(dt)
        print(f"step alone {k + 1 - args.warmup if k >= args.warmup else 'warm-up'}: {dt:.3f} s (loss {loss:.3f})", flush=True)
    result = summary(times, args.batch)
    print(f"step alone: median {result['median_s']:.3f} s = {result['images_per_s']:.2f} images/s "
          f"(min {result['min_s']:.3f}, max {result['max_s']:.3f}; {args.steps} steps after {args.warmup})", flush=True)
    return result


def time_pipeline(args, workers):
    """The whole loop: DataLoader (disk, decode, augment, resize) with `workers` processes, then the step."""
    classes = tc.class_names(args.data, args.split)
    samples = tc.read_voc(args.data, args.split, classes)
    transform = tc.SSDTransform(True, zoom_out=args.zoom_out, photometric=args.photometric)
    loader = torch.utils.data.DataLoader(tc.VocDataset(samples, transform), batch_size=args.batch, shuffle=True, drop_last=True,
                                         num_workers=workers, collate_fn=tc.collate, persistent_workers=workers > 0,
                                         generator=torch.Generator().manual_seed(args.seed))
    model = tc.make_model(len(classes), args.width_divisor)
    model.train()
    optimizer = tc.make_optimizer(model, args.lr)
    tc.set_lr(optimizer, args.lr)
    priors = tc.priors_cxcy()
    times = []
    total = args.warmup + args.steps

    def forever():
        while True:
            yield from loader

    t = time.perf_counter()
    for k, (images, boxes, labels) in enumerate(forever()):
        loss = train_step(model, optimizer, priors, images, boxes, labels)
        now = time.perf_counter()
        if k >= args.warmup:
            times.append(now - t)
        print(f"pipeline, {workers} workers, {k + 1 - args.warmup if k >= args.warmup else 'warm-up'}: {now - t:.3f} s (loss {loss:.3f})", flush=True)
        t = now
        if k + 1 >= total:
            break
    result = {"workers": workers, "augment": ["crop", "flip"] + (["photometric"] if args.photometric else []) + (["zoom out"] if args.zoom_out else []),
              **summary(times, args.batch)}
    print(f"pipeline, {workers} workers: median {result['median_s']:.3f} s = {result['images_per_s']:.2f} images/s "
          f"(min {result['min_s']:.3f}, max {result['max_s']:.3f}; {args.steps} steps after {args.warmup})", flush=True)
    return result


def main(argv=None):
    args = parse_args(argv)
    threads = tc.set_threads(args.threads)
    torch.manual_seed(args.seed)
    report = {"torch": torch.__version__, "threads": threads, "batch": args.batch, "width_divisor": args.width_divisor,
              "warmup": args.warmup, "steps": args.steps}
    if not args.skip_step:
        report["step"] = time_step(args)
    if args.data:
        sweep = [int(w) for w in args.workers_sweep.split(",")] if args.workers_sweep else [args.workers]
        report["pipeline"] = [time_pipeline(args, w) for w in sweep]
    if args.json:
        tc.write_json(args.json, report)


if __name__ == "__main__":
    main()
