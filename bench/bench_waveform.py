"""On a waveform model, the benchmark costs at most 1.2× the model evaluations it makes.

Run ``.venv/bin/python bench/bench_waveform.py [--excerpts 8] [--samples 1024] [--ig-steps 32]
[--repeats 3]`` (``--quick``: a smoke run, 4 excerpts, 64 samples, 8 steps, 1 repeat). The
model is Silero VAD (:func:`svdlib.pretrained.silero_vad.load_silero_vad`, the ``pretrained``
extra): ``vad.probability(x)``, P(voice) of ``(B, 16384)`` 16 kHz waveforms; without the
package a small Conv1d with fixed random weights stands in (printed). The excerpts are noise
(which the VAD calls "no voice"), attacked with :func:`svdlib.attack_excerpts` (``margin`` 0.1,
the waveform defaults) until the VAD says "voice"; the pairs that got there are benchmarked.

For each segmentation, ``TimeSegmentation(16384, 8)`` and ``StftSegmentation(16384, n_time=5,
n_freq=4, n_fft=512, hop_length=128)``, :func:`svdlib.run_benchmark` runs the six explainers
(LIME and KernelSHAP with ``--samples``, occlusion, integrated gradients with ``--ig-steps``,
saliency, gradient × input) and the random floor, with the exhaustive references (``max_k``
3) and its default subset recovery. The model callables it gets (``predict`` and the
explainers' probability function) count every input row they evaluate and record each call's
batch size and whether it builds a graph for a backward pass (an input that requires grad).
Then the same calls are replayed through the bare model, in the same batch sizes, on noise of
the same shape: ``torch.no_grad()`` forwards for forward calls, a forward and the gradient
with respect to the input (``torch.autograd.grad``, as captum takes it) for gradient calls.
Benchmark and replay alternate (the order reversed every other repeat), and the check is the
median over repeats of the paired ratio benchmark seconds / replay seconds, per segmentation:
PASS if at most 1.2. A diagnostic column gives the seconds spent inside the benchmark's
forward-only model calls (timed around each call; the gradient calls' backward passes run
inside captum and are not in it): the benchmark's seconds minus these are the library's work
plus the gradient calls. What the ratio leaves over 1 is the library's own
cost: composing the perturbed inputs (the STFT view's ``istft``), captum, the surrogate fits,
the flip bookkeeping.

At the default settings one repeat evaluates about 75,000 rows per segmentation; on a 2-core
CPU (Silero VAD about 2-4 ms a row in batches of 256) a run takes some 40 minutes.
Threads matter on a loaded machine: the benchmark calls the model between numpy, sklearn and
captum work, in small batches (many of 1-8 rows), so torch's intra-op threads fall asleep
between calls and, when the CPUs are busy, wait to be scheduled again at every parallel region
(the VAD's LSTM steps are many small ones), while the replay's back-to-back calls keep them
awake. Under load (2 cores, load average 3-4), ``--quick`` measured 9.3× (time) and 2.6×
(STFT) with torch's 2 threads but 1.10× (time) and 1.53× (STFT) with ``--threads 1``.
For the STFT view the library's own work is splitting each δ (or each excerpt, for LIME's
inputs) into its parts per segment through the inverse STFT and summing the kept parts: the
parts are computed once per δ and kept (``svdlib.explain.segmentations.parts_cache``), and the
exhaustive search passes each row's pair to ``keep`` instead of repeating the pair's arrays;
that took the STFT ratio from 1.235× to 1.156× (2026-12-05, ``--excerpts 4 --repeats 3
--threads 1``; the time segments 1.118×). Compare on a quiet machine, and with
``--threads 1``; the replay varies by ±10 % from run to run on a shared VM, hence the repeats.
``--profile OUT`` also writes a cProfile of one benchmark run per segmentation (``OUT.<seg>``)
and prints its 25 largest cumulative entries. ``--json OUT`` writes the table as JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
from bench_explainers import load_avg, timed  # run as a script: bench/ is on the path

from svdlib import (
    StftSegmentation,
    TimeSegmentation,
    attack_excerpts,
    make_explainer,
    run_benchmark,
    threshold_rule,
)
from svdlib.errors import SvdError

CEILING = 1.2
LENGTH = 16384
EXPLAINERS = ("lime", "kernelshap", "occlusion", "integrated_gradients", "saliency",
              "gradient_x_input", "random")


def load_model() -> tuple[str, torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """``(name, logit module, probability function)``: Silero VAD, else a stand-in Conv1d."""
    try:
        from svdlib.pretrained.silero_vad import load_silero_vad
        vad = load_silero_vad()
        return "Silero VAD 6.2 (16 kHz)", vad, vad.probability
    except (ImportError, SvdError) as error:
        print(f"Silero VAD unavailable ({error}); a Conv1d with random weights stands in")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, LENGTH)), torch.nn.Conv1d(1, 16, 64, stride=16),
        torch.nn.ReLU(), torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
        torch.nn.Linear(16, 1), torch.nn.Flatten(0)).eval()
    with torch.no_grad():
        net[5].bias.fill_(-3.0)                 # noise is class 0; the attack finds class 1
    return "Conv1d stand-in (random weights)", net, lambda x: torch.sigmoid(net(x))


class Counted:
    """The model as the benchmark sees it, recording ``(kind, rows)`` for every call."""

    def __init__(self, probability: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.probability = probability
        self.calls: list[tuple[str, int]] = []
        self.forward_s = 0.0       # seconds inside the model's forward-only calls

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The explainers' probability function (keeps the gradient)."""
        backward = torch.is_grad_enabled() and x.requires_grad
        self.calls.append(("forward+backward" if backward else "forward", len(x)))
        if backward:
            return self.probability(x)
        started = time.perf_counter()
        out = self.probability(x)
        self.forward_s += time.perf_counter() - started
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``run_benchmark``'s predict: numpy in, numpy out, no gradient."""
        self.calls.append(("forward", len(x)))
        started = time.perf_counter()
        with torch.no_grad():
            out = self.probability(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        self.forward_s += time.perf_counter() - started
        return out


def replay(probability: Callable[[torch.Tensor], torch.Tensor], calls: list[tuple[str, int]],
           pool: torch.Tensor) -> None:
    """The recorded calls through the bare model, on noise, in the same batch sizes."""
    for kind, rows in calls:
        if kind == "forward":
            with torch.no_grad():
                probability(pool[:rows])
        else:
            x = pool[:rows].clone().requires_grad_()
            torch.autograd.grad(probability(x).sum(), x)


def planted_pairs(model: torch.nn.Module, probability: Callable, n: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise excerpts and their attacks to class 1; the pairs that reached the margin."""
    noise = np.random.default_rng(0).normal(0.0, 0.01, (n, LENGTH)).astype(np.float32)
    attack = attack_excerpts(model, noise, margin=0.1)
    keep = attack.reached
    print(f"attack: {int(keep.sum())} of {n} excerpts reached P > 0.6 in {attack.iterations} "
          f"iterations (P before {attack.orig_probs.max():.3f} at most), median SNR "
          f"{np.median(attack.snr_db[keep]) if keep.any() else float('nan'):.1f} dB")
    if not keep.any():
        raise SystemExit("no excerpt was flipped: nothing to benchmark")
    return noise[keep], attack.adversarial[keep], attack.snr_db[keep]


def explainers_for(counted: Counted, segmentation, samples: int, steps: int) -> dict:
    settings = {"lime": {"num_samples": samples}, "kernelshap": {"num_samples": samples},
                "integrated_gradients": {"n_steps": steps}}
    return {name: make_explainer(name, counted, segmentation, seed=0, device="cpu",
                                 **settings.get(name, {}))
            for name in EXPLAINERS}


def measure(name: str, segmentation, original: np.ndarray, adversarial: np.ndarray,
            counted: Counted, probability: Callable, args: argparse.Namespace) -> dict:
    """Benchmark and replay, alternating, ``args.repeats`` times; the paired ratios."""
    explainers = explainers_for(counted, segmentation, args.samples, args.ig_steps)

    def benchmark() -> None:
        counted.calls.clear()
        counted.forward_s = 0.0
        run_benchmark(original, adversarial, segmentation, counted.predict,
                      threshold_rule(1, 0.5), explainers, max_k=args.max_k)

    benchmark()                                          # warm-up, and the calls to replay
    calls = list(counted.calls)
    pool = torch.from_numpy(np.random.default_rng(1).normal(
        0.0, 0.01, (max(rows for _, rows in calls), LENGTH)).astype(np.float32))
    replay(probability, calls, pool)                     # warm-up
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(benchmark)
        out = f"{args.profile}.{name}"
        profiler.dump_stats(out)
        print(f"\ncProfile of one benchmark run ({name}), written to {out}:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    bench_s, model_s, inside_s = [], [], []
    for repeat in range(args.repeats):
        order = ("benchmark", "model") if repeat % 2 == 0 else ("model", "benchmark")
        for which in order:
            if which == "benchmark":
                bench_s.append(timed(benchmark))
                inside_s.append(counted.forward_s)
                if counted.calls != calls:
                    raise SystemExit(f"{name}: the benchmark's calls changed between runs")
            else:
                model_s.append(timed(lambda: replay(probability, calls, pool)))
    paired = [b / m for b, m in zip(bench_s, model_s, strict=True)]
    rows = Counter()
    for kind, n in calls:
        rows[kind] += n
    sizes = [n for _, n in calls]
    return {"segmentation": name, "segments": segmentation.n_components,
            "calls": len(calls), "rows": dict(rows), "batch_sizes": dict(Counter(sizes)),
            "batch_min": min(sizes), "batch_median": statistics.median(sizes),
            "batch_max": max(sizes), "benchmark_s": bench_s, "model_s": model_s,
            "forward_inside_s": inside_s,
            "paired_ratios": paired, "ratio": statistics.median(paired),
            "pass": statistics.median(paired) <= CEILING}


def print_table(results: list[dict]) -> None:
    print(f"\n| segmentation | segments | calls | rows forward | rows fwd+bwd | batch min / "
          f"median / max | benchmark s | bare model s | forward calls inside s | "
          f"paired ratios | ratio | check (<= {CEILING}) |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---|")
    for r in results:
        print(f"| {r['segmentation']} | {r['segments']} | {r['calls']} | "
              f"{r['rows'].get('forward', 0)} | {r['rows'].get('forward+backward', 0)} | "
              f"{r['batch_min']} / {r['batch_median']:g} / {r['batch_max']} | "
              f"{statistics.median(r['benchmark_s']):.2f} | "
              f"{statistics.median(r['model_s']):.2f} | "
              f"{statistics.median(r['forward_inside_s']):.2f} | "
              f"{' '.join(f'{v:.3f}' for v in r['paired_ratios'])} | {r['ratio']:.3f} | "
              f"{'PASS' if r['pass'] else 'FAIL'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--excerpts", type=int, default=None, help="attacked (default 8)")
    parser.add_argument("--samples", type=int, default=None, help="LIME, KernelSHAP (1024)")
    parser.add_argument("--ig-steps", type=int, default=None, help="integration steps (32)")
    parser.add_argument("--max-k", type=int, default=3, help="exhaustive search's largest k")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 4 excerpts, 64 samples, 8 steps, 1 repeat")
    parser.add_argument("--only", choices=("time", "stft"), default=None,
                        help="measure one segmentation only")
    parser.add_argument("--profile", default=None, metavar="OUT",
                        help="cProfile one benchmark run per segmentation to OUT.<seg>")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write results as JSON")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.excerpts = args.excerpts or (4 if args.quick else 8)
    args.samples = args.samples or (64 if args.quick else 1024)
    args.ig_steps = args.ig_steps or (8 if args.quick else 32)
    args.repeats = args.repeats or (1 if args.quick else 3)

    model_name, model, probability = load_model()
    print(f"{model_name}; torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"excerpts {args.excerpts}, samples {args.samples}, ig steps {args.ig_steps}, "
          f"max_k {args.max_k}, repeats {args.repeats}; load average before: {load_avg()}")
    original, adversarial, _ = planted_pairs(model, probability, args.excerpts)
    counted = Counted(probability)
    segmentations = {
        "time 8": TimeSegmentation(LENGTH, 8),
        "stft 5x4": StftSegmentation(LENGTH, n_time=5, n_freq=4, n_fft=512, hop_length=128)}
    results = [measure(name, seg, original, adversarial, counted, probability, args)
               for name, seg in segmentations.items()
               if args.only is None or name.startswith(args.only)]
    print_table(results)
    print(f"\nload average after: {load_avg()}")
    if args.json:
        record = {"model": model_name, "torch": torch.__version__,
                  "threads": torch.get_num_threads(), "settings": vars(args),
                  "pairs": len(original), "results": results}
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, default=str)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
