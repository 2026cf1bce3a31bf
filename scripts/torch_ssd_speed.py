"""The PyTorch yardstick for the whole network's speed: the full SSD300 (VGG-16 base, channels as in
the paper, 21 classes, 8732 priors) on PyTorch 1.13's CPU kernels (oneDNN), timed two ways at
--batch images:

  forward   model.eval() under torch.no_grad(): what detection runs before decoding and NMS;
  step      model.train(): forward, MultiBox loss (make_ssd_fixtures.multibox_loss, the tutorial's),
            backward, SGD with momentum and weight decay (biases at twice the rate), on random
            images and fixed random targets (1 to 4 boxes an image).

The model is SSD300BN from make_batchnorm_fixtures.py (the same layers and state_dict names as the
project's) with its batch norms replaced by identities: the plain SSD300 (--batch-norm keeps them).
Each runs --warmup untimed passes, then --runs timed ones; the median, minimum and maximum are
printed and written to --json FILE: {"torch", "threads", "batch", "batch_norm", "forward":
{median_s, min_s, max_s, times_s}, "step": {...}}. bench/ssd_vs_torch.ts runs this in alternating
rounds with the project's forward and step.

With --serve it times one pass per request instead, for bench/ssd_vs_torch.ts --paired, which
alternates single passes of the two programs: it prints "ready", then reads lines from standard
input, "forward" or "step", runs one such pass and prints "<what> <seconds>"; "quit" (or the end
of the input) ends it. The forward runs on a model of its own, so that the steps' updates do not
touch it.

    /usr/bin/python3 scripts/torch_ssd_speed.py [--batch 1 --warmup 2 --runs 5 --threads 2 --json FILE] [--serve]
"""

import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the working tree
import torch_common as tc  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--classes", type=int, default=21, help="with background (VOC: 21)")
    p.add_argument("--width-divisor", type=int, default=1)
    p.add_argument("--batch-norm", action="store_true", help="keep the batch norms (the model of `ssd train --batch-norm`)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--no-step", action="store_true", help="time only the forward")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json")
    p.add_argument("--serve", action="store_true", help="time one pass per line read from standard input (see above)")
    return p.parse_args(argv)


def summary(times):
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "times_s": times}


def timed(what, warmup, runs, body):
    times = []
    for k in range(warmup + runs):
        t = time.perf_counter()
        body()
        dt = time.perf_counter() - t
        if k >= warmup:
            times.append(dt)
        print(f"{what} {k + 1 - warmup if k >= warmup else 'warm-up'}: {dt:.3f} s", flush=True)
    result = summary(times)
    print(f"{what}: median {result['median_s']:.3f} s (min {result['min_s']:.3f}, max {result['max_s']:.3f}; {runs} runs after {warmup})", flush=True)
    return result


def make_model(args):
    model = tc.make_model(args.classes, args.width_divisor)
    if not args.batch_norm:
        # the plain SSD300: every BatchNorm2d of the twin becomes an identity (its convs keep their biases)
        for part in (model.base, model.aux_convs):
            for name, module in list(part.named_children()):
                if isinstance(module, nn.BatchNorm2d):
                    setattr(part, name, nn.Identity())
    return model


def main(argv=None):
    args = parse_args(argv)
    threads = tc.set_threads(args.threads)
    torch.manual_seed(args.seed)
    model = make_model(args)
    g = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, 3, tc.SIZE, tc.SIZE, generator=g)  # (N, 3, 300, 300)
    report = {"torch": torch.__version__, "threads": threads, "batch": args.batch, "classes": args.classes,
              "width_divisor": args.width_divisor, "batch_norm": args.batch_norm, "warmup": args.warmup, "runs": args.runs}

    # the forward's own model in --serve (the steps change `model`'s weights between forwards)
    inference = make_model(args) if args.serve else model
    inference.eval()

    def forward():
        with torch.no_grad():
            inference(images)

    if not args.serve:
        report["forward"] = timed("forward", args.warmup, args.runs, forward)

    if not args.no_step or args.serve:
        boxes, labels = [], []
        for _ in range(args.batch):
            n = int(torch.randint(1, 5, (1,), generator=g))
            centre = torch.rand(n, 2, generator=g) * 0.6 + 0.2
            size = torch.rand(n, 2, generator=g) * 0.35 + 0.05
            boxes.append(torch.cat([centre - size / 2, centre + size / 2], 1))  # (n, 4) boundary fractions
            labels.append(torch.randint(1, args.classes, (n,), generator=g))
        priors = tc.priors_cxcy()
        optimizer = tc.make_optimizer(model, 1e-4)
        tc.set_lr(optimizer, 1e-4)
        model.train()

        def step():
            out = tc.loss_of(model, images, boxes, labels, priors)
            optimizer.zero_grad()
            out["loss"].backward()
            optimizer.step()

        if args.serve:
            serve({"forward": forward, "step": step})
            return
        report["step"] = timed("step", args.warmup, args.runs, step)

    if args.json:
        tc.write_json(args.json, report)


def serve(passes):
    """One pass per line of standard input ("forward" or "step"), its time printed; "quit" ends."""
    print("ready", flush=True)
    for line in sys.stdin:
        what = line.strip()
        if what == "quit":
            return
        if what not in passes:
            print(f"error: unknown request {what!r} (forward, step or quit)", flush=True)
            continue
        t = time.perf_counter()
        passes[what]()
        print(f"{what} {time.perf_counter() - t:.6f}", flush=True)


if __name__ == "__main__":
    main()
