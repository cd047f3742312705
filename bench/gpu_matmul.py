"""The device's matrix-product rate, for bench/gpu.sh's "fraction of the device's rate" figure.

Run: ``python bench/gpu_matmul.py [--n 8192] [--device cuda] [--json OUT]``

Times ``a @ b`` for two ``n x n`` matrices of random data: float32 with TF32 off (the plain
fp32 rate), float32 with TF32 on (what cuBLAS gives float32 by default for convolutions too),
and bfloat16. Each is the mean of ``--repeats`` products after three warm-ups, timed with
``torch.cuda.synchronize`` around the loop (on the CPU without it). FLOPs are ``2 n³`` per
product.
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def rate(a: torch.Tensor, b: torch.Tensor, repeats: int) -> float:
    """FLOP/s of ``a @ b`` (mean over ``repeats`` after 3 warm-ups)."""
    device = a.device
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    seconds = (time.perf_counter() - start) / repeats
    n = a.shape[0]
    return 2.0 * n ** 3 / seconds


def main() -> None:
    """Print and optionally write the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", default=None, metavar="OUT")
    args = parser.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(args.n, args.n, device=device, generator=gen)
    b = torch.randn(args.n, args.n, device=device, generator=gen)
    before = torch.get_float32_matmul_precision()
    rates = {}
    try:
        torch.set_float32_matmul_precision("highest")
        rates["fp32 (TF32 off)"] = rate(a, b, args.repeats)
        if device.type == "cuda":
            torch.set_float32_matmul_precision("high")
            rates["fp32 (TF32 on)"] = rate(a, b, args.repeats)
    finally:
        torch.set_float32_matmul_precision(before)
    rates["bf16"] = rate(a.bfloat16(), b.bfloat16(), args.repeats)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"matrix products {args.n} x {args.n} on {device} ({name}), mean of {args.repeats}:")
    for label, value in rates.items():
        print(f"  {label:16s} {value / 1e12:9.3f} TFLOP/s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": str(device), "device_name": name, "n": args.n,
                       "repeats": args.repeats, "flops_per_s": rates}, handle, indent=1)


if __name__ == "__main__":
    main()
