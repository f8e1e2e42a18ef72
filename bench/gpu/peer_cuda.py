#!/usr/bin/env python3
"""The peer's network (../shared/peers/fm_reference.py, unet2d-bench) on a GPU, timed like
`fm_reference.py sample` and `train`, so bench/gpu-check.sh can put mr2ct's CUDA figures beside
PyTorch's in one run. fm_reference.py's own loop builds t on the CPU, so this file keeps its
network and its Euler/AdamW arithmetic and moves the tensors to the device.

  peer_cuda.py PEER_DIR sample --precision fp32|bf16 --batch 32 --nfe 1 --size 256 --repeats 5
  peer_cuda.py PEER_DIR train  --precision fp32|bf16 --batch 32 --steps 20 --size 256
Prints one JSON line.
"""
import argparse
import json
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("peer_dir")
ap.add_argument("mode", choices=["sample", "train"])
ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
ap.add_argument("--batch", type=int, default=32)
ap.add_argument("--nfe", type=int, default=1)
ap.add_argument("--size", type=int, default=256)
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--steps", type=int, default=20)
ap.add_argument("--warmup", type=int, default=5)
args = ap.parse_args()
sys.path.insert(0, args.peer_dir)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import fm_reference  # noqa: E402

dev = torch.device("cuda")
torch.manual_seed(0)
model = fm_reference.UNet2DBench().to(dev)
x0 = torch.rand(args.batch, 1, args.size, args.size, device=dev)
x1 = torch.rand(args.batch, 1, args.size, args.size, device=dev) * 2 - 1
res = {"program": "peer_cuda.py", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
       "mode": args.mode, "precision": args.precision, "batch": args.batch, "size": args.size}


def timed(fn, repeats, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


if args.mode == "sample":
    model.eval()
    dtype = torch.float32
    if args.precision == "bf16":  # as fm_reference.py sample --precision bf16
        model = model.to(memory_format=torch.channels_last).to(torch.bfloat16)
        dtype = torch.bfloat16

    @torch.inference_mode()
    def run():
        h, x = 1.0 / args.nfe, x0.clone()
        for i in range(args.nfe):
            inp = torch.cat([x, x0], dim=1).to(dtype)
            if args.precision == "bf16":
                inp = inp.contiguous(memory_format=torch.channels_last)
            x = x + h * model(inp, torch.full((args.batch,), i * h, device=dev)).float()
        return x

    med = timed(run, args.repeats, 1)
    res.update({"nfe": args.nfe, "median_run_s": med, "slices_per_s": args.batch / med})
else:
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        t = torch.rand(args.batch, device=dev)
        tb = t[:, None, None, None]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            v = model(torch.cat([(1 - tb) * x0 + tb * x1, x0], dim=1), t)
        loss = F.mse_loss(v.float(), x1 - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()

    med = timed(step, args.steps, args.warmup)
    res.update({"median_step_s": med, "samples_per_s": args.batch / med})
print(json.dumps(res), flush=True)
