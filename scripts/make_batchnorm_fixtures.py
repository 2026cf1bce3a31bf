"""Golden fixtures for batch normalization (spec/layers/batchnorm.spec.ts, spec/ssd/batchnorm_model.spec.ts).

Writes, computed by PyTorch's own nn.BatchNorm2d and autograd (float32, CPU, 1 thread):

spec/fixtures/batchnorm.json
  Layer cases: a BatchNorm2d (momentum 0.1, eps 1e-5, weight and bias set to seeded values) run
  for three training steps on seeded inputs (the output, the input/weight/bias gradients for a
  seeded output gradient, and the running statistics after each step), then in evaluation mode
  (output and input gradient with the running statistics). One case has a 1x1 map at batch 2,
  as conv11_2's output at batch 2 (2 values per channel: the smallest batch PyTorch accepts in
  training mode).

spec/fixtures/ssd_bn_step.safetensors
  One training step of a small SSD300 with a batch norm after every base and auxiliary conv
  (channels / 32, 3 classes, batch 2): the initial weights under their state_dict names; the
  gradient of the MultiBox loss for every parameter under 'grad.<name>'; the running statistics
  after the step under 'after.<name>'; the loss and its parts in the metadata. The images are a
  formula both sides compute exactly: x[n, c, i, j] = ((7i + 13j + 29c + 101n) mod 64) / 32 - 1.

Rerun by hand (the outputs are committed) with the Debian PyTorch:
    /usr/bin/python3 scripts/make_batchnorm_fixtures.py
"""

import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_ssd_fixtures as ssd_fixtures  # noqa: E402  (priors, box utilities, the MultiBox loss)
from make_fixtures import emit, t  # noqa: E402

torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_JSON = os.path.join(ROOT, "spec", "fixtures", "batchnorm.json")
OUT_STEP = os.path.join(ROOT, "spec", "fixtures", "ssd_bn_step.safetensors")


# ---------------------------------------------------------------------------------------------
# The layer


def layer_case(seed, shape, what):
    torch.manual_seed(seed)
    channels = shape[1]
    bn = nn.BatchNorm2d(channels, momentum=0.1, eps=1e-5)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(channels) + 0.5)
        bn.bias.copy_(torch.randn(channels) * 0.1)
    initial = {"weight": t(bn.weight), "bias": t(bn.bias)}
    steps = []
    bn.train()
    for _ in range(3):
        # an offset and a scale per channel, so that the statistics are far from 0 and 1
        x = (torch.randn(shape) * (torch.rand(1, channels, 1, 1) * 3 + 0.5) + torch.randn(1, channels, 1, 1) * 2).requires_grad_()
        dy = torch.randn(shape)
        bn.zero_grad()
        y = bn(x)
        y.backward(dy)
        steps.append({
            "x": t(x), "dy": t(dy), "y": t(y), "dx": t(x.grad), "dweight": t(bn.weight.grad), "dbias": t(bn.bias.grad),
            "running_mean": t(bn.running_mean), "running_var": t(bn.running_var),
        })
    bn.eval()
    x = (torch.randn(shape) * 2 + 1).requires_grad_()
    dy = torch.randn(shape)
    bn.zero_grad()
    y = bn(x)
    y.backward(dy)
    evaluation = {"x": t(x), "dy": t(dy), "y": t(y), "dx": t(x.grad), "dweight": t(bn.weight.grad), "dbias": t(bn.bias.grad)}
    return {"what": what, "shape": list(shape), "initial": initial, "train_steps": steps, "eval": evaluation}


# ---------------------------------------------------------------------------------------------
# A small SSD300 with batch norm, with the state_dict names of ours (ssd/ssd300.ts)

VGG = [("conv1_1", 64), ("conv1_2", 64), "pool", ("conv2_1", 128), ("conv2_2", 128), "pool",
       ("conv3_1", 256), ("conv3_2", 256), ("conv3_3", 256), "pool_ceil",
       ("conv4_1", 512), ("conv4_2", 512), ("conv4_3", 512), "pool",
       ("conv5_1", 512), ("conv5_2", 512), ("conv5_3", 512), "pool5", ("conv6", 1024), ("conv7", 1024)]
AUX = [("conv8", 256, 512, 2, 1), ("conv9", 128, 256, 2, 1), ("conv10", 128, 256, 1, 0), ("conv11", 128, 256, 1, 0)]
MAPS = [("conv4_3", 4), ("conv7", 6), ("conv8_2", 6), ("conv9_2", 6), ("conv10_2", 4), ("conv11_2", 4)]


class Base(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.steps = []
        c = 3
        for s in VGG:
            if isinstance(s, tuple):
                name, out = s
                out //= d
                k, p, dil = (1, 0, 1) if name == "conv7" else ((3, 6, 6) if name == "conv6" else (3, 1, 1))
                setattr(self, name, nn.Conv2d(c, out, k, padding=p, dilation=dil))
                setattr(self, "bn" + name[4:], nn.BatchNorm2d(out))
                self.steps.append(name)
                c = out
            else:
                self.steps.append(s)

    def forward(self, x):
        conv4_3 = None
        for s in self.steps:
            if s == "pool":
                x = F.max_pool2d(x, 2, 2)
            elif s == "pool_ceil":
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            elif s == "pool5":
                x = F.max_pool2d(x, 3, 1, 1)
            else:
                x = F.relu(getattr(self, "bn" + s[4:])(getattr(self, s)(x)))
                if s == "conv4_3":
                    conv4_3 = x
        return conv4_3, x


class Aux(nn.Module):
    def __init__(self, c, d):
        super().__init__()
        for name, mid, out, stride, pad in AUX:
            setattr(self, name + "_1", nn.Conv2d(c, mid // d, 1))
            setattr(self, "bn" + name[4:] + "_1", nn.BatchNorm2d(mid // d))
            setattr(self, name + "_2", nn.Conv2d(mid // d, out // d, 3, stride=stride, padding=pad))
            setattr(self, "bn" + name[4:] + "_2", nn.BatchNorm2d(out // d))
            c = out // d

    def forward(self, x):
        maps = []
        for name, *_ in AUX:
            for half in ("_1", "_2"):
                x = F.relu(getattr(self, "bn" + name[4:] + half)(getattr(self, name + half)(x)))
            maps.append(x)
        return maps


class Pred(nn.Module):
    def __init__(self, channels, n_classes):
        super().__init__()
        self.n_classes = n_classes
        for (name, boxes), c in zip(MAPS, channels):
            setattr(self, "loc_" + name, nn.Conv2d(c, boxes * 4, 3, padding=1))
        for (name, boxes), c in zip(MAPS, channels):
            setattr(self, "cl_" + name, nn.Conv2d(c, boxes * n_classes, 3, padding=1))

    def forward(self, maps):
        n = maps[0].size(0)
        locs = [getattr(self, "loc_" + name)(m).permute(0, 2, 3, 1).reshape(n, -1, 4) for (name, _), m in zip(MAPS, maps)]
        cls = [getattr(self, "cl_" + name)(m).permute(0, 2, 3, 1).reshape(n, -1, self.n_classes) for (name, _), m in zip(MAPS, maps)]
        return torch.cat(locs, 1), torch.cat(cls, 1)


class SSD300BN(nn.Module):
    def __init__(self, n_classes, d):
        super().__init__()
        self.base = Base(d)
        self.aux_convs = Aux(1024 // d, d)
        self.pred_convs = Pred([512 // d, 1024 // d, 512 // d, 256 // d, 256 // d, 256 // d], n_classes)
        self.rescale_factors = nn.Parameter(torch.full((1, 512 // d, 1, 1), 20.0))

    def forward(self, x):
        conv4_3, conv7 = self.base(x)
        norm = (conv4_3.pow(2).sum(dim=1, keepdim=True) + 1e-10).sqrt()  # epsilon inside, as ours
        conv4_3 = conv4_3 / norm * self.rescale_factors
        return self.pred_convs([conv4_3, conv7] + self.aux_convs(conv7))


def step_images(n):
    idx = torch.arange(300, dtype=torch.float64)
    x = torch.empty(n, 3, 300, 300, dtype=torch.float64)
    for b in range(n):
        for c in range(3):
            x[b, c] = ((7 * idx[:, None] + 13 * idx[None, :] + 29 * c + 101 * b) % 64) / 32 - 1
    return x.float()


STEP_BOXES = [[[0.1, 0.15, 0.45, 0.6], [0.55, 0.5, 0.9, 0.95]], [[0.3, 0.2, 0.7, 0.8]]]
STEP_LABELS = [[1, 2], [2]]


STEP_SEED = int(os.environ.get("STEP_SEED", "11"))  # a seed whose hard-negative cut has no near-tie


def ssd_step_fixture():
    torch.manual_seed(STEP_SEED)
    model = SSD300BN(n_classes=3, d=32)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    images = step_images(2)
    locs, scores = model(images)
    priors = torch.tensor(ssd_fixtures.create_priors(), dtype=torch.float32)
    boxes = [torch.tensor(b, dtype=torch.float32) for b in STEP_BOXES]
    labels = [torch.tensor(lab, dtype=torch.long) for lab in STEP_LABELS]
    out = ssd_fixtures.multibox_loss(locs, scores, boxes, labels, priors)
    out["loss"].backward()
    tensors = {}
    for name, v in state.items():
        tensors[name] = v.float()
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad
    for name, v in model.state_dict().items():
        if "running_" in name or "num_batches" in name:
            tensors["after." + name] = v.float()
    metadata = {
        "generator": f"scripts/make_batchnorm_fixtures.py with torch {torch.__version__}",
        "n_classes": "3", "width_divisor": "32", "batch_norm": "true",
        "loss": repr(out["loss"].item()), "loc_loss": repr(out["loc_loss"].item()), "conf_loss": repr(out["conf_loss"].item()),
        "boxes": json.dumps(STEP_BOXES), "labels": json.dumps(STEP_LABELS),
    }
    for name, v in tensors.items():
        assert bool(torch.isfinite(v).all()), name
    # imported here: torch_common imports this file's SSD300BN
    from torch_common import write_safetensors  # noqa: E402
    write_safetensors(OUT_STEP, tensors, metadata)
    print(f"wrote {os.path.relpath(OUT_STEP, ROOT)} (loss {out['loss'].item():.6f})")


def main():
    fixtures = {
        "generator": f"scripts/make_batchnorm_fixtures.py with torch {torch.__version__} (float32, CPU, 1 thread)",
        "layout": "every tensor is {shape, data}: data flat, row-major (NCHW); floats are exact float32 values",
        "cases": [
            layer_case(1, (2, 3, 4, 5), "x=[2,3,4,5]"),
            layer_case(2, (3, 4, 3, 2), "x=[3,4,3,2]"),
            layer_case(3, (2, 5, 1, 1), "x=[2,5,1,1] (conv11_2 at batch 2: 2 values per channel)"),
        ],
    }
    text = emit(fixtures) + "\n"
    with open(OUT_JSON, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT_JSON, ROOT)} ({len(text)} bytes)")
    ssd_step_fixture()


if __name__ == "__main__":
    main()
