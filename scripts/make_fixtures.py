"""Golden fixtures for the kernel tests, computed by PyTorch.

Writes spec/fixtures/kernels.json: small, seeded (torch.manual_seed), float32, CPU cases for
  conv2d          (forward y, and dx, dw, db by autograd for a random upstream gradient dy),
  maxpool2d       (forward y and PyTorch's argmax indices, dx by autograd),
  l2norm          (SSD's conv4_3 rescaling as the numerics contract (docs/numerics.md) defines it: y, dx, dscale),
  relu            (y, dx),
  sgd             (torch.optim.SGD, momentum 0.9, weight decay 5e-4, lr 1e-2 for weights and
                   2e-2 for biases: parameters after each of 3 steps with fixed gradients),
  clip_grad_norm  (torch.nn.utils.clip_grad_norm_: total norm and clipped gradients).
Every tensor is stored as {"shape": [...], "data": [...]} with data flat in row-major (NCHW)
order; floats are float32 values written as the doubles they convert to exactly, so parsing them
and storing them in a Float32Array gives back the very same bits.

The test suite reads only the JSON and never needs PyTorch. Rerun this by hand (the output is
committed) after adding a case:
    npm run fixtures            # = /usr/bin/python3 scripts/make_fixtures.py
It must run with the Debian PyTorch (/usr/bin/python3), not the pyenv python3 on PATH. The output
is deterministic: rerunning it with the same torch version gives the same file byte for byte.
"""

import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_num_threads(1)  # the same summation order on every run
torch.set_default_dtype(torch.float32)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "spec", "fixtures", "kernels.json")


def t(x):
    """A tensor as {"shape", "data"} with float32 values (or integer indices) in a flat list."""
    x = x.detach().cpu().contiguous()
    if x.dtype.is_floating_point:
        x = x.to(torch.float32)
        data = [float(v) for v in x.flatten().tolist()]
        assert all(math.isfinite(v) for v in data), "fixtures must be finite"
    else:
        data = [int(v) for v in x.flatten().tolist()]
    return {"shape": list(x.shape), "data": data}


def dims(shape):
    return "[" + ",".join(str(s) for s in shape) + "]"


# ---------------------------------------------------------------------------------------------
# conv2d


def conv_case(seed, x_shape, w_shape, stride, padding, dilation, what):
    torch.manual_seed(seed)
    x = torch.randn(x_shape).requires_grad_()
    fan_in = w_shape[1] * w_shape[2] * w_shape[3]
    w = (torch.randn(w_shape) / math.sqrt(fan_in)).requires_grad_()
    b = (0.1 * torch.randn(w_shape[0])).requires_grad_()
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    dy = torch.randn(y.shape)
    y.backward(dy)
    name = f"conv x={dims(x_shape)} w={dims(w_shape)} s={stride} p={padding} d={dilation}"
    return {
        "name": name,
        "what": what,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "x": t(x),
        "w": t(w),
        "b": t(b),
        "dy": t(dy),
        "y": t(y),
        "dx": t(x.grad),
        "dw": t(w.grad),
        "db": t(b.grad),
    }


def conv_cases():
    return [
        conv_case(101, [1, 4, 5, 5], [3, 4, 1, 1], 1, 0, 1, "1x1 (conv7, conv8_1 ... conv11_1)"),
        conv_case(102, [1, 3, 6, 6], [4, 3, 3, 3], 1, 1, 1, "3x3 stride 1 pad 1 (VGG convs, prediction convs)"),
        conv_case(103, [1, 3, 8, 8], [4, 3, 3, 3], 2, 1, 1, "3x3 stride 2 pad 1, even input (conv9_2: 10 -> 5)"),
        conv_case(104, [1, 3, 7, 7], [4, 3, 3, 3], 2, 1, 1, "3x3 stride 2 pad 1, odd input (conv8_2: 19 -> 10)"),
        conv_case(105, [1, 3, 5, 5], [4, 3, 3, 3], 1, 0, 1, "3x3 valid (conv10_2: 5 -> 3)"),
        conv_case(106, [1, 3, 3, 3], [2, 3, 3, 3], 1, 0, 1, "3x3 valid to 1x1 (conv11_2: 3 -> 1)"),
        conv_case(107, [1, 2, 13, 13], [3, 2, 3, 3], 1, 6, 6, "3x3 dilation 6 pad 6 (conv6: size kept)"),
        conv_case(108, [2, 3, 7, 5], [4, 3, 3, 3], 1, 1, 1, "odd non-square input, batch 2"),
        conv_case(109, [2, 3, 9, 6], [2, 3, 3, 3], 2, 1, 1, "odd non-square input, batch 2, stride 2"),
    ]


# ---------------------------------------------------------------------------------------------
# max_pool2d


def distinct_values(shape):
    """Random values without ties (a random permutation of evenly spaced numbers), centred on 0."""
    n = 1
    for s in shape:
        n *= s
    return ((torch.randperm(n).to(torch.float32) - n / 2) / n * 4.0 + 0.001 * torch.rand(n)).reshape(shape)


def pool_case(seed, x_shape, kernel, stride, padding, ceil_mode, what):
    torch.manual_seed(seed)
    x = distinct_values(x_shape).requires_grad_()
    y, indices = F.max_pool2d(x, kernel, stride=stride, padding=padding, ceil_mode=ceil_mode, return_indices=True)
    dy = torch.randn(y.shape)
    y.backward(dy)
    name = f"maxpool x={dims(x_shape)} k={kernel} s={stride} p={padding} ceil={str(ceil_mode).lower()}"
    return {
        "name": name,
        "what": what,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "ceil_mode": ceil_mode,
        "x": t(x),
        "dy": t(dy),
        "y": t(y),
        "argmax": t(indices),  # index h * W + w of each maximum within its (n, c) plane
        "dx": t(x.grad),
    }


def pool_cases():
    cases = [
        pool_case(201, [1, 2, 6, 6], 2, 2, 0, False, "2x2 stride 2, even input (pool1, pool2, pool4)"),
        pool_case(202, [1, 2, 7, 7], 2, 2, 0, True, "2x2 stride 2 ceil mode, odd input (pool3: 75 -> 38)"),
        pool_case(203, [2, 2, 9, 5], 2, 2, 0, True, "2x2 stride 2 ceil mode, odd non-square input, batch 2"),
        pool_case(204, [1, 2, 5, 5], 3, 1, 1, False, "3x3 stride 1 pad 1 (pool5: size kept, windows overlap)"),
    ]
    assert cases[1]["y"]["shape"] == [1, 2, 4, 4], "ceil mode must give ceil(7 / 2) = 4"
    assert cases[2]["y"]["shape"] == [2, 2, 5, 3], "ceil mode must give ceil(9 / 2) = 5, ceil(5 / 2) = 3"
    assert cases[3]["y"]["shape"] == [1, 2, 5, 5]
    return cases


# ---------------------------------------------------------------------------------------------
# L2 normalization (the numerics contract (docs/numerics.md)): norm = sqrt(sum_c x^2 + eps), y = x / norm * scale


def l2norm_case(seed, x_shape, zero_positions, what):
    torch.manual_seed(seed)
    n, c, h, w = x_shape
    x = F.relu(torch.randn(x_shape))
    for (pn, ph, pw) in zero_positions:
        x[pn, :, ph, pw] = 0.0  # an all-zero position: eps keeps value and gradient finite
    x.requires_grad_()
    scale = (20.0 + torch.randn(c)).requires_grad_()
    eps = 1e-10
    norm = torch.sqrt((x ** 2).sum(dim=1, keepdim=True) + eps)
    y = x / norm * scale.view(1, c, 1, 1)
    dy = torch.randn(y.shape)
    y.backward(dy)
    zeros = ",".join(f"({pn},{ph},{pw})" for (pn, ph, pw) in zero_positions)
    return {
        "name": f"l2norm x={dims(x_shape)} eps=1e-10 zero positions (n,h,w)={zeros}",
        "what": what,
        "eps": eps,
        "zero_positions": [list(p) for p in zero_positions],
        "x": t(x),
        "scale": t(scale),
        "dy": t(dy),
        "y": t(y),
        "norm": t(norm),
        "dx": t(x.grad),
        "dscale": t(scale.grad),
    }


def l2norm_cases():
    return [
        l2norm_case(301, [1, 4, 3, 3], [(0, 1, 1)], "one image, the centre position all zeros"),
        l2norm_case(302, [2, 6, 3, 4], [(0, 0, 0), (1, 2, 3)], "batch 2, a zero position in each image"),
    ]


# ---------------------------------------------------------------------------------------------
# ReLU


def relu_case(seed, x_shape, what):
    torch.manual_seed(seed)
    x = torch.randn(x_shape)
    x.view(-1)[::7] = 0.0  # exact zeros: the gradient there is 0, as in PyTorch
    x.requires_grad_()
    y = F.relu(x)
    dy = torch.randn(y.shape)
    y.backward(dy)
    return {
        "name": f"relu x={dims(x_shape)} with exact zeros",
        "what": what,
        "x": t(x),
        "dy": t(dy),
        "y": t(y),
        "dx": t(x.grad),
    }


def relu_cases():
    return [relu_case(401, [2, 3, 4, 5], "random values, every 7th exactly 0")]


# ---------------------------------------------------------------------------------------------
# SGD with momentum and weight decay, two parameter groups


def sgd_fixture():
    torch.manual_seed(501)
    shapes = {
        "conv.weight": [3, 2, 3, 3],
        "conv.bias": [3],
        "pred.weight": [4, 3, 1, 1],
        "pred.bias": [4],
    }
    params = {k: torch.randn(s).requires_grad_() for k, s in shapes.items()}
    groups = [
        {"name": "weight", "lr": 1e-2, "params": ["conv.weight", "pred.weight"]},
        {"name": "bias", "lr": 2e-2, "params": ["conv.bias", "pred.bias"]},
    ]
    momentum, weight_decay = 0.9, 5e-4
    initial = {k: t(p) for k, p in params.items()}
    opt = torch.optim.SGD(
        [{"params": [params[k] for k in g["params"]], "lr": g["lr"]} for g in groups],
        lr=1e-2,
        momentum=momentum,
        weight_decay=weight_decay,
        dampening=0,
        nesterov=False,
    )
    steps = []
    for _ in range(3):
        grads = {k: torch.randn(s) for k, s in shapes.items()}
        opt.zero_grad()
        for k, p in params.items():
            p.grad = grads[k].clone()
        opt.step()
        steps.append(
            {
                "grads": {k: t(g) for k, g in grads.items()},
                "params_after": {k: t(p) for k, p in params.items()},
                "momentum_after": {k: t(opt.state[p]["momentum_buffer"]) for k, p in params.items()},
            }
        )
    return {
        "name": "sgd momentum=0.9 weight_decay=5e-4 dampening=0 nesterov=false lr weight=1e-2 bias=2e-2, 3 steps",
        "what": "torch.optim.SGD: g = grad + weight_decay * p; buf = g on the first step, "
        "buf = momentum * buf + g after; p = p - lr * buf (weight decay applies to both groups)",
        "momentum": momentum,
        "weight_decay": weight_decay,
        "dampening": 0.0,
        "nesterov": False,
        "groups": groups,
        "initial_params": initial,
        "steps": steps,
    }


def clip_fixture():
    torch.manual_seed(601)
    shapes = {"a.weight": [3, 2, 3, 3], "a.bias": [3], "b.weight": [4, 3, 1, 1]}
    params = {k: torch.zeros(s, requires_grad=True) for k, s in shapes.items()}
    for k, p in params.items():
        p.grad = torch.randn(shapes[k])
    before = {k: t(p.grad) for k, p in params.items()}
    max_norm = 1.0
    total = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm=max_norm, norm_type=2.0)
    assert float(total) > max_norm, "the case must actually clip"
    return {
        "name": "clip_grad_norm max_norm=1 norm_type=2 (clips)",
        "what": "torch.nn.utils.clip_grad_norm_: total = 2-norm of all gradients together; "
        "each gradient is multiplied by min(1, max_norm / (total + 1e-6))",
        "max_norm": max_norm,
        "norm_type": 2.0,
        "eps": 1e-6,
        "grads_before": before,
        "total_norm": float(total),
        "grads_after": {k: t(p.grad) for k, p in params.items()},
    }


# ---------------------------------------------------------------------------------------------
# Output: the structure indented, every flat data list on one line (readable diffs, small file).


def emit(value, indent=0):
    pad = " " * indent
    inner = " " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {emit(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return json.dumps(value, allow_nan=False)
        return "[\n" + ",\n".join(inner + emit(v, indent + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False)


def main():
    fixtures = {
        "generator": f"scripts/make_fixtures.py with torch {torch.__version__} (float32, CPU, 1 thread)",
        "layout": "every tensor is {shape, data}: data flat, row-major (NCHW); floats are exact float32 values",
        "conv2d": conv_cases(),
        "maxpool2d": pool_cases(),
        "l2norm": l2norm_cases(),
        "relu": relu_cases(),
        "sgd": sgd_fixture(),
        "clip_grad_norm": clip_fixture(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    text = emit(fixtures) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
