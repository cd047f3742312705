"""One LIME explanation of one excerpt on the full-size detector: batched vs the alternatives.

Run ``.venv/bin/python bench/bench_lime.py [--samples 8192] [--width 1.0]``. Every path is
timed once per repeat, the paths interleaved (the explanation between its two references, the
order reversed every other repeat), and the table shows the median (and the range) so that the
ratios compare runs made side by side under the same machine load; the checks take the median
of the per-repeat ratios of neighbouring runs:

* batched: LIME's one entry point, :class:`svdlib.explain.explainers.LimeExplainer`
  (``make_explainer("lime", ...)``), with the fast detector predict function (BatchNorm
  folded, channels-last, micro-batches): ``explanation(excerpt)``, the whole explanation the
  paper's pipeline stores (masks, composition, forward passes, distances, both Ridge fits);
* plain forward: ``net(x, preprocess=False)`` on the same number of pre-built excerpts in
  batches of 256 (no composition, no LIME); the target is batched / plain forward <= 1.2;
* fast forward: the fast predict function alone on the pre-built excerpts (so batched / fast
  forward is the overhead of composition and fitting); the target is <= 1.1 (LIME at the
  model's cost);
* per-sample: one forward pass per perturbed sample (audioLIME with ``batch_size=1``), with
  the plain module and with the fast one, timed on ``--subset`` samples and scaled linearly
  to ``--samples``;
* captum: ``captum.attr.Lime`` with the same 20-segment feature mask, mean baseline, the same
  kernel on the interpretable samples, ``Ridge(alpha=1)`` and ``perturbations_per_eval`` =
  the batch size, on the fast predict function (skipped if captum is not importable).

``--sweep`` also times forward-only throughput of the inference variants (plain batch sizes,
folded NCHW vs channels-last, micro-batch sizes, optionally ``torch.compile``).

``--device cuda`` runs every path on the GPU (timings synchronise the device; each path is
run once untimed first so cuDNN's autotuning stays out of the medians); ``--json OUT`` also
writes the table, the ratios and the detector's FLOPs per excerpt as JSON (bench/gpu.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from svdlib.audio.settings import FrontEndConfig
from svdlib.detector.model import build_model
from svdlib.detector.predictor import DetectorPredictor, FoldedDetector, detector_predict_fn
from svdlib.detector.settings import ModelConfig
from svdlib.devices import best_device
from svdlib.explain.explainers import LimeExplainer
from svdlib.explain.factorization import TimeFrequencyFactorization
from svdlib.explain.sampling import sample_masks
from svdlib.explain.segments import Segmentation

PLAIN_CEILING = 1.2   # × the detector's plain forward over the same inputs
FAST_CEILING = 1.1    # × the fast forward over the same inputs: LIME at the model's cost


def sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device | None = None) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def flops_per_excerpt(net: torch.nn.Module) -> float:
    """FLOPs of one 115-frame excerpt through the detector (torch's FLOP counter, on the CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    module = FoldedDetector(net.cpu().eval())
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        module(torch.zeros(1, 115, 80))
    return float(counter.get_total_flops())


def load_avg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def captum_runner(predict, excerpt: np.ndarray, samples: int, batch: int, seg: Segmentation,
                  kernel_width: float = 0.25) -> Callable[[], object] | None:
    try:
        from captum._utils.models.linear_model import SkLearnRidge
        from captum.attr import Lime
    except ImportError:
        return None
    device = getattr(predict, "device", "cpu")  # captum perturbs on the input's device
    x = torch.as_tensor(excerpt)[None].to(device)
    feature_mask = torch.as_tensor(seg.cell_ids())[None].to(device)
    baseline = float(excerpt.astype(np.float64).mean())
    n = seg.n_components

    def similarity(original, perturbed, interpretable, **kwargs):
        d = 1.0 - torch.sqrt(interpretable.float().sum() / n)
        return torch.exp(-(d ** 2) / (2 * kernel_width ** 2))

    lime = Lime(predict, interpretable_model=SkLearnRidge(alpha=1.0),
                similarity_func=similarity)

    def run():
        return lime.attribute(x, baselines=baseline, feature_mask=feature_mask,
                              n_samples=samples, perturbations_per_eval=batch,
                              return_input_shape=False)

    return run


def sweep(net: torch.nn.Module, repeats: int, n: int, try_compile: bool) -> None:
    x = torch.randn(n, 115, 80) * 2 - 3
    variants: dict[str, Callable[[torch.Tensor], object]] = {}
    with torch.inference_mode():
        for bs in (256, 64, 16):
            variants[f"plain module, batch {bs}"] = (
                lambda z, bs=bs: [net(c, preprocess=False) for c in z.split(bs)])
    for mb in (256, 64, 16, 8, 4):
        variants[f"folded + channels_last, micro {mb}"] = DetectorPredictor(
            net, device="cpu", micro_batch=mb)
    nchw = DetectorPredictor(net, device="cpu", micro_batch=8)
    nchw.module = FoldedDetector(net, channels_last=False)
    variants["folded NCHW, micro 8"] = nchw
    if try_compile:
        compiled = DetectorPredictor(net, device="cpu", micro_batch=8, compile=True)
        start = time.perf_counter()
        compiled(x[:8])
        print(f"torch.compile: first call (compilation) {time.perf_counter() - start:.1f} s")
        variants["folded + channels_last + compile, micro 8"] = compiled
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            with torch.inference_mode():
                rates[name].append(n / timed(lambda fn=fn: fn(x)))
    print(f"\nforward-only throughput, {n} excerpts, median of {repeats} (range)")
    for name, values in rates.items():
        print(f"  {name:45s} {statistics.median(values):7.1f} /s  "
              f"({min(values):.1f}-{max(values):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=8192, help="LIME neighbourhood size")
    parser.add_argument("--width", type=float, default=1.0, help="detector width (1 = paper)")
    parser.add_argument("--subset", type=int, default=512,
                        help="samples for the per-sample paths (scaled linearly)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="chunk size inside the fast predictor (default: its own)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-captum", action="store_true")
    parser.add_argument("--no-per-sample", action="store_true",
                        help="leave out the per-sample rows")
    parser.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write results as JSON")
    parser.add_argument("--sweep", action="store_true", help="also sweep inference variants")
    parser.add_argument("--compile", action="store_true", help="include torch.compile in sweep")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    net = build_model(ModelConfig(width=args.width), FrontEndConfig()).eval()
    flops = flops_per_excerpt(net)
    seg = Segmentation()
    excerpt = np.random.default_rng(0).normal(-3.0, 2.0, (115, 80)).astype(np.float32)
    fast = detector_predict_fn(net, device=best_device(args.device), micro_batch=args.micro_batch)
    on_gpu = fast.device.type == "cuda"
    plain = detector_predict_fn(net, device=fast.device, fast=False, micro_batch=0)
    samples, subset, batch = args.samples, min(args.subset, args.samples), args.batch_size
    inputs = TimeFrequencyFactorization(excerpt, seg).compose_batch(
        sample_masks(seg.n_components, samples, 0), device=fast.device)

    print(f"device {fast.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"width {args.width}, samples {samples}, batch {batch}, "
          f"micro-batch {fast.micro_batch}, load average before: {load_avg()}")

    def plain_forward():
        with torch.inference_mode():
            for chunk in inputs.split(batch):
                net.to(fast.device)(chunk, preprocess=False)

    def fast_forward():
        for chunk in inputs.split(batch):
            fast(chunk)

    def lime(model, num_samples: int, **settings) -> Callable[[], object]:
        explainer = LimeExplainer(model, seg, seed=0, num_samples=num_samples, **settings)
        return lambda: explainer.explanation(excerpt)

    per_sample = {} if args.no_per_sample else {
        "per-sample explanation, plain module": (
            lime(plain, subset, per_sample=True), samples / subset),
        "per-sample explanation, fast module": (
            lime(fast, subset, per_sample=True), samples / subset),
    }

    plain_key = f"plain forward only, batch {batch}"
    paths: dict[str, tuple[Callable[[], object], float]] = {
        "fast forward only": (fast_forward, 1.0),
        "batched explanation (ours)": (lime(fast, samples, batch_size=batch), 1.0),
        plain_key: (plain_forward, 1.0),
        **per_sample,
    }
    captum_note = None
    if not args.no_captum:
        run = captum_runner(fast, excerpt, samples, batch, seg)
        if run is None:
            captum_note = "captum is not importable: skipping its row"
            print(captum_note)
        else:
            paths["captum Lime (same mask, same predictor)"] = (run, 1.0)
    lime(fast, batch)()  # warm up
    if on_gpu:  # cuDNN autotunes each new shape once: keep that out of the timings
        for fn, _ in paths.values():
            fn()
    print()
    times: dict[str, list[float]] = {k: [] for k in paths}
    for repeat in range(args.repeats):
        order = list(paths) if repeat % 2 == 0 else list(paths)[::-1]
        for name in order:
            fn, scale = paths[name]
            times[name].append(timed(fn, fast.device) * scale)

    ours = statistics.median(times["batched explanation (ours)"])
    print(f"\nseconds for one explanation of {samples} samples, median of {args.repeats} "
          f"(range); per-sample rows timed on {subset} samples and scaled x{samples / subset:g}")
    print(f"| {'path':44s} | {'median s':>9s} | {'range s':>15s} | {'samples/s':>9s} "
          f"| {'÷ ours':>7s} |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 17}|{'-' * 11}|{'-' * 9}|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name:44s} | {med:9.2f} | {min(values):6.2f} - {max(values):6.2f} "
              f"| {samples / med:9.1f} | {med / ours:7.2f} |")
    ratios: dict[str, dict[str, float]] = {}
    for label, pick in (("medians", statistics.median), ("minima (least disturbed)", min)):
        t = {name: pick(values) for name, values in times.items()}
        mine = t["batched explanation (ours)"]
        ratios[label] = {"explanation / plain forward": mine / t[plain_key],
                         "explanation / fast forward": mine / t["fast forward only"]}
        line = (f"explanation / plain forward = {mine / t[plain_key]:.2f} "
                f"(target <= 1.2), / fast forward = {mine / t['fast forward only']:.2f}")
        if per_sample:
            plain_ratio = t["per-sample explanation, plain module"] / mine
            fast_ratio = t["per-sample explanation, fast module"] / mine
            ratios[label].update({"per-sample plain / ours": plain_ratio,
                                  "per-sample fast / ours": fast_ratio})
            line += (f"; per-sample plain / ours = {plain_ratio:.2f}, per-sample fast / ours "
                     f"= {fast_ratio:.2f}")
        captum_key = "captum Lime (same mask, same predictor)"
        if captum_key in t:
            ratios[label]["captum / ours"] = t[captum_key] / mine
            line += f", captum / ours = {t[captum_key] / mine:.2f}"
        print(f"ratios of {label}: {line}")
    checks = {}
    print()
    mine = times["batched explanation (ours)"]
    for (name, ceiling), ref in zip((("explanation / plain forward", PLAIN_CEILING),
                                     ("explanation / fast forward", FAST_CEILING)),
                                    (plain_key, "fast forward only"), strict=True):
        paired = [a / b for a, b in zip(mine, times[ref], strict=True)]
        ratio = statistics.median(paired)
        checks[name] = {"paired_ratios": paired, "ratio": ratio, "ceiling": ceiling,
                        "pass": ratio <= ceiling}
        print(f"check {name}: {ratio:.2f}, the median of the paired ratios "
              f"{' '.join(f'{r:.2f}' for r in paired)} (needs <= {ceiling}): "
              f"{'PASS' if ratio <= ceiling else 'FAIL'}")
    print(f"\nload average after: {load_avg()}")
    if args.json:
        record = {
            "device": str(fast.device),
            "device_name": torch.cuda.get_device_name(fast.device) if on_gpu else "cpu",
            "torch": torch.__version__, "threads": torch.get_num_threads(), "width": args.width,
            "samples": samples, "subset": subset, "batch": batch, "micro_batch": fast.micro_batch,
            "repeats": args.repeats, "flops_per_excerpt": flops,
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "captum_note": captum_note,
            "paths": {name: {"seconds": values, "median_s": statistics.median(values),
                             "samples_per_s": samples / statistics.median(values),
                             "scaled_from": subset if name in per_sample else samples}
                      for name, values in times.items()},
            "ratios": ratios, "checks": checks}
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)
        print(f"wrote {args.json}")
    if args.sweep:
        sweep(net, args.repeats, 256, args.compile)


if __name__ == "__main__":
    main()
