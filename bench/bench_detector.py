"""Detector speed: whole-song dense prediction vs excerpt by excerpt, and one training step.

Run: ``.venv/bin/python bench/bench_detector.py [--seconds 30] [--repeats 5]``

Both paths give the same numbers (see tests/test_model.py); this measures how much faster the
fully convolutional forward over a whole song is than running every 115-frame excerpt through
the network (in batches of 64), side by side in one run, for the quarter-width and the
full-size detector. It also times one training step (batch of 32, Adam, with augmentation) per
width. Medians over repeats; the 2-core VM is noisy.

``--device cuda`` runs both paths and the training step on the GPU (the network and the
batches there; every timed call ends with the result on the host or a synchronisation);
``--widths`` picks the widths and ``--json OUT`` also writes the rows as JSON (bench/gpu.sh).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.inference import predict_song
from svdlib.detector.model import build_model
from svdlib.detector.settings import ModelConfig, TrainConfig
from svdlib.detector.training import augment_batch
from svdlib.devices import best_device


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def excerpt_by_excerpt(net: torch.nn.Module, spec: torch.Tensor, batch: int = 64) -> np.ndarray:
    """Predict every frame by running its own padded 115-frame excerpt through the network."""
    padded = torch.nn.functional.pad(spec, (0, 0, 57, 57))
    windows = padded.unfold(0, 115, 1).permute(0, 2, 1)
    out = []
    with torch.inference_mode():
        for start in range(0, len(windows), batch):
            out.append(torch.sigmoid(net(windows[start:start + batch]))[:, 0])
    return torch.cat(out).cpu().numpy()


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="song length")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--widths", default="0.25,1.0", help="detector widths")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write rows as JSON")
    args = parser.parse_args()
    device = best_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    frontend = FrontEndConfig()
    frames = int(args.seconds * frontend.fps)
    spec = torch.rand(frames, 513)
    spec_dev = spec.to(device)
    train = TrainConfig()
    rng = np.random.default_rng(0)
    print(f"device {device}; song of {args.seconds:.0f} s = {frames} frames; torch threads "
          f"{torch.get_num_threads()}; median of {args.repeats}")
    print(f"{'width':>6} {'dense s':>9} {'excerpts s':>11} {'ratio':>7} {'max diff':>9} "
          f"{'train step s':>13}")
    rows = []
    for width in (float(w) for w in args.widths.split(",")):
        net = build_model(ModelConfig(width=width), frontend).to(device).eval()
        dense = median_time(lambda net=net: predict_song(net, spec, device), args.repeats)
        excerpt_repeats = max(1, args.repeats // 2)
        excerpts = median_time(lambda net=net: excerpt_by_excerpt(net, spec_dev),
                               excerpt_repeats)
        diff = float(np.abs(predict_song(net, spec, device)
                            - excerpt_by_excerpt(net, spec_dev)).max())
        net.train()
        optimizer = torch.optim.Adam(net.parameters())
        batch = torch.rand(32, 164, 513).numpy()
        half = torch.full((32,), 0.5, device=device)

        def step(net=net, optimizer=optimizer, batch=batch, half=half) -> None:
            x = torch.from_numpy(augment_batch(batch, rng, train, frontend)).to(device)
            optimizer.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(
                net(x)[:, 0], half).backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        step_time = median_time(step, args.repeats)
        rows.append({"width": width, "dense_s": dense, "excerpts_s": excerpts,
                     "ratio": excerpts / dense, "max_diff": diff, "train_step_s": step_time})
        print(f"{width:>6} {dense:>9.3f} {excerpts:>11.3f} {excerpts / dense:>6.1f}x "
              f"{diff:>9.1e} {step_time:>13.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": str(device), "torch": torch.__version__,
                       "seconds": args.seconds, "frames": frames, "repeats": args.repeats,
                       "rows": rows}, handle, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
