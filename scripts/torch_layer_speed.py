"""PyTorch's time for each kind of layer of the full SSD300 (batch 1, channels as in the paper), one
layer at a time under torch.no_grad(): the convolutions with their ReLU, the max poolings and the L2
norm of conv4_3. Beside the project's per-layer numbers (bench/winograd.bench.ts, the per-job
profile) it says where the whole network's forward pass loses or wins against PyTorch.

oneDNN picks its instruction set at run time; DNNL_MAX_CPU_ISA=AVX2 in the environment holds it
to AVX2 + FMA (see bench/ssd_vs_torch.ts). A layer's time includes allocating its output, as in
the network.

    /usr/bin/python3 scripts/torch_layer_speed.py [--threads 2 --runs 15] [--backward]
"""

import argparse
import time

import torch
import torch.nn as nn

# name, input channels, output channels, map size (input), padding, dilation, kernel size
CONVS = [
    ("conv1_1", 3, 64, 300, 1, 1, 3),
    ("conv1_2", 64, 64, 300, 1, 1, 3),
    ("conv2_1", 64, 128, 150, 1, 1, 3),
    ("conv2_2", 128, 128, 150, 1, 1, 3),
    ("conv3_1", 128, 256, 75, 1, 1, 3),
    ("conv3_2", 256, 256, 75, 1, 1, 3),
    ("conv4_1", 256, 512, 38, 1, 1, 3),
    ("conv4_2", 512, 512, 38, 1, 1, 3),
    ("conv5_1", 512, 512, 19, 1, 1, 3),
    ("conv6 (dilation 6)", 512, 1024, 19, 6, 6, 3),
    ("conv7 (1x1)", 1024, 1024, 19, 0, 1, 1),
    ("cl4_3", 512, 84, 38, 1, 1, 3),
    ("loc4_3", 512, 16, 38, 1, 1, 3),
    ("cl7", 1024, 126, 19, 1, 1, 3),
]

# name, channels, map size, kernel, stride, padding, ceil mode
POOLS = [
    ("pool1", 64, 300, 2, 2, 0, False),
    ("pool2", 128, 150, 2, 2, 0, False),
    ("pool3 (ceil)", 256, 75, 2, 2, 0, True),
    ("pool4", 512, 38, 2, 2, 0, False),
    ("pool5 (3x3, stride 1)", 512, 19, 3, 1, 1, False),
]


def median_ms(fn, runs):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return 1000 * times[len(times) // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--backward", action="store_true", help="also time each convolution's input gradient and weight (+ bias) gradient")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, {args.threads} threads, batch 1, medians of {args.runs}")
    with torch.no_grad():
        for name, cin, cout, size, padding, dilation, k in CONVS:
            conv = nn.Conv2d(cin, cout, k, padding=padding, dilation=dilation)
            x = torch.relu(torch.randn(1, cin, size, size))
            ms = median_ms(lambda: torch.relu(conv(x)), args.runs)
            flops = 2 * cin * cout * k * k * size * size  # counted as direct convolution
            print(f"{name:24s} {ms:8.2f} ms  {flops / ms / 1e6:6.0f} GFLOP/s")
            if args.backward:
                # the two backward passes as autograd runs them: aten.convolution_backward with
                # only the input gradient, then only the weight and bias gradients
                dy = torch.randn(1, cout, size + 2 * padding - dilation * (k - 1), size + 2 * padding - dilation * (k - 1))
                w = conv.weight.detach()

                def backward(mask):
                    return torch.ops.aten.convolution_backward(
                        dy, x, w, [cout], [1, 1], [padding, padding], [dilation, dilation], False, [0, 0], 1, mask
                    )

                dx_ms = median_ms(lambda: backward([True, False, False]), args.runs)
                dw_ms = median_ms(lambda: backward([False, True, True]), args.runs)
                print(f"{'  input gradient':24s} {dx_ms:8.2f} ms  {flops / dx_ms / 1e6:6.0f} GFLOP/s")
                print(f"{'  weight gradient':24s} {dw_ms:8.2f} ms  {flops / dw_ms / 1e6:6.0f} GFLOP/s")
        for name, channels, size, k, stride, padding, ceil in POOLS:
            pool = nn.MaxPool2d(k, stride, padding, ceil_mode=ceil)
            x = torch.randn(1, channels, size, size)
            print(f"{name:24s} {median_ms(lambda: pool(x), args.runs):8.2f} ms")
        x = torch.randn(1, 512, 38, 38)
        scale = torch.full((1, 512, 1, 1), 20.0)
        l2 = lambda: x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10) * scale  # noqa: E731
        print(f"{'L2 norm (conv4_3)':24s} {median_ms(l2, args.runs):8.2f} ms")


if __name__ == "__main__":
    main()
