"""Cost of one attack iteration relative to one forward+backward pass of the detector.

Run::

    .venv/bin/python bench/bench_attack.py                 # both widths, 30 s song, 5 repeats
    .venv/bin/python bench/bench_attack.py --widths 0.25 --repeats 9 --seconds 30

For each detector width (quarter and full size, random initialisation: timing only) and each
attack domain, on one ~30 s song, it times side by side in one run:

* ``fwd+bwd``: the detector's forward pass over the padded song spectrogram ``(T + 114, 513)``
  plus the backward pass of the BCE loss to the *input* (parameters frozen), the least any
  gradient step on the song can cost;
* ``attack it``: one iteration of :func:`svdlib.attacks.optimise.attack_waveform` /
  :func:`svdlib.attacks.optimise.attack_spectrogram` in steady state (the time between two
  consecutive
  iteration callbacks: STFT of ``x + delta`` for the waveform, forward, backward, sign, Adam,
  clipping/projection, success check; early stopping disabled).

Both are medians over repeats that alternate baseline and attack, so load from other processes
hits both alike. Target: ``ratio = attack it / fwd+bwd <= 1.5``. ``--json OUT`` also writes
the rows as JSON (bench/gpu.sh).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from svdlib.attacks.optimise import attack_spectrogram, attack_waveform
from svdlib.attacks.settings import AttackDomainConfig
from svdlib.audio.frontend import spectrogram_np
from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.model import HALF_BLOCK, build_model
from svdlib.detector.settings import ModelConfig
from svdlib.devices import best_device


def make_song(seconds: float, sample_rate: int = 22050) -> np.ndarray:
    """A deterministic song-like signal: noise, a vibrato tone and clicks."""
    rng = np.random.default_rng(0)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    tone = sum(np.sin(2 * np.pi * h * 220 * t + 3 * np.sin(2 * np.pi * 5 * t)) / h
               for h in range(1, 6))
    gate = (np.sin(2 * np.pi * 0.3 * t) > 0).astype(np.float64)
    signal = 0.05 * rng.standard_normal(n) + 0.2 * gate * tone
    return (0.8 * signal / np.abs(signal).max()).astype(np.float32)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fwd_bwd(net: torch.nn.Module, spec: torch.Tensor, target: torch.Tensor,
                 device: torch.device) -> float:
    """Seconds of one forward+backward pass (gradient to the input) over the padded song."""
    x = F.pad(spec, (0, 0, HALF_BLOCK, HALF_BLOCK)).unsqueeze(0).clone().requires_grad_(True)
    sync(device)
    start = time.perf_counter()
    loss = F.binary_cross_entropy_with_logits(net(x)[0], target)
    (grad,) = torch.autograd.grad(loss, x)
    sync(device)
    del grad
    return time.perf_counter() - start


def time_attack_iteration(net: torch.nn.Module, domain: str, signal: np.ndarray,
                          spec: np.ndarray, iterations: int, device: torch.device) -> float:
    """Median seconds of one steady-state attack iteration (early stop disabled)."""
    params = AttackDomainConfig(lr=3e-4 if domain == "wave" else 5e-4,
                                alpha=2.0 if domain == "wave" else 15.0,
                                clip_eps=0.01 if domain == "wave" else 0.1,
                                max_iterations=iterations + 1, req_change_factor=2.0)
    stamps: list[float] = []

    def callback(step: int, n_flipped: int, delta: torch.Tensor) -> None:
        stamps.append(time.perf_counter())  # n_flipped is already a host int: synchronised

    if domain == "wave":
        attack_waveform(net, signal, params, 0.5, device, callback)
    else:
        attack_spectrogram(net, spec, params, 0.5, device, callback)
    # the last interval ends with a forward pass only (no backward): leave it out
    diffs = np.diff(stamps)[:-1]
    return float(np.median(diffs))


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="song length")
    parser.add_argument("--widths", default="0.25,1.0", help="detector widths")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats")
    parser.add_argument("--iterations", type=int, default=4,
                        help="attack iterations timed per repeat")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write rows as JSON")
    args = parser.parse_args()

    device = best_device(args.device)
    frontend = FrontEndConfig()
    signal = make_song(args.seconds, frontend.sample_rate)
    spec_np = spectrogram_np(signal, frontend)
    spec = torch.from_numpy(spec_np).to(device)
    target = torch.ones(spec_np.shape[0], device=device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, song {args.seconds:.0f} s "
          f"= {spec_np.shape[0]} frames, {args.repeats} repeats x {args.iterations} iterations")
    rows = []
    for width in (float(w) for w in args.widths.split(",")):
        torch.manual_seed(0)
        net = build_model(ModelConfig(width=width), frontend).to(device).eval()
        net.requires_grad_(False)
        for domain in ("wave", "spec"):
            time_fwd_bwd(net, spec, target, device)          # warm-up
            time_attack_iteration(net, domain, signal, spec_np, 2, device)
            base, attack = [], []
            for _ in range(args.repeats):
                base.append(time_fwd_bwd(net, spec, target, device))
                attack.append(time_attack_iteration(net, domain, signal, spec_np,
                                                    args.iterations, device))
            b, a = statistics.median(base), statistics.median(attack)
            rows.append((width, domain, b, a, a / b))
            print(f"  width {width:g} {domain}: fwd+bwd {1e3 * b:.0f} ms, attack iteration "
                  f"{1e3 * a:.0f} ms", flush=True)
    print()
    print("| width | domain | fwd+bwd (ms) | attack iteration (ms) | ratio |")
    print("|---|---|---|---|---|")
    for width, domain, b, a, ratio in rows:
        print(f"| {width:g} | {domain} | {1e3 * b:.1f} | {1e3 * a:.1f} | {ratio:.2f} |")
    worst = max(r[4] for r in rows)
    print(f"\nworst ratio {worst:.2f} (target <= 1.5): {'ok' if worst <= 1.5 else 'MISSED'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": str(device), "torch": torch.__version__,
                       "seconds": args.seconds, "frames": int(spec_np.shape[0]),
                       "repeats": args.repeats, "iterations": args.iterations,
                       "rows": [{"width": w, "domain": d, "fwd_bwd_s": b, "attack_iteration_s": a,
                                 "ratio": r} for w, d, b, a, r in rows],
                       "worst_ratio": worst}, handle, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
