"""The PyTorch yardstick for learning: trains the PyTorch twin of the project's batch-norm SSD300
(SSD300BN from make_batchnorm_fixtures.py, channels / --width-divisor, initialised as
`ssd train --batch-norm` initialises it; see torch_common.py) on a Pascal VOC layout, with the
recipe the project is measured against, and records the VOC07 mAP curve on the test split.

Recipe: SGD, momentum 0.9, weight decay 5e-4, biases at twice the rate; batch 16, peak lr 0.01;
a linear warm-up (--warmup-steps N, or --warmup-share F of the run: default 0.05), then cosine to
0 (--cosine-from warmup-end, the default, or start: the project's train/schedule.ts, whose cosine
runs from step 0 and is multiplied by the warm-up); the run's length is --steps N or --max-minutes M,
whichever ends first (with M the schedule follows the training time used / M; evaluations are not
counted); gradient clipping with --clip NORM. Augmentation in a DataLoader with --workers N
processes: the tutorial's random crop with a minimum IoU and the horizontal flip (--no-crop,
--no-flip), the photometric distortions (--photometric) and the zoom out (--zoom-out) when asked,
or none (--no-augment); then 300x300 and the ImageNet normalisation.

Evaluation: VOC07 11-point mAP on the test split (detection as ssd/detect.ts: min score 0.01, NMS
0.45, top 200) when the training time passes each of --eval-at MINUTES (default 3,6,9,15), every
--eval-every-steps N, at the start with --eval-at-start, and at the end.

Step-for-step comparison with the project: --order FILE is a JSON list of batches, each a list of
indices into the train split (as listed in ImageSets/Main/train.txt), trained in that order, with
no augmentation (--order implies --no-augment), the run's length is the list's (or --steps);
--losses FILE writes the loss at every step: [{step, loss, loc, conf, lr}]. --init FILE starts
from the project's initial weights (a safetensors file), so that the two sides start alike.
--save FILE writes the trained weights as safetensors with the project's metadata (classes,
width divisor, batch norm), which `ssd detect --weights FILE` and `ssd eval` read as they are.

Reads ROOT/ImageSets/Main/{train,test}.txt, ROOT/Annotations/*.xml, ROOT/JPEGImages/*.jpg (.png);
classes are the train split's names, sorted, background first (as the project reads them).

Run with the Debian PyTorch (not the pyenv python3 on PATH), e.g. on the set `npm run real-set` makes:
    /usr/bin/python3 scripts/torch_train.py --data real-set --max-minutes 15 --json torch-curve.json
    /usr/bin/python3 scripts/torch_train.py --data real-set --order order.json --losses torch-losses.json --warmup-steps 30
Writes --json FILE: {"args", "torch", "threads", "classes", "curve": [{minutes, wall_minutes, step,
images_seen, loss, mAP, ap}], "steps", "train_seconds"}, and prints a line every --log-every steps
and at every evaluation. "loss" in the curve is the mean loss of the steps since the point before.
"""

import argparse
import json
import math
import random
import sys
import time

import torch

sys.dont_write_bytecode = True  # no scripts/__pycache__ in the working tree
import torch_common as tc  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="VOC-layout root (train.txt and test.txt in ImageSets/Main)")
    p.add_argument("--train-split", default="train")
    p.add_argument("--test-split", default="test")
    p.add_argument("--width-divisor", type=int, default=8)
    p.add_argument("--head-init", choices=["xavier", "normal"], default="xavier", help="prediction convs: Xavier uniform (the project) or normal std 0.01")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--steps", type=int, help="train this many steps (the schedule's length)")
    p.add_argument("--max-minutes", type=float, help="train this long (training time; the schedule follows it)")
    w = p.add_mutually_exclusive_group()
    w.add_argument("--warmup-steps", type=int)
    w.add_argument("--warmup-share", type=float, help="share of the run (steps or time) that warms up (default 0.05)")
    p.add_argument("--cosine-from", choices=["warmup-end", "start"], default="warmup-end")
    p.add_argument("--clip", type=float, help="clip the gradient's global norm to this")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (0: in the training process)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--no-crop", action="store_true")
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--photometric", action="store_true")
    p.add_argument("--zoom-out", action="store_true")
    p.add_argument("--eval-at", default="3,6,9,15", help="minutes of training at which to evaluate ('' for none)")
    p.add_argument("--eval-every-steps", type=int)
    p.add_argument("--eval-at-start", action="store_true")
    p.add_argument("--eval-batch", type=int, default=16)
    p.add_argument("--order", help="JSON list of batches (lists of train indices) to train on, in order")
    p.add_argument("--init", help="start from these weights (a safetensors file the project wrote: the same initial weights on both sides)")
    p.add_argument("--losses", help="write the loss of every step here (JSON)")
    p.add_argument("--json", help="write the curve here")
    p.add_argument("--save", help="write the trained weights here (safetensors with the metadata the project writes: "
                                  "`ssd detect|eval --weights FILE` reads it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-every", type=int, default=10)
    args = p.parse_args(argv)
    if args.order is not None:
        explicit = [f for f in ("photometric", "zoom_out") if getattr(args, f)]
        if explicit:
            p.error(f"--order trains the batches as they are: no augmentation (drop --{explicit[0].replace('_', '-')})")
        args.no_augment = True
    if args.steps is None and args.max_minutes is None and args.order is None:
        p.error("give the run's length: --steps N and/or --max-minutes M (or --order FILE)")
    if args.warmup_steps is None and args.warmup_share is None:
        args.warmup_share = 0.05
    return args


class Schedule:
    """lr at a step, given the progress p in [0, 1] of the run (steps or time)."""

    def __init__(self, args):
        self.args = args
        self.warmup_end = args.warmup_share  # the progress where the warm-up ends (known now for a share)

    def lr(self, step, p):
        a = self.args
        if a.warmup_steps is not None:
            warm = min(1.0, (step + 1) / a.warmup_steps) if a.warmup_steps > 0 else 1.0
        else:
            warm = min(1.0, p / a.warmup_share) if a.warmup_share > 0 else 1.0
        if a.cosine_from == "start":
            q = p
        elif warm < 1.0 or self.warmup_end is None:
            q = 0.0
        else:
            q = (p - self.warmup_end) / max(1e-12, 1.0 - self.warmup_end)
        q = min(max(q, 0.0), 1.0)
        return a.lr * warm * (1 + math.cos(math.pi * q)) / 2

    def after_step(self, step, p):
        a = self.args
        if a.warmup_steps is not None and self.warmup_end is None and step + 1 >= a.warmup_steps:
            self.warmup_end = p


def batches(loader):
    """Batches forever, epoch after epoch (the DataLoader shuffles each epoch anew)."""
    while True:
        for batch in loader:
            yield batch


def main(argv=None):
    args = parse_args(argv)
    threads = tc.set_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    classes = tc.class_names(args.data, args.train_split)
    train_samples = tc.read_voc(args.data, args.train_split, classes)
    test_samples = tc.read_voc(args.data, args.test_split, classes)
    print(f"{args.data}: {len(train_samples)} train, {len(test_samples)} test images; classes {', '.join(classes[1:])}", flush=True)

    augment = not args.no_augment
    transform = tc.SSDTransform(augment, crop=not args.no_crop, flip=not args.no_flip, zoom_out=args.zoom_out, photometric=args.photometric)
    train_set = tc.VocDataset(train_samples, transform)
    common = dict(num_workers=args.workers, collate_fn=tc.collate, persistent_workers=args.workers > 0)
    if args.order is not None:
        with open(args.order) as f:
            order = json.load(f)
        bad = [i for b in order for i in b if not (isinstance(i, int) and 0 <= i < len(train_samples))]
        if bad:
            sys.exit(f"{args.order}: index {bad[0]} is not in the train split (0..{len(train_samples) - 1})")
        loader = torch.utils.data.DataLoader(train_set, batch_sampler=order, **common)
        total_steps = min(len(order), args.steps) if args.steps is not None else len(order)
    else:
        generator = torch.Generator().manual_seed(args.seed)
        loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch, shuffle=True, drop_last=True, generator=generator, **common)
        total_steps = args.steps
    test_loader = torch.utils.data.DataLoader(tc.VocDataset(test_samples, tc.SSDTransform(False)), batch_size=args.eval_batch,
                                              num_workers=args.workers, collate_fn=tc.collate)
    budget = args.max_minutes * 60 if args.max_minutes is not None else None

    model = tc.make_model(len(classes), args.width_divisor, args.head_init)
    if args.init is not None:
        model.load_state_dict(tc.read_safetensors(args.init), strict=True)  # the project's initial weights, as they are
    model.train()
    optimizer = tc.make_optimizer(model, args.lr)
    priors = tc.priors_cxcy()
    schedule = Schedule(args)
    augment_text = "none" if not augment else ", ".join(
        [n for n, on in (("crop", not args.no_crop), ("flip", not args.no_flip), ("photometric", args.photometric), ("zoom out", args.zoom_out)) if on]) or "none"
    batch_text = f"batches from {args.order}" if args.order is not None else f"batch {args.batch}"
    print(f"model /{args.width_divisor}, batch norm, head init {args.head_init}; {batch_text}, lr {args.lr}, "
          f"warm-up {f'{args.warmup_steps} steps' if args.warmup_steps is not None else f'{args.warmup_share:.0%} of the run'}, "
          f"cosine from {args.cosine_from}; {total_steps if total_steps is not None else 'no'} steps, "
          f"{args.max_minutes if budget is not None else 'no'} minutes; augmentation: {augment_text}; {args.workers} workers", flush=True)

    eval_marks = sorted(float(m) for m in args.eval_at.split(",") if m.strip()) if args.eval_at else []
    curve, losses = [], []
    started = time.perf_counter()
    train_seconds = 0.0
    since = []  # losses since the last curve point
    images_seen = 0

    def record(step):
        t = time.perf_counter()
        mAP, ap = tc.evaluate(model, test_loader, test_samples, priors, len(classes))
        point = {"minutes": round(train_seconds / 60, 4), "wall_minutes": round((time.perf_counter() - started) / 60, 4), "step": step,
                 "images_seen": images_seen, "loss": (sum(since) / len(since)) if since else None, "mAP": mAP,
                 "ap": {classes[c]: ap[c] for c in range(1, len(classes))}}
        curve.append(point)
        since.clear()
        aps = ", ".join(f"{classes[c]} {ap[c]:.3f}" for c in range(1, len(classes)) if not math.isnan(ap[c]))
        print(f"eval at step {step} ({point['minutes']:.2f} min of training, {images_seen} images): mAP {mAP:.4f} ({aps}); "
              f"{time.perf_counter() - t:.1f} s", flush=True)

    if args.eval_at_start:
        record(0)
    step = 0
    it = iter(loader) if args.order is not None else batches(loader)
    t_data = time.perf_counter()
    while True:
        p_steps = step / total_steps if total_steps else 0.0
        p_time = train_seconds / budget if budget else 0.0
        if (total_steps is not None and step >= total_steps) or (budget is not None and train_seconds >= budget):
            break
        try:
            images, boxes, labels = next(it)
        except StopIteration:
            break
        p = max(p_steps, p_time)
        lr = schedule.lr(step, p)
        tc.set_lr(optimizer, lr)
        out = tc.loss_of(model, images, boxes, labels, priors)
        optimizer.zero_grad()
        out["loss"].backward()
        if args.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        now = time.perf_counter()
        train_seconds += now - t_data  # the step and the wait for its batch
        loss, loc, conf = out["loss"].item(), out["loc_loss"].item(), out["conf_loss"].item()
        if not math.isfinite(loss):
            sys.exit(f"step {step}: the loss is {loss}; stopping")
        step += 1
        images_seen += images.size(0)
        since.append(loss)
        losses.append({"step": step, "loss": loss, "loc": loc, "conf": conf, "lr": lr})
        schedule.after_step(step - 1, max(step / total_steps if total_steps else 0.0, train_seconds / budget if budget else 0.0))
        if step % args.log_every == 0 or step == 1:
            print(f"step {step}: loss {loss:.4f} (loc {loc:.4f}, conf {conf:.4f}), lr {lr:.5f}, "
                  f"{train_seconds / 60:.2f} min, {images_seen / train_seconds:.1f} img/s", flush=True)
        if eval_marks and train_seconds / 60 >= eval_marks[0]:
            while eval_marks and train_seconds / 60 >= eval_marks[0]:
                eval_marks.pop(0)
            record(step)
        elif args.eval_every_steps and step % args.eval_every_steps == 0:
            record(step)
        t_data = time.perf_counter()  # evaluations are not training time
    if not curve or curve[-1]["step"] != step:
        record(step)
    print(f"done: {step} steps, {images_seen} images in {train_seconds / 60:.2f} min of training "
          f"({images_seen / max(train_seconds, 1e-9):.1f} img/s); final mAP {curve[-1]['mAP']:.4f}", flush=True)
    if args.save:
        tc.write_safetensors(args.save, model.state_dict(), {
            "format": "pt", "model": "SSD300", "n_classes": str(len(classes)), "width_divisor": str(args.width_divisor),
            "batch_norm": "true", "classes": json.dumps(classes, separators=(",", ":")),
        })
        print(f"wrote {args.save}")
    if args.losses:
        with open(args.losses, "w") as f:
            json.dump(losses, f)
            f.write("\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "torch": torch.__version__, "threads": threads, "classes": classes, "steps": step,
                       "train_seconds": train_seconds, "curve": curve}, f, indent=1)
            f.write("\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
