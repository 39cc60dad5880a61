"""PyTorch twin of FlowOod's compact RealNVP, for throughput comparisons on the same machine.

Same architecture as RealNvp.Create([1, 28, 28], RealNvpOptions.Compact): dequantization + logit(0.05), 3 checkerboard
couplings at 28x28, squeeze, 3 channel-wise couplings (width doubled), factor out half, 4 checkerboard couplings;
ResNet st-networks (BN, [x, -x], 3x3 conv, residual blocks with 1x1 skips, zero-initialised 1x1 output), y = (x + t)
* exp(scale * tanh(s_raw)). Prints, per eager mode, training (Adam step, batch 64) and scoring (eval, inference mode,
chunks of `chunk`) images/s, one line each:
  PyTorch VERSION mode MODE (what), T threads, P parameters: train N images/s, score N images/s
Modes: fp32 (NCHW, PyTorch's default), fp32-cl (fp32, model and inputs channels_last), bf16-cl (torch.autocast bf16 +
channels_last). With an ONNX path, also exports the fp32 model (eval mode, bin-centre dequantization, dynamic batch,
opset 17) and prints "PyTorch ONNX export: PATH" (or "PyTorch ONNX export failed: REASON").
Usage: python3 realnvp_pytorch.py [width=32] [blocks=2] [threads=2] [chunk=64] [modes=fp32,fp32-cl,bf16-cl] [onnx_path]
(Debian: apt-get install python3-torch; run with /usr/bin/python3. Any torch 1.13 or later.)
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

width = int(sys.argv[1]) if len(sys.argv) > 1 else 32
blocks = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
chunk = int(sys.argv[4]) if len(sys.argv) > 4 else 64
modes = (sys.argv[5] if len(sys.argv) > 5 else "fp32,fp32-cl,bf16-cl").split(",")
onnx_path = sys.argv[6] if len(sys.argv) > 6 else None


class Block(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.n1, self.c1 = nn.BatchNorm2d(w), nn.Conv2d(w, w, 3, padding=1, bias=False)
        self.n2, self.c2 = nn.BatchNorm2d(w), nn.Conv2d(w, w, 3, padding=1)

    def forward(self, x):
        return x + self.c2(F.relu(self.n2(self.c1(F.relu(self.n1(x))))))


class ResNet(nn.Module):
    def __init__(self, cin, cout, w, b):
        super().__init__()
        self.norm, self.conv, self.skip = nn.BatchNorm2d(cin), nn.Conv2d(2 * cin, w, 3, padding=1), nn.Conv2d(w, w, 1)
        self.blocks = nn.ModuleList([Block(w) for _ in range(b)])
        self.skips = nn.ModuleList([nn.Conv2d(w, w, 1) for _ in range(b)])
        self.out_norm, self.out = nn.BatchNorm2d(w), nn.Conv2d(w, cout, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x):
        x = self.norm(x)
        x = self.conv(F.relu(torch.cat([x, -x], 1)))
        total = self.skip(x)
        for block, skip in zip(self.blocks, self.skips):
            x = block(x)
            total = total + skip(x)
        return self.out(F.relu(self.out_norm(total)))


def checkerboard(c, h, w, reverse):
    i, j = torch.arange(h).view(h, 1), torch.arange(w).view(1, w)
    return (((i + j) % 2 == 1) != reverse).expand(c, h, w).clone()


class Checkerboard(nn.Module):
    def __init__(self, c, h, w, reverse, width_):
        super().__init__()
        self.register_buffer("mask", checkerboard(c, h, w, reverse))
        self.net, self.scale = ResNet(c, 2 * c, width_, blocks), nn.Parameter(torch.ones(c, 1, 1))

    def forward(self, x):
        s_raw, t = self.net(x * self.mask).chunk(2, 1)
        s = self.scale * torch.tanh(s_raw) * (~self.mask)
        return torch.where(self.mask, x, (x + t) * torch.exp(s)), s.flatten(1).sum(1)


class Channelwise(nn.Module):
    def __init__(self, c, reverse, width_):
        super().__init__()
        self.reverse = reverse
        self.net, self.scale = ResNet(c // 2, c, width_, blocks), nn.Parameter(torch.ones(c // 2, 1, 1))

    def forward(self, x):
        change, cond = x.chunk(2, 1)
        if self.reverse:
            change, cond = cond, change
        s_raw, t = self.net(cond).chunk(2, 1)
        s = self.scale * torch.tanh(s_raw)
        change = (change + t) * torch.exp(s)
        y = torch.cat([cond, change], 1) if self.reverse else torch.cat([change, cond], 1)
        return y, s.flatten(1).sum(1)


def squeeze(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, c * 4, h // 2, w // 2)


class Flow(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.ModuleList([Checkerboard(1, 28, 28, i % 2 == 1, width) for i in range(3)])
        self.b = nn.ModuleList([Channelwise(4, i % 2 == 1, 2 * width) for i in range(3)])
        self.c = nn.ModuleList([Checkerboard(2, 14, 14, i % 2 == 1, 2 * width) for i in range(4)])

    def forward(self, x):
        # Uniform dequantization noise while training, the bin centres while scoring (as FlowOod's scorers).
        noise = torch.rand_like(x) if self.training else torch.full_like(x, 0.5)
        x = (x * 255 + noise) / 256
        log_det = torch.zeros_like(x[:, 0, 0, 0]) + 784 * math.log(255 / 256)
        p = 0.05 + 0.9 * x
        y = torch.log(p) - torch.log1p(-p)
        log_det = log_det + (F.softplus(y) + F.softplus(-y) + math.log(0.9)).flatten(1).sum(1)
        x = y
        for layer in self.a:
            x, ld = layer(x)
            log_det = log_det + ld
        x = squeeze(x)
        for layer in self.b:
            x, ld = layer(x)
            log_det = log_det + ld
        kept, rest = x[:, :2], x[:, 2:]
        for layer in self.c:
            kept, ld = layer(kept)
            log_det = log_det + ld
        z = torch.cat([kept, rest], 1)
        return -0.5 * (z ** 2).flatten(1).sum(1) - 784 * 0.5 * math.log(2 * math.pi) + log_det


DESCRIPTIONS = {"fp32": "fp32 NCHW", "fp32-cl": "fp32 channels_last", "bf16-cl": "bf16 autocast + channels_last"}


def measure(mode):
    torch.manual_seed(0)
    flow = Flow()
    layout = torch.channels_last if mode.endswith("-cl") else torch.contiguous_format
    flow = flow.to(memory_format=layout)
    autocast = mode.startswith("bf16")
    optimizer = torch.optim.Adam(flow.parameters(), 1e-3)
    batch = torch.rand(64, 1, 28, 28).contiguous(memory_format=layout)

    def step():
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            log_p = flow(batch)
        (-log_p.float().mean()).backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 100)
        optimizer.step()

    for _ in range(3):
        step()
    start = time.time()
    for _ in range(10):
        step()
    train_rate = 640 / (time.time() - start)
    flow.eval()
    images = torch.rand(1024, 1, 28, 28).contiguous(memory_format=layout)
    chunks = [images[i:i + chunk] for i in range(0, images.shape[0], chunk)]
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        for piece in chunks[:2]:
            flow(piece)
        start = time.time()
        for piece in chunks:
            flow(piece)
        score_rate = images.shape[0] / (time.time() - start)
    print(f"PyTorch {torch.__version__} mode {mode} ({DESCRIPTIONS[mode]}), {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in flow.parameters())} parameters: train {train_rate:.1f} images/s, score {score_rate:.1f} images/s",
          flush=True)
    return flow


for mode in modes:
    if mode not in DESCRIPTIONS:
        sys.exit(f"unknown mode {mode}: use {', '.join(DESCRIPTIONS)}")
    trained = measure(mode)
    if onnx_path and mode == "fp32":
        try:
            arguments = dict(input_names=["input"], output_names=["log_likelihood"],
                             dynamic_axes={"input": {0: "n"}, "log_likelihood": {0: "n"}}, opset_version=17)
            try:  # the TorchScript exporter (torch >= 2.5 takes dynamo=; 1.13 does not know it)
                torch.onnx.export(trained, torch.rand(chunk, 1, 28, 28), onnx_path, dynamo=False, **arguments)
            except TypeError:
                torch.onnx.export(trained, torch.rand(chunk, 1, 28, 28), onnx_path, **arguments)
            print(f"PyTorch ONNX export: {onnx_path}", flush=True)
        except Exception as e:  # the bench reports it and carries on
            print(f"PyTorch ONNX export failed: {type(e).__name__}: {e}".replace("\n", " "), flush=True)
        onnx_path = None
