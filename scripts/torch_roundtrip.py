"""The round trip between the project and PyTorch (docs/pytorch.md): weights trained by `ssd train`
load into PyTorch's twin of the batch-norm SSD300, and weights trained in PyTorch load back into
the project, with the same outputs both ways.

  1. Node (bench/roundtrip.ts export): a small batch-norm SSD300 (4 classes, channels / 16, Kaiming
     base) trained 3 steps by the project's trainer on synthetic images, so that its batch norms'
     running statistics are no longer 0 and 1; its checkpoint; its outputs in evaluation mode on 2
     formula images (make_batchnorm_fixtures.step_images).
  2. PyTorch: the checkpoint into SSD300BN (make_batchnorm_fixtures.py) with
     load_state_dict(strict=True), after dropping the tensors that are not weights (the SGD momentum,
     'optimizer.momentum.<parameter>'); its outputs on the same images against Node's.
  3. PyTorch trains on: a few SGD steps of its own (torch_common: the project's optimizer, with the
     checkpoint's momentum put back, and the tutorial's MultiBox loss), then saves its state_dict
     as safetensors (num_batches_tracked as I64, as safetensors.torch.save_file writes it) with the
     metadata the project writes ('classes': a JSON list, background first). Node loads it as
     `ssd detect` does (cli/model_files.ts loadModel) and its outputs are compared with PyTorch's;
     `ssd detect --weights` on it must exit 0.

The bound: every output within --tol (default 1e-4) x the largest |value| of that output. Both
sides compute in float32 (2^-24 = 6e-8 per rounding) but sum in different orders: one conv output
here sums up to 9 x 64 = 576 products, so it is off by some sqrt(576) x 6e-8 = 1.4e-6 of its size
(docs/numerics.md: every conv within 1e-5 relative), and 23 convs with batch norms, the L2 norm and
a head compound that to some 1e-5 at worst; the wasm backend's Winograd convolutions (its default,
`auto`) add their own bounded error (kernels/wasm/winograd.ts). Measured: 1.4e-6 on the reference
and cpu backends, 6e-6 on wasm, so 1e-4 leaves a margin of 15 or more, and is still four orders of
magnitude below what a batch norm left in training mode or running statistics left at 0 and 1
would change (O(1)). The script also checks that PyTorch's own training moved the outputs by more
than 10 x the bound, so that the second comparison tells something.

A note on the other model: the project's model WITHOUT batch norm has the state_dict names of
the reference tutorial's SSD300 (sgrvinod, a-PyTorch-Tutorial-to-Object-Detection, model.py:
base.conv1_1 ... base.conv7, aux_convs.conv8_1 ... conv11_2, pred_convs.loc_conv4_3 ...
cl_conv11_2, rescale_factors), whose priors, matching and MultiBox loss make_ssd_fixtures.py
reproduces; not torchvision's ssd300_vgg16, whose names (backbone.features.N, head.*) differ.

Run after `npm run build` (which makes dist/), with the Debian PyTorch:
    /usr/bin/python3 scripts/torch_roundtrip.py [--dist DIR] [--backend cpu|wasm|reference] [--keep DIR]
Exits 1 on any failure; prints a short report.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_common as tc  # noqa: E402
from make_batchnorm_fixtures import SSD300BN, STEP_BOXES, STEP_LABELS, step_images  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOMENTUM = "optimizer.momentum."


class Failure(Exception):
    pass


def node(args, *argv):
    """Run `node DIST/<argv...>`; its stdout, or Failure with its stderr."""
    env = dict(os.environ)
    # a --dist outside the checkout still finds the project's packages (pngjs, ...)
    env["NODE_PATH"] = os.pathsep.join(p for p in [os.path.join(ROOT, "node_modules"), env.get("NODE_PATH", "")] if p)
    cmd = [args.node, os.path.join(args.dist, argv[0]), *argv[1:]]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def compare(what, ours, theirs, tol, report):
    """max |diff| of two outputs, relative to the largest |value|; Failure above tol."""
    if tuple(ours.shape) != tuple(theirs.shape):
        raise Failure(f"{what}: shapes {tuple(ours.shape)} and {tuple(theirs.shape)}")
    diff = (ours.double() - theirs.double()).abs().max().item()
    scale = theirs.double().abs().max().item()
    rel = diff / scale
    ok = rel <= tol
    report.append(f"  {what:<44} max|diff| {diff:.3e}  max|value| {scale:8.3f}  relative {rel:.2e}  {'ok' if ok else 'FAIL'}")
    if not ok:
        raise Failure(f"{what}: max |diff| {diff:.3e} is {rel:.2e} of max |value| {scale:.3f}, above the bound {tol:g}")
    return rel


def outputs(model, images):
    model.eval()
    with torch.no_grad():
        return model(images)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dist", default=os.path.join(ROOT, "dist"), help="the project's build folder (default dist/)")
    p.add_argument("--node", default="node")
    p.add_argument("--backend", help="the project's kernels (default: the CLI's default, wasm where it works)")
    p.add_argument("--tol", type=float, default=1e-4, help="bound on max |diff| / max |value| (default 1e-4)")
    p.add_argument("--steps", type=int, default=3, help="training steps on each side (default 3)")
    p.add_argument("--lr", type=float, default=1e-3, help="PyTorch's learning rate in step 3 (default 1e-3)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", help="work in this folder and keep it (default: a temporary folder, removed)")
    args = p.parse_args()
    torch.set_num_threads(1)  # make_batchnorm_fixtures sets it too: small model, repeatable sums
    work = args.keep or tempfile.mkdtemp(prefix="ssd-roundtrip-")
    os.makedirs(work, exist_ok=True)
    backend = ["--backend", args.backend] if args.backend else []
    report = []
    try:
        run(args, work, backend, report)
    except Failure as e:
        print("\n".join(report))
        print(f"FAIL: {e}")
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n".join(report))
    print(f"PASS (bound: {args.tol:g} x max |value|)")
    return 0


def run(args, work, backend, report):
    images = step_images(2)

    # 1. the project trains and writes a checkpoint; its outputs in evaluation mode
    info = json.loads(node(args, "bench/roundtrip.js", "export", "--dir", work, "--seed", str(args.seed), "--steps", str(args.steps), *backend).strip().splitlines()[-1])
    checkpoint = info["checkpoint"]
    tensors, metadata = tc.read_safetensors_file(checkpoint)
    node_out, node_meta = tc.read_safetensors_file(os.path.join(work, "node_checkpoint_outputs.safetensors"))
    classes = json.loads(metadata["classes"])
    report.append(f"torch {torch.__version__}; project backend {node_meta.get('backend')}; work folder {work}")
    report.append(f"1. project: SSD300 batch norm, {len(classes)} classes {classes}, width / {metadata['width_divisor']}, "
                  f"{info['steps']} training steps (loss {info['lastLoss']:.3f}) -> checkpoint")

    # 2. the checkpoint into PyTorch
    if metadata.get("batch_norm") != "true":
        raise Failure(f"{checkpoint}: metadata batch_norm is {metadata.get('batch_norm')!r}")
    model = SSD300BN(len(classes), int(metadata["width_divisor"]))
    names = set(model.state_dict())
    extra = sorted(n for n in tensors if n not in names)
    not_momentum = [n for n in extra if not (n.startswith(MOMENTUM) and n[len(MOMENTUM):] in dict(model.named_parameters()))]
    if not_momentum:
        raise Failure(f"{checkpoint}: tensors that are neither weights nor momentum: {not_momentum[:5]}")
    momentum = {n[len(MOMENTUM):]: tensors.pop(n) for n in extra}
    for n in tensors:
        if n.endswith("num_batches_tracked"):
            tensors[n] = tensors[n].long()  # the project stores its counters as F32
    model.load_state_dict(tensors, strict=True)
    counts = {int(v) for n, v in model.state_dict().items() if n.endswith("num_batches_tracked")}
    max_mean = max(v.abs().max().item() for n, v in model.state_dict().items() if n.endswith("running_mean"))
    if counts != {args.steps} or max_mean == 0:
        raise Failure(f"the running statistics are not trained ones: num_batches_tracked {counts}, max |running_mean| {max_mean}")
    report.append(f"2. PyTorch: load_state_dict(strict=True) of {len(tensors)} tensors, after dropping {len(extra)} "
                  f"'{MOMENTUM}*' (SGD momentum); num_batches_tracked {counts.pop()}, max |running_mean| {max_mean:.3f}")
    locs, scores = outputs(model, images)
    compare("checkpoint: locs, PyTorch vs project", node_out["locs"], locs, args.tol, report)
    compare("checkpoint: scores, PyTorch vs project", node_out["scores"], scores, args.tol, report)

    # 3. PyTorch trains on (the project's SGD, its momentum carried over) and writes the weights back
    model.train()
    optimizer = tc.make_optimizer(model, args.lr)
    tc.set_lr(optimizer, args.lr)
    for name, p in model.named_parameters():
        optimizer.state[p]["momentum_buffer"] = momentum[name].clone()
    priors = tc.priors_cxcy()
    boxes = [torch.tensor(b, dtype=torch.float32) for b in STEP_BOXES]
    labels = [torch.tensor(lab, dtype=torch.long) for lab in STEP_LABELS]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = []
    for _ in range(args.steps):
        optimizer.zero_grad()
        out = tc.loss_of(model, images, boxes, labels, priors)
        out["loss"].backward()
        optimizer.step()
        losses.append(out["loss"].item())
    moved = (sum((p.detach() - before[n]).pow(2).sum() for n, p in model.named_parameters()).sqrt()
             / sum(v.pow(2).sum() for v in before.values()).sqrt()).item()
    locs2, scores2 = outputs(model, images)
    change = max((locs2 - locs).abs().max().item() / locs.abs().max().item(), (scores2 - scores).abs().max().item() / scores.abs().max().item())
    if change < 10 * args.tol:
        raise Failure(f"PyTorch's training moved the outputs by only {change:.2e} of their size: the comparison below would not tell")
    weights = os.path.join(work, "torch_trained.safetensors")
    tc.write_safetensors(weights, model.state_dict(), {
        "format": "pt", "model": "SSD300", "n_classes": str(len(classes)), "width_divisor": metadata["width_divisor"],
        "batch_norm": "true", "classes": json.dumps(classes, separators=(",", ":")),
    })
    report.append(f"3. PyTorch: {args.steps} SGD steps at lr {args.lr:g} (losses {', '.join(f'{v:.3f}' for v in losses)}): "
                  f"the parameters moved by {moved:.3f} of their norm, outputs by {change:.2f} of their size -> state_dict as safetensors (num_batches_tracked I64)")
    imported = os.path.join(work, "node_import_outputs.safetensors")
    shape = json.loads(node(args, "bench/roundtrip.js", "import", "--weights", weights, "--out", imported, *backend).strip().splitlines()[-1])
    if shape["classes"] != classes or not shape["batchNorm"] or shape["nClasses"] != len(classes):
        raise Failure(f"the project read the PyTorch file as {shape}, expected classes {classes} with batch norm")
    report.append(f"   project: loadModel reads {shape['nClasses']} classes {shape['classes']}, width / {shape['widthDivisor']}, batch norm")
    node_out2, _ = tc.read_safetensors_file(imported)
    compare("PyTorch-trained: locs, project vs PyTorch", node_out2["locs"], locs2, args.tol, report)
    compare("PyTorch-trained: scores, project vs PyTorch", node_out2["scores"], scores2, args.tol, report)
    found = node(args, "cli/ssd.js", "detect", "--weights", weights, os.path.join(work, "image.png"),
                 "--out", os.path.join(work, "detections"), "--min-score", "0.2", *backend)
    lines = found.strip().splitlines()
    drawn = [line.split("-> ", 1)[1].strip() for line in lines if "-> " in line]
    if not drawn or not os.path.exists(drawn[-1]):
        raise Failure(f"ssd detect exited 0 but wrote no annotated image:\n{found}")
    report.append(f"   ssd detect --weights torch_trained.safetensors image.png --min-score 0.2: exit 0, '{lines[0].split(': ', 1)[-1]}', "
                  f"{os.path.basename(drawn[-1])} written")


if __name__ == "__main__":
    sys.exit(main())
